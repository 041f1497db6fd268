"""Run real libpam in a forked child and report what it returned.

Used by the stack tests to compare the simulator with the library. libpam is called through
plain ctypes here (the test side only); every run happens in a forked child because some
configurations (an include loop, an include with no name) crash libpam itself.
"""

from __future__ import annotations

import ctypes
import faulthandler
import json
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PAM_PRELIM_CHECK = 0x4000


class _Message(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class _Response(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_char_p), ("resp_retcode", ctypes.c_int)]


_CONV_FUNC = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(_Message)),
    ctypes.POINTER(ctypes.POINTER(_Response)),
    ctypes.c_void_p,
)


class _Conv(ctypes.Structure):
    _fields_ = [("conv", _CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


@dataclass(frozen=True)
class RealResult:
    """``start`` is pam_start's code (None when libpam crashed before it returned)."""

    start: int | None
    calls: tuple[int, ...]
    crash: str | None = None


def _child(service: str, confdir: Path, ops: Sequence[tuple[str, int]], user: str) -> dict:
    lib = ctypes.CDLL("libpam.so.0")
    libc = ctypes.CDLL(None)
    libc.calloc.restype = ctypes.c_void_p
    libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]

    def answer_nothing(n, _msgs, resp, _data):  # type: ignore[no-untyped-def]
        resp[0] = ctypes.cast(libc.calloc(max(n, 1), ctypes.sizeof(_Response)),
                              ctypes.POINTER(_Response))
        return 0

    conv_cb = _CONV_FUNC(answer_nothing)
    conv = _Conv(conv_cb, None)
    handle = ctypes.c_void_p()
    lib.pam_start_confdir.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Conv),
                                      ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    code = lib.pam_start_confdir(service.encode(), user.encode(), ctypes.byref(conv),
                                 str(confdir).encode(), ctypes.byref(handle))
    out: dict = {"start": code, "calls": []}
    if code != 0:
        return out
    for name, flags in ops:
        func = getattr(lib, name)
        func.argtypes = [ctypes.c_void_p, ctypes.c_int]
        out["calls"].append(func(handle, flags))
    lib.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.pam_end(handle, 0)
    return out


def run_real(
    service: str, confdir: Path, ops: Sequence[tuple[str, int]], user: str = "nobody"
) -> RealResult:
    """pam_start_confdir + ``ops`` (``("pam_authenticate", 0)``, ...) + pam_end in a child."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            faulthandler.disable()  # libpam may crash on purpose here; no dump into pytest
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
