"""Rows for the stack view, from the stack layer's resolved stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pamexplorer.pam.codes import MODULE_TYPES

if TYPE_CHECKING:
    from pamexplorer.stack.model import Rule


@dataclass(frozen=True)
class StackRow:
    type: str
    control: str
    module: str
    args: tuple[str, ...]
    where: str  # file:line, relative to the confdir when inside it
    depth: int = 0
    mark: str = ""  # "include X" / "substack X" origin marks
    status: str = ""  # "" when the module is fine, else e.g. "missing"
    status_ok: bool = True


def lab_root(confdir: Path | None) -> str | None:
    """The materialized lab's directory (shown as the lab's templates write it)."""
    from pamexplorer.lab import lab_root as root_of

    return root_of(confdir)


def shown_arg(arg: str, confdir: Path | None) -> str:
    from pamexplorer.lab import shown_lab_text

    return shown_lab_text(arg, confdir)


def short_path(path: str | Path, confdir: Path | None) -> str:
    """``sshd`` for a file in the confdir (no temporary paths on screen); else the full path."""
    from pamexplorer.stack.resolve import SYSTEM_PAM_DIRS

    p = Path(path)
    for base in (confdir, *map(Path, SYSTEM_PAM_DIRS)):
        if base is None:
            continue
        try:
            return str(p.relative_to(base))
        except ValueError:
            pass
    return str(p)


def load_stack_rows(service: str, confdir: Path | None) -> tuple[list[StackRow], str | None]:
    """The rows of ``service``'s resolved stack (per type, as libpam dispatches it: the
    service's own rules, else ``other``'s), and a line saying what pam_start would do if it
    would not succeed."""
    from pamexplorer.stack.resolve import resolve

    stack = resolve(service, str(confdir) if confdir is not None else None)
    rows: list[StackRow] = []
    for module_type in MODULE_TYPES:
        own = stack.own_chain(module_type)
        chain = own or stack.other_chain(module_type)
        for rule in chain:
            rows.append(rule_row(rule, confdir, from_other=not own))
    problem = None
    if stack.start.code != 0 or stack.start.crash:
        what = stack.start.crash or f"pam_start would return {stack.start.code}"
        problem = f"{what}: {stack.start.reason}" if stack.start.reason else what
    for finding in stack.findings:
        if finding.severity == "error":
            where = f"{short_path(finding.file, confdir)}:{finding.line}"
            extra = f"{where}: {finding.message}"
            problem = f"{problem}\n{extra}" if problem else extra
    return rows, problem


def rule_row(rule: Rule, confdir: Path | None, from_other: bool) -> StackRow:
    mark = ""
    if rule.origin:
        include = rule.origin[-1]
        where = f"{short_path(include.file, confdir)}:{include.line}"
        mark = f"{include.kind} {shown_arg(include.target, confdir)} ({where})"
    if from_other:
        mark = f"from other{', ' + mark if mark else ''}"
    if rule.kind == "substack":
        module = rule.module
    elif rule.kind == "always_fail":
        module = rule.module or "(no module)"
    else:
        module = rule.module
    status = rule.status
    if rule.kind == "always_fail" and rule.fail_reason:
        status = f"always fails: {rule.fail_reason}"
    ok = status in ("found", "substack")
    return StackRow(
        type=rule.type,
        control=rule.control,
        module=shown_arg(module, confdir),
        args=tuple(shown_arg(a, confdir) for a in rule.args),
        where=f"{short_path(rule.file, confdir)}:{rule.line}",
        depth=rule.level,
        mark=mark,
        status="" if ok else status,
        status_ok=ok,
    )
