"""Rows for the stack view, from the stack layer's resolved stack."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


LAB_MARK = "@LAB@"


def lab_root(confdir: Path | None) -> str | None:
    """The materialized lab's directory, shown as ``@LAB@`` (as the lab's templates write it)."""
    if confdir is not None and confdir.parent.name.startswith("pamexplorer-lab-"):
        return str(confdir.parent)
    return None


def shown_arg(arg: str, confdir: Path | None) -> str:
    root = lab_root(confdir)
    return arg.replace(root, LAB_MARK) if root else arg


def short_path(path: str | Path, confdir: Path | None) -> str:
    """``sshd`` for a file in the confdir (no temporary paths on screen); else the full path."""
    p = Path(path)
    if confdir is not None:
        try:
            return str(p.relative_to(confdir))
        except ValueError:
            pass
    return str(p)


def load_stack_rows(service: str, confdir: Path | None) -> tuple[list[StackRow], str | None]:
    """The rows of ``service``'s resolved stack, and an error line if it cannot be read."""
    base = confdir if confdir is not None else Path("/etc/pam.d")
    path = base / service
    if not path.exists() and confdir is None:
        path = Path("/usr/lib/pam.d") / service
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as err:
        return [], f"{short_path(path, confdir)}: {err.strerror or err}"
    rows: list[StackRow] = []
    for number, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        kind = words[0].lstrip("-").lower()
        rows.append(
            StackRow(
                type=kind,
                control=words[1],
                module=words[2] if len(words) > 2 else "",
                args=tuple(shown_arg(a, confdir) for a in words[3:]),
                where=f"{short_path(path, confdir)}:{number}",
            )
        )
    return rows, None
