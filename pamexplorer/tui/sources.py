"""Where services come from: the system's PAM directories, a confdir, the bundled lab."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SYSTEM_DIRS = (Path("/etc/pam.d"), Path("/usr/lib/pam.d"))


@dataclass(frozen=True)
class ServiceGroup:
    """A heading in the picker and the services under it."""

    key: str  # "system", "confdir", "lab"
    title: str
    services: tuple[str, ...]
    confdir: Path | None  # None: the system's own lookup (pam_start)


def _names(directory: Path) -> list[str]:
    try:
        return sorted(
            p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
        )
    except OSError:
        return []


def system_group() -> ServiceGroup:
    seen: dict[str, None] = {}
    for directory in SYSTEM_DIRS:
        for name in _names(directory):
            seen.setdefault(name)
    title = "system " + " ".join(str(d) for d in SYSTEM_DIRS if d.is_dir())
    return ServiceGroup("system", title, tuple(sorted(seen)), None)


def confdir_group(confdir: Path) -> ServiceGroup:
    return ServiceGroup("confdir", f"confdir {confdir}", tuple(_names(confdir)), confdir)


def lab_group() -> ServiceGroup:
    from pamexplorer.labsetup import LabError, lab_services

    try:
        names = lab_services()
    except LabError:
        names = []
    return ServiceGroup("lab", "lab (sandbox)", tuple(names), None)
