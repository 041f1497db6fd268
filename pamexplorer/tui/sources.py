"""Where services come from: the system's PAM directories, a confdir, the bundled lab.

The names come from ``stack.list_services``, the one lister the CLI and the runner use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The lab's Quick start user (``alice``/``wonderland``): lab services start as her.
LAB_USER = "alice"


@dataclass(frozen=True)
class ServiceGroup:
    """A heading in the picker and the services under it."""

    key: str  # "system", "confdir", "lab"
    title: str
    services: tuple[str, ...]
    confdir: Path | None  # None: the system's own lookup (pam_start)


def system_group() -> ServiceGroup:
    from pamexplorer.stack import Paths, list_services

    paths = Paths()
    dirs = " ".join(d for d in (paths.pam_d, paths.dist_d) if Path(d).is_dir())
    names = tuple(name for name, _ in list_services(None))
    return ServiceGroup("system", f"system {dirs}".strip(), names, None)


def confdir_group(confdir: Path) -> ServiceGroup:
    from pamexplorer.stack import list_services

    names = tuple(name for name, _ in list_services(str(confdir)))
    return ServiceGroup("confdir", f"confdir {confdir}", names, confdir)


def lab_group() -> ServiceGroup:
    from pamexplorer.lab import LabError, lab_services

    try:
        names = lab_services()
    except LabError:
        names = []
    return ServiceGroup("lab", f"lab (sandbox, user {LAB_USER})", tuple(names), None)
