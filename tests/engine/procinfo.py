"""Reading /proc for the process tests: who runs, in which group, and waiting for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    return text.rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned zombie waits on PID 1, which may never reap)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def parent(pid: int) -> int | None:
    fields = _stat(pid)
    return None if fields is None else int(fields[1])


def group_members(pgid: int) -> list[int]:
    """Running processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent(int(entry.name)) == pid and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def read_text(path: Path, seconds: float = 10.0) -> str:
    """What a module wrote to ``path`` (a marker its cleanup writes at pam_end), once there."""
    if not wait_until(lambda: path.exists() and bool(path.read_text()), seconds):
        raise AssertionError(f"{path} never appeared: pam_end did not run")
    return path.read_text()


def read_pid(path: Path, seconds: float = 20.0) -> int:
    if not wait_until(lambda: path.exists(), seconds):
        raise AssertionError(f"{path} never appeared")
    return int(path.read_text())
