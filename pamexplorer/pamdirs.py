"""Where libpam looks for service files, and which services exist there.

A directory listing only: no parser, resolver or simulator is imported, so a front end can list
services before its first screen without loading the stack layer (``pamexplorer.stack`` imports
all of it). :mod:`pamexplorer.stack.resolve` re-exports ``Paths``, ``SYSTEM``,
``SYSTEM_PAM_DIRS`` and ``list_services``: its callers keep working and both answer from this
one lister.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Paths:
    """Where libpam looks. Defaults are Debian 12's; tests may point them elsewhere."""

    pam_d: str = "/etc/pam.d"
    dist_d: str = "/usr/lib/pam.d"
    pam_conf: str = "/etc/pam.conf"
    module_dirs: tuple[str, ...] = ("/lib/x86_64-linux-gnu/security", "/lib/security")

    @property
    def service_dirs(self) -> tuple[str, str]:
        """The directories pam_start reads services from, in order."""
        return (self.pam_d, self.dist_d)


#: This system's paths: the one place the front ends learn where ``/etc/pam.d`` is.
SYSTEM = Paths()
SYSTEM_PAM_DIRS = SYSTEM.service_dirs


def listable(name: str) -> bool:
    """Whether a file name is listed as a service."""
    # pam_start lowercases the service name, so a file with capitals is never a service;
    # hidden files are left out of lists (libpam could still start them by name)
    return not name.startswith(".") and name == name.lower()


def list_services(confdir: str | None = None, paths: Paths = SYSTEM) -> list[tuple[str, str]]:
    """(service, file) for every service libpam could start, sorted by name.

    The one answer to "which services exist" for the CLI, the picker and the runner: regular
    files of the confdir, else of ``/etc/pam.d`` then ``/usr/lib/pam.d`` (the first wins),
    else the services ``/etc/pam.conf`` names when neither directory exists."""
    found: dict[str, str] = {}
    dirs = [confdir] if confdir else list(paths.service_dirs)
    if confdir or any(os.path.isdir(d) for d in dirs):
        for d in dirs:
            try:
                names = os.listdir(d)
            except (OSError, ValueError):
                continue
            for name in names:
                full = os.path.join(d, name)
                if name not in found and listable(name) and os.path.isfile(full):
                    found[name] = full
    else:
        found = dict.fromkeys(pam_conf_services(paths.pam_conf), paths.pam_conf)
    return sorted(found.items())


def pam_conf_services(pam_conf: str) -> list[str]:
    """The services ``/etc/pam.conf`` names (its lines' first fields, lowercased as libpam
    reads them), read and tokenized as the resolver reads it."""
    from pamexplorer.stack.parse import tokenize
    from pamexplorer.stack.resolve import read_service_file

    assembled = read_service_file(pam_conf)
    names: list[str] = []
    for line in assembled.lines if assembled else ():
        tokens = tokenize(line.text)
        if tokens and tokens[0].lower() not in names:
            names.append(tokens[0].lower())
    return names
