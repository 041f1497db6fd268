"""Where services come from: the system's PAM directories, a confdir, the bundled lab."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pamexplorer.stack.resolve import SYSTEM_PAM_DIRS, list_services

SYSTEM_DIRS = tuple(Path(d) for d in SYSTEM_PAM_DIRS)


@dataclass(frozen=True)
class ServiceGroup:
    """A heading in the picker and the services under it."""

    key: str  # "system", "confdir", "lab"
    title: str
    services: tuple[str, ...]
    confdir: Path | None  # None: the system's own lookup (pam_start)


def system_group() -> ServiceGroup:
    names = tuple(name for name, _ in list_services())
    title = "system " + " ".join(str(d) for d in SYSTEM_DIRS if d.is_dir())
    return ServiceGroup("system", title, names, None)


def confdir_group(confdir: Path) -> ServiceGroup:
    names = tuple(name for name, _ in list_services(str(confdir)))
    return ServiceGroup("confdir", f"confdir {confdir}", names, confdir)


def lab_group() -> ServiceGroup:
    from pamexplorer.lab import LabError, lab_services

    try:
        names = lab_services()
    except LabError:
        names = []
    return ServiceGroup("lab", "lab (sandbox)", tuple(names), None)
