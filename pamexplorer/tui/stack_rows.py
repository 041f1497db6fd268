"""Rows for the stack view, from the stack layer's resolved stack.

Designed for 80 columns first: a rule is one line, ``line control module args``, the file named
once (the type heading, or the include line that brought its rules in), a bracket control
shortened to what it does most (``succ→4``: on success the dispatch jumps to line 4) with the
whole rule in the detail pane. Text from service files is escaped (:func:`render.shown_line`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pamexplorer.lab import shown_lab_text
from pamexplorer.pam.codes import MODULE_TYPES
from pamexplorer.pamdirs import SYSTEM_PAM_DIRS
from pamexplorer.tui.render import shown_line

if TYPE_CHECKING:
    from pamexplorer.pam.records import ModuleCall, Trace
    from pamexplorer.stack.model import Rule

KEYWORDS = ("required", "requisite", "sufficient", "optional", "include", "substack")
#: The control column's width; ``sufficient`` is the longest keyword.
CONTROL_WIDTH = 10
_SHORT_KEYS = {"success": "succ", "default": "def", "new_authtok_reqd": "newtok"}
_SYSTEM_DIRS = tuple(map(Path, SYSTEM_PAM_DIRS))


@dataclass(frozen=True)
class Jump:
    """One ``name=N`` of a bracket control and the rule it lands on (``None``: the end)."""

    on: str
    skip: int
    lands: str | None  # "4" (same file) or "common-auth:17"; None: past the last rule


@dataclass(frozen=True)
class StackRow:
    type: str
    type_token: str  # "auth" or "-auth" (a missing module is skipped silently)
    control: str  # as written
    module: str
    args: tuple[str, ...]
    file: str  # short: relative to the confdir or /etc/pam.d
    line: int
    depth: int = 0  # substack level
    mark: str = ""  # "include X" / "substack X" origin marks
    included: bool = False  # the rule came in through an include or substack
    status: str = ""  # "" when the module is fine, else e.g. "missing"
    status_ok: bool = True
    jumps: tuple[Jump, ...] = ()
    from_other: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def quiet(self) -> bool:
        return self.type_token.startswith("-")

    @property
    def short_control(self) -> str:
        """What fits the control column: the keyword, or the bracket's jump (``succ→4``), or
        the bracket cut with ``…``; the detail pane has the rule as written."""
        control = self.control
        if control.lower() in KEYWORDS:
            return control.lower()
        for jump in self.jumps:
            key = _SHORT_KEYS.get(jump.on, jump.on)
            short = f"{key}→{jump.lands or 'end'}"
            if len(short) <= CONTROL_WIDTH:
                return short
        return control if len(control) <= CONTROL_WIDTH else control[: CONTROL_WIDTH - 1] + "…"

    @property
    def rule_text(self) -> str:
        """The rule as written: ``-auth [success=1 default=ignore] pam_unix.so nullok``."""
        return " ".join((self.type_token, self.control, self.module, *self.args))


def shown_arg(arg: str, confdir: Path | None) -> str:
    return shown_line(shown_lab_text(arg, confdir))


def short_path(path: str | Path, confdir: Path | None) -> str:
    """``sshd`` for a file in the confdir (no temporary paths on screen); else the full path."""
    p = Path(path)
    for base in (confdir, *_SYSTEM_DIRS):
        if base is None:
            continue
        try:
            return shown_line(str(p.relative_to(base)))
        except ValueError:
            pass
    return shown_line(str(p))


def load_stack_rows(service: str, confdir: Path | None) -> tuple[list[StackRow], str | None]:
    """The rows of ``service``'s resolved stack (per type, as libpam dispatches it: the
    service's own rules, else ``other``'s), and a line saying what pam_start would do if it
    would not succeed. Reads files: call it from a thread worker, never on the event loop."""
    from pamexplorer.stack.resolve import resolve

    stack = resolve(service, str(confdir) if confdir is not None else None)
    rows: list[StackRow] = []
    for module_type in MODULE_TYPES:
        own = stack.own_chain(module_type)
        chain = own or stack.other_chain(module_type)
        for index, rule in enumerate(chain):
            rows.append(rule_row(rule, chain, index, confdir, from_other=not own))
    problem = None
    if stack.start.code != 0 or stack.start.crash:
        what = stack.start.crash or f"pam_start would return {stack.start.code}"
        problem = f"{what}: {stack.start.reason}" if stack.start.reason else what
    for finding in stack.findings:
        if finding.severity == "error":
            where = f"{short_path(finding.file, confdir)}:{finding.line}"
            extra = f"{where}: {shown_line(finding.message)}"
            problem = f"{problem}\n{extra}" if problem else extra
    return rows, shown_line(problem).replace("\\n", "\n") if problem else None


def landing(chain: tuple[Rule, ...], index: int, skip: int) -> Rule | None:
    """The rule a jump of ``skip`` from ``chain[index]`` lands on: libpam skips that many
    rules of the same (sub)stack; ``None`` when the jump runs past its end."""
    level = chain[index].level
    left = skip
    for rule in chain[index + 1 :]:
        if rule.level < level:
            return None
        if rule.level > level:
            continue
        if left == 0:
            return rule
        left -= 1
    return None


def jumps_of(rule: Rule, chain: tuple[Rule, ...], index: int, confdir: Path | None) -> list[Jump]:
    from pamexplorer.stack.model import TOKEN_RETURNS

    if not rule.control.startswith("["):
        return []
    jumps: list[Jump] = []
    seen: set[int] = set()
    # success first, then default, then the rest in code order: the ones a reader asks about.
    order = [0, len(TOKEN_RETURNS) - 1, *range(1, len(TOKEN_RETURNS) - 1)]
    written = rule.control.strip("[]").split()
    named = {pair.partition("=")[0].lower() for pair in written}
    for code in order:
        if code >= len(rule.actions) and code != len(TOKEN_RETURNS) - 1:
            continue
        name = TOKEN_RETURNS[code]
        if name not in named:
            continue
        action = rule.actions[code] if code < len(rule.actions) else 0
        if name == "default":
            pair = next((p for p in written if p.lower().startswith("default=")), "")
            value = pair.partition("=")[2]
            action = int(value) if value.isdigit() else 0
        if action <= 0 or (action in seen and name == "default"):
            continue
        seen.add(action)
        target = landing(chain, index, action)
        lands = None
        if target is not None:
            lands = (
                str(target.line)
                if target.file == rule.file
                else f"{short_path(target.file, confdir)}:{target.line}"
            )
        jumps.append(Jump(name, action, lands))
    return jumps


def rule_row(
    rule: Rule, chain: tuple[Rule, ...], index: int, confdir: Path | None, from_other: bool
) -> StackRow:
    mark = ""
    if rule.origin:
        include = rule.origin[-1]
        where = f"{short_path(include.file, confdir)}:{include.line}"
        mark = f"{include.kind} {shown_arg(include.target, confdir)} ({where})"
    module = rule.module
    if rule.kind == "always_fail":
        module = rule.module or "(no module)"
    status = rule.status
    if rule.kind == "always_fail" and rule.fail_reason:
        status = f"always fails: {rule.fail_reason}"
    ok = status in ("found", "substack")
    if not ok and rule.type_token.startswith("-") and status == "MISSING":
        status = "missing: skipped, - prefix"
    return StackRow(
        type=rule.type,
        type_token=shown_line(rule.type_token),
        control=shown_line(rule.control),
        module=shown_arg(module, confdir),
        args=tuple(shown_arg(a, confdir) for a in rule.args),
        file=short_path(rule.file, confdir),
        line=rule.line,
        depth=rule.level,
        mark=mark,
        included=bool(rule.origin),
        status="" if ok else shown_line(status),
        status_ok=ok,
        jumps=tuple(jumps_of(rule, chain, index, confdir)),
        from_other=from_other,
    )


# -- the selected call's trace on the rows ------------------------------------------------------


@dataclass(frozen=True)
class RowTrace:
    """What one rule did in the traced call: its entries (two for pam_chauthtok's passes),
    whether it decided the call's code."""

    function: str
    entries: tuple[ModuleCall, ...]
    decided: bool = False

    @property
    def last(self) -> ModuleCall:
        """The entry the row shows: the last pass that ran, else the last entry."""
        ran = [e for e in self.entries if e.ran]
        return ran[-1] if ran else self.entries[-1]

    @property
    def ran(self) -> bool:
        return any(e.ran for e in self.entries)


def _rule_key(module_type: str, file: str, line: int) -> tuple[str, str, int]:
    return (module_type, file.rsplit("/", 1)[-1], line)


def trace_rows(rows: Sequence[StackRow], function: str, trace: Trace) -> dict[int, RowTrace]:
    """Row index -> what its rule did in the traced call (rules matched by type, file name and
    line; a rule reached twice, as a file included twice, takes its entries in order)."""
    by_key: dict[tuple[str, str, int], list[tuple[int, ModuleCall]]] = {}
    for index, entry in enumerate(trace.modules):
        by_key.setdefault(_rule_key(entry.type, entry.file, entry.line), []).append((index, entry))
    found: dict[int, RowTrace] = {}
    for number, row in enumerate(rows):
        entries = by_key.get(_rule_key(row.type, row.file, row.line))
        if not entries:
            continue
        found[number] = RowTrace(
            function,
            tuple(e for _, e in entries),
            decided=trace.decided_by in {i for i, _ in entries},
        )
    return found


def action_text(entry: ModuleCall, row: StackRow) -> str:
    """``die``, ``ignore``, ``jump→23`` (the line the jump lands on, as the control column
    writes it), ``jump→end``."""
    action = entry.action
    head, _, count = action.partition(" ")
    if head == "jump" and count.isdigit():
        skip = int(count)
        lands = next((j.lands for j in row.jumps if j.skip == skip), None)
        if lands is None and not any(j.skip == skip for j in row.jumps):
            return f"jump+{skip}"
        return f"jump→{lands or 'end'}"
    return shown_line(action) if action else "-"


def outcome_text(entry: ModuleCall, row: StackRow) -> str:
    """``7 die``: the code the module returned and the action libpam took."""
    if not entry.ran:
        return "not run"
    if entry.code is None:
        return f"never returned ({shown_line(entry.action or 'crashed')})"
    return f"{entry.code} {action_text(entry, row)}"
