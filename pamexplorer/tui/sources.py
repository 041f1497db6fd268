"""Where services come from: the system's PAM directories, a confdir, the bundled lab.

The names come from ``pamdirs.list_services``, the one lister the CLI and the runner use too
(``stack.list_services`` is the same function): a directory listing that does not import the
resolver, so the picker lists services without loading the stack layer before its first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pamexplorer.pamdirs import SYSTEM_PAM_DIRS, list_services

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
    dirs = " ".join(d for d in SYSTEM_PAM_DIRS if Path(d).is_dir())
    names = tuple(name for name, _ in list_services(None))
    return ServiceGroup("system", f"system {dirs}".strip(), names, None)


def confdir_group(confdir: Path) -> ServiceGroup:
    names = tuple(name for name, _ in list_services(str(confdir)))
    return ServiceGroup("confdir", f"confdir {confdir}", names, confdir)


def lab_group() -> ServiceGroup:
    from pamexplorer.lab import LabError, lab_services

    try:
        names = lab_services()
    except LabError:
        names = []
    return ServiceGroup("lab", f"lab (sandbox, user {LAB_USER})", tuple(names), None)
