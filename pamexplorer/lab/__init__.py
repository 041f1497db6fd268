"""The bundled lab: its data (this package's files) materialized into a private temporary
directory.

Service files need absolute paths (``include`` targets, ``accessfile=``, the password checker),
so the lab ships templates holding ``@LAB@`` and is copied, with the placeholder replaced, into
a fresh directory of mode 0700 that is removed afterwards. ``pamexplorer --lab`` and profiles
with ``config: lab`` both go through :func:`lab_confdir`. The temporary directory's prefix and the
``@LAB@`` marker are known here only: front ends show lab paths through :func:`shown_lab_text`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Where the lab's data lives: this package's directory.
LAB_SOURCE = Path(__file__).resolve().parent
#: The placeholder replaced by the materialized lab directory in every lab file.
PLACEHOLDER = "@LAB@"
#: Files the lab runs as programs (pam_exec); every other file is data.
EXECUTABLES = frozenset({"checkpass"})
#: Files of this package that are not lab data.
_SKIP = frozenset({"README.md", "__pycache__", "__init__.py"})
#: The prefix of every materialized lab directory.
TEMP_PREFIX = "pamexplorer-lab-"


class LabError(Exception):
    """The bundled lab is missing or cannot be materialized."""


def lab_services() -> list[str]:
    """Names of the lab's services (the files of ``lab/pam.d``), ``other`` included, sorted."""
    from pamexplorer.pamdirs import list_services

    pamd = LAB_SOURCE / "pam.d"
    if not pamd.is_dir():
        raise LabError(f"{pamd}: the bundled lab is missing")
    return [name for name, _ in list_services(str(pamd))]


def lab_root(confdir: str | Path | None) -> str | None:
    """The materialized lab directory ``confdir`` belongs to, or None when it is not a lab."""
    if confdir is None:
        return None
    parent = Path(confdir).parent
    return str(parent) if parent.name.startswith(TEMP_PREFIX) else None


def shown_lab_text(text: str, confdir: str | Path | None) -> str:
    """``text`` with the materialized lab's directory shown as ``@LAB@`` (as the lab's
    templates write it), when ``confdir`` is a lab."""
    root = lab_root(confdir)
    return text.replace(root, PLACEHOLDER) if root else text


def lab_users() -> dict[str, str]:
    """The lab users and their passwords (lab data, not secrets: they exist only for lessons)."""
    users: dict[str, str] = {}
    for line in (LAB_SOURCE / "users").read_text().splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, password = line.partition(":")
        users[name] = password
    return users


def _private_tempdir() -> Path:
    # Module arguments are split on whitespace, so the lab path must not contain any.
    base: str | None = None
    probe = tempfile.gettempdir()
    if any(ch.isspace() or ch in "[]#" for ch in probe):
        base = "/tmp"
    path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=base))  # mode 0700
    os.chmod(path, 0o700)
    return path


def materialize(dest: Path) -> Path:
    """Copy the lab into ``dest`` (which must exist), replacing the placeholder.

    Returns the confdir to hand to ``pam_start_confdir`` (``dest/pam.d``).
    """
    if not (LAB_SOURCE / "pam.d").is_dir():
        raise LabError(f"{LAB_SOURCE}: the bundled lab is missing")
    root = str(dest)
    for source in sorted(LAB_SOURCE.rglob("*")):
        rel = source.relative_to(LAB_SOURCE)
        if any(part in _SKIP for part in rel.parts):
            continue
        target = dest / rel
        if source.is_dir():
            target.mkdir(mode=0o700, exist_ok=True)
            continue
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = source.read_text().replace(PLACEHOLDER, root)
        mode = 0o700 if rel.name in EXECUTABLES else 0o600
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(target, mode)
    return dest / "pam.d"


@contextmanager
def lab_confdir() -> Iterator[Path]:
    """``with lab_confdir() as confdir:`` -> the lab's service directory, removed afterwards."""
    root = _private_tempdir()
    try:
        yield materialize(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def inline_confdir(services: dict[str, str]) -> Iterator[Path]:
    """Service files given as text (a profile's ``config`` mapping) in a private temp dir.

    The placeholder ``@LAB@`` is not special here: inline files are used verbatim.
    """
    root = _private_tempdir()
    try:
        confdir = root / "pam.d"
        confdir.mkdir(mode=0o700)
        for name, text in services.items():
            fd = os.open(confdir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text if text.endswith("\n") or not text else text + "\n")
        yield confdir
    finally:
        shutil.rmtree(root, ignore_errors=True)
