"""ctypes bindings to the installed libpam.

From python-pam (``pam.__internals``) we reuse the structures and the callback type, exactly as
libpam lays them out: ``PamHandle`` (a ``pam_handle_t *``), ``PamMessage``, ``PamResponse``,
``PamConv`` and ``conv_func``. python-pam binds ``pam_start``, ``pam_authenticate``,
``pam_acct_mgmt``, ``pam_open_session``, ``pam_close_session``, ``pam_set_item``, ``pam_putenv``,
``pam_getenv``, ``pam_getenvlist`` (without freeing the list) and ``pam_strerror`` on a class.
We bind every function ourselves with full ``argtypes`` here and add what it lacks:
``pam_start_confdir``, ``pam_get_item``, ``pam_setcred`` and ``pam_chauthtok`` with flags,
``pam_getenvlist`` with the list and its strings freed exactly once, and the
``PAM_FAIL_DELAY`` callback type so a requested delay is reported instead of slept.
python-pam 2.x offers these structures only in ``pam.__internals`` (its public names are the
``PAM_`` constants, which a test checks against our table), so pyproject pins ``>=2.0,<3``.

Memory rules: libpam frees the response array and each response string a conversation hands
back, so both are allocated with libc ``calloc``. What ``pam_getenvlist`` returns is ours and is
freed here, once. ``pam_get_item`` returns libpam's own memory, which we only read.
"""

from __future__ import annotations

import ctypes
from ctypes import CFUNCTYPE, POINTER, byref, c_char_p, c_int, c_size_t, c_uint, c_void_p
from typing import Any

from pam.__internals import PamConv, PamHandle, PamMessage, PamResponse, conv_func

from pamexplorer.pam.codes import Function

__all__ = [
    "DelayFunc",
    "PamConv",
    "PamHandle",
    "PamMessage",
    "PamResponse",
    "conv_func",
    "getenvlist",
    "lib",
    "libc",
    "strerror",
]

#: ``void (*delay_fn)(int retval, unsigned usec_delay, void *appdata_ptr)`` for PAM_FAIL_DELAY.
DelayFunc = CFUNCTYPE(None, c_int, c_uint, c_void_p)

_HANDLE_P = POINTER(PamHandle)


class _LibPam:
    """The libpam functions we call, each with argtypes and restype."""

    def __init__(self) -> None:
        # RTLD_GLOBAL, as for an application linked with -lpam: modules built without
        # DT_NEEDED on libpam resolve pam_get_item & co. against it, as they would in sshd.
        self.dll = ctypes.CDLL("libpam.so.0", mode=ctypes.RTLD_GLOBAL, use_errno=True)
        self.pam_start = self._bind("pam_start", [c_char_p, c_char_p, POINTER(PamConv), _HANDLE_P])
        self.pam_start_confdir = self._bind(
            "pam_start_confdir", [c_char_p, c_char_p, POINTER(PamConv), c_char_p, _HANDLE_P]
        )
        self.pam_end = self._bind("pam_end", [PamHandle, c_int])
        #: The six functions a module stack answers, by name: ``pam_authenticate``, ...
        self.stack_calls: dict[str, Any] = {
            function.value: self._bind(function.value, [PamHandle, c_int]) for function in Function
        }
        self.pam_set_item = self._bind("pam_set_item", [PamHandle, c_int, c_void_p])
        self.pam_get_item = self._bind("pam_get_item", [PamHandle, c_int, POINTER(c_void_p)])
        self.pam_putenv = self._bind("pam_putenv", [PamHandle, c_char_p])
        self.pam_fail_delay = self._bind("pam_fail_delay", [PamHandle, c_uint])
        self.pam_getenvlist = self._bind("pam_getenvlist", [PamHandle], POINTER(c_void_p))
        # pam_strerror ignores its handle in 1.5.2, so codes can be named with none open.
        self.pam_strerror = self._bind("pam_strerror", [c_void_p, c_int], c_char_p)

    def _bind(self, name: str, argtypes: list[Any], restype: Any = c_int) -> Any:
        func = getattr(self.dll, name)
        func.argtypes = argtypes
        func.restype = restype
        return func

    def call(self, function: str, handle: PamHandle, flags: int) -> int:
        """Run one of the six stack functions by its libpam name."""
        return int(self.stack_calls[function](handle, flags))


class _LibC:
    def __init__(self) -> None:
        dll = ctypes.CDLL(None)
        self.calloc = dll.calloc
        self.calloc.argtypes = [c_size_t, c_size_t]
        self.calloc.restype = c_void_p
        self.free = dll.free
        self.free.argtypes = [c_void_p]
        self.free.restype = None
        self.fflush = dll.fflush
        self.fflush.argtypes = [c_void_p]
        self.fflush.restype = c_int

    def strdup(self, data: bytes) -> int:
        """A NUL-terminated copy of ``data`` in ``calloc`` memory (libpam frees it)."""
        addr = self.calloc(len(data) + 1, 1)
        if not addr:
            raise MemoryError("calloc failed")
        ctypes.memmove(addr, data, len(data))
        return int(addr)


lib = _LibPam()
libc = _LibC()


def getenvlist(handle: PamHandle) -> dict[str, str]:
    """The PAM environment as a dict; the array and every string in it freed once."""
    array = lib.pam_getenvlist(handle)
    env: dict[str, str] = {}
    if not array:
        return env
    index = 0
    while array[index]:
        addr = array[index]
        entry = ctypes.string_at(addr).decode("utf-8", "replace")
        name, _, value = entry.partition("=")
        env[name] = value
        libc.free(addr)
        index += 1
    libc.free(ctypes.cast(array, c_void_p))
    return env


def get_string_item(handle: PamHandle, item: int) -> tuple[int, str | None]:
    """``pam_get_item`` for a string item: (code, value or None). libpam owns the memory."""
    out = c_void_p()
    code = int(lib.pam_get_item(handle, item, byref(out)))
    if code != 0 or not out.value:
        return code, None
    return code, ctypes.string_at(out.value).decode("utf-8", "replace")


def get_string_items(
    handle: PamHandle, items: tuple[tuple[int, str], ...]
) -> dict[str, str | None]:
    """Several string items at once: ``{name: value or None}`` (the hot path of every call)."""
    get_item = lib.pam_get_item
    out = c_void_p()
    ref = byref(out)
    values: dict[str, str | None] = {}
    for item, name in items:
        out.value = None
        if get_item(handle, item, ref) == 0 and out.value:
            values[name] = ctypes.string_at(out.value).decode("utf-8", "replace")
        else:
            values[name] = None
    return values


def strerror(code: int) -> str:
    """The live ``pam_strerror`` text (libpam 1.5.2 ignores the handle argument)."""
    raw = lib.pam_strerror(None, int(code))
    return raw.decode("utf-8", "replace") if raw else ""


def flush_stdio() -> None:
    """``fflush(NULL)``: push what modules printf'd into the pipes before a call's result."""
    libc.fflush(None)
