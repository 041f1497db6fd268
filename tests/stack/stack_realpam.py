"""Run real libpam in a forked child and report what it returned.

Used by the stack tests to compare the simulator with the library, through
``pamexplorer.pam.transaction.Transaction``. Every run happens in a forked child because some
configurations (an include loop, an include with no name) crash libpam itself.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pamexplorer.pam.codes import Function
from pamexplorer.pam.transaction import Transaction


@dataclass(frozen=True)
class RealResult:
    """``start`` is pam_start's code (None when libpam crashed before it returned)."""

    start: int | None
    calls: tuple[int, ...]
    crash: str | None = None


def _child(service: str, confdir: Path, ops: Sequence[tuple[str, int]], user: str) -> dict:
    transaction = Transaction(service, user, confdir=str(confdir))
    started = transaction.start()
    out: dict = {"start": started.code, "calls": []}
    if started.code != 0:
        return out
    for name, flags in ops:
        out["calls"].append(transaction.call(Function(name), flags).code)
    transaction.end()
    return out


def run_real(
    service: str,
    confdir: Path,
    ops: Sequence[tuple[str, int]],
    user: str = "nobody",
    timeout: int = 0,
) -> RealResult:
    """pam_start_confdir + ``ops`` (``("pam_authenticate", 0)``, ...) + pam_end in a child.
    ``timeout``: seconds after which the child is killed (``crash == "SIGALRM"``: libpam hung).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            faulthandler.disable()  # libpam may crash on purpose here; no dump into pytest
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(timeout)
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            data = json.dumps(_child(service, confdir, ops, user)).encode()
            os.write(write_fd, data)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return RealResult(None, (), crash=signal.Signals(os.WTERMSIG(status)).name)
    data = json.loads(b"".join(chunks) or b"{}")
    if "start" not in data:
        return RealResult(None, (), crash=f"exit {os.WEXITSTATUS(status)}")
    return RealResult(data["start"], tuple(data["calls"]))
