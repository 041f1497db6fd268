"""One PAM transaction, in this process: ``pam_start`` ... ``pam_end``, one method per call.

Front ends never use this directly: the engine runs it in a child process, because a module may
crash, hang, exit or change the process. Tests and the benchmark use it in-process.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from pamexplorer.pam import libpam
from pamexplorer.pam.bridge import DELAY_CALLBACK, ConversationBridge
from pamexplorer.pam.calls import NamedCalls
from pamexplorer.pam.codes import (
    SETTABLE_ITEMS,
    STRING_ITEMS,
    Code,
    Function,
    Item,
    code_name,
    item_by_name,
)
from pamexplorer.pam.conversation import Conversation, NoConversation
from pamexplorer.pam.records import CallRecord

#: (item number, short name) of the readable string items, computed once.
_STRING_ITEM_KEYS = tuple((int(i), i.short) for i in STRING_ITEMS)


class TransactionError(Exception):
    """Misuse of a transaction: a call after ``pam_end``, an unknown item name."""


class Snapshot(dict[str, Any]):
    """Items or PAM environment as they were right after a call, read only if someone looks.

    Reading them costs more than a fast libpam call, and most records are dropped unread (the
    benchmark, a soak). A snapshot reads on first use, or, if it is still referenced, when its
    transaction is about to change (next call, set_item, putenv, pam_end): the contract "items
    and env after the call" holds either way. Copies (``dict(s)``, ``copy``, pickling) are
    plain dicts.
    """

    __slots__ = ("__weakref__", "_load")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._load: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def pending(cls, load: Callable[[], dict[str, Any]]) -> Snapshot:
        snapshot = cls()
        snapshot._load = load
        return snapshot

    def fill(self) -> None:
        load = self._load
        if load is not None:
            self._load = None
            dict.update(self, load())

    def _filled(self) -> dict[str, Any]:
        self.fill()
        return self

    def __getitem__(self, key: str) -> Any:
        return dict.__getitem__(self._filled(), key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self._filled(), key)

    def __iter__(self) -> Iterator[str]:
        return dict.__iter__(self._filled())

    def __reversed__(self) -> Iterator[str]:
        return dict.__reversed__(self._filled())

    def __len__(self) -> int:
        return dict.__len__(self._filled())

    def __repr__(self) -> str:
        return dict.__repr__(self._filled())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Snapshot):
            other.fill()
        return dict.__eq__(self._filled(), other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __or__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        return dict(self._filled().items()) | dict(other)

    def __ror__(self, other: Any) -> dict[str, Any]:  # type: ignore[override]
        return dict(other) | dict(self._filled().items())

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self.items()),))

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return self.__reduce__()

    def __copy__(self) -> dict[str, Any]:
        return dict(self.items())

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self._filled(), key, default)

    def keys(self) -> Any:
        return dict.keys(self._filled())

    def values(self) -> Any:
        return dict.values(self._filled())

    def items(self) -> Any:
        return dict.items(self._filled())

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self._filled(), key, value)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self._filled(), key)

    def pop(self, key: str, *default: Any) -> Any:
        return dict.pop(self._filled(), key, *default)

    def popitem(self) -> tuple[str, Any]:
        return dict.popitem(self._filled())

    def setdefault(self, key: str, default: Any = None) -> Any:
        return dict.setdefault(self._filled(), key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        dict.update(self._filled(), *args, **kwargs)

    def clear(self) -> None:
        self._load = None
        dict.clear(self)


def make_record(
    function: str,
    flags: int,
    code: int,
    duration_ns: int,
    **details: Any,
) -> CallRecord:
    """A :class:`CallRecord` whose name and text come from the code table."""
    text = libpam.strerror(code)  # live, so a record always says what this libpam says
    return CallRecord(function, flags, code, code_name(code), text, duration_ns / 1e6, **details)


class Transaction(NamedCalls[CallRecord]):
    """``Transaction(service, user, confdir=None, conversation=..., items=..., env=...)``.

    ``items`` maps item names (``tty``, ``rhost``, ``ruser``, ``xdisplay``, ``user_prompt``,
    ``authtok_type``, ``user``) to values, set right after ``pam_start``; ``env`` holds PAM
    environment variables put the same way.
    """

    def __init__(
        self,
        service: str,
        user: str | None,
        confdir: str | None = None,
        conversation: Conversation | None = None,
        items: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.service = service
        self.user = user
        self.confdir = confdir
        self.items = {self._settable(k): v for k, v in (items or {}).items()}
        self.env = dict(env or {})
        self._bridge = ConversationBridge(conversation or NoConversation())
        self._conv = self._bridge.pam_conv()
        self._handle = libpam.PamHandle()
        self._last_code = int(Code.PAM_SUCCESS)
        self._pending: tuple[weakref.ref[Snapshot], ...] = ()
        self.started = False
        self.ended = False

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> CallRecord:
        if self.started:
            raise TransactionError("pam_start was already called in this transaction")
        self.started = True
        # Names from argv or a file may hold bytes that are not UTF-8 (kept as surrogates):
        # libpam gets the bytes as given, as a C program would pass them.
        service = os.fsencode(self.service)
        user = os.fsencode(self.user) if self.user is not None else None
        began = time.perf_counter_ns()
        if self.confdir is None:
            code = libpam.lib.pam_start(service, user, self._conv, self._handle)
        else:
            code = libpam.lib.pam_start_confdir(
                service, user, self._conv, os.fsencode(self.confdir), self._handle
            )
        elapsed = time.perf_counter_ns() - began
        code = int(code)
        self._last_code = code
        if code != Code.PAM_SUCCESS:
            self.ended = True  # libpam freed the handle itself
            return make_record("pam_start", 0, code, elapsed)
        try:
            self._set_item_raw(Item.PAM_FAIL_DELAY, DELAY_CALLBACK)
            for item, value in self.items.items():
                self.set_item(item, value)
            for name, value in self.env.items():
                self.putenv(f"{name}={value}")
        except BaseException:
            self.end()  # the handle exists: release it before reporting the error
            raise
        items, env = self._snapshots()
        return make_record("pam_start", 0, code, elapsed, items=items, env=env)

    def end(self) -> CallRecord:
        """``pam_end`` with the last call's code; a second call is a no-op record."""
        if not self.started or self.ended:
            return make_record("pam_end", 0, int(Code.PAM_SUCCESS), 0)
        self._settle()
        began = time.perf_counter_ns()
        code = int(libpam.lib.pam_end(self._handle, self._last_code))
        self.ended = True
        return make_record("pam_end", 0, code, time.perf_counter_ns() - began)

    def __enter__(self) -> Transaction:
        if not self.started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end()

    # -- the six stack calls --------------------------------------------------------------------
    def call(self, function: Function, flags: int = 0) -> CallRecord:
        name = function.value
        self._require_open(name)
        self._settle()
        self._bridge.reset()
        # libpam keeps the base of the last requested delay and passes it to the delay
        # callback on every later authenticate/chauthtok, asked for or not. Requesting 1 us
        # first replaces that base (pam_fail_delay overwrites it when no request is pending),
        # so a reported delay above 1 us is one a module asked for during this call.
        libpam.lib.pam_fail_delay(self._handle, 1)
        began = time.perf_counter_ns()
        code = libpam.lib.call(name, self._handle, flags)
        elapsed = time.perf_counter_ns() - began - self._bridge.waited_ns
        self._last_code = code
        items, env = self._snapshots()
        return make_record(
            name,
            flags,
            code,
            max(elapsed, 0),
            messages=tuple(self._bridge.exchanges),
            items=items,
            env=env,
            fail_delay_us=self._reported_delay(),
        )

    # -- items and environment ------------------------------------------------------------------
    def set_item(self, item: Item | str, value: str) -> int:
        key = self._settable(item)
        self._require_open("pam_set_item")
        self._settle()
        return self._set_item_raw(key, value.encode("utf-8"))

    def get_item(self, item: Item | str) -> str | None:
        key = item if isinstance(item, Item) else self._item(item)
        if key not in STRING_ITEMS:
            raise TransactionError(f"item {key.short!r} is not readable as text")
        self._require_open("pam_get_item")
        return libpam.get_string_item(self._handle, key)[1]

    def read_items(self) -> dict[str, str | None]:
        return libpam.get_string_items(self._handle, _STRING_ITEM_KEYS)

    def putenv(self, entry: str) -> int:
        """``pam_putenv("NAME=value")``; ``"NAME"`` alone deletes the variable."""
        self._require_open("pam_putenv")
        self._settle()
        return int(libpam.lib.pam_putenv(self._handle, entry.encode("utf-8")))

    def getenv(self) -> dict[str, str]:
        return libpam.getenvlist(self._handle)

    # -- internals ------------------------------------------------------------------------------
    def _snapshots(self) -> tuple[Snapshot, Snapshot]:
        """Items and environment as they are now, read when first looked at (see Snapshot)."""
        items = Snapshot.pending(self.read_items)
        env = Snapshot.pending(self.getenv)
        self._pending = (weakref.ref(items), weakref.ref(env))
        return items, env

    def _settle(self) -> None:
        """Read the last record's snapshots now if anyone still holds them: state changes next."""
        for ref in self._pending:
            snapshot = ref()
            if snapshot is not None:
                snapshot.fill()
        self._pending = ()

    def _set_item_raw(self, item: Item, value: Any) -> int:
        # ctypes passes bytes and callback objects as void * directly (libpam copies strings).
        return int(libpam.lib.pam_set_item(self._handle, int(item), value))

    def _reported_delay(self) -> int | None:
        delay = self._bridge.fail_delay_us
        return delay if delay is not None and delay > 1 else None  # 1 us is our placeholder

    def _require_open(self, what: str) -> None:
        if not self.started:
            raise TransactionError(f"{what} before pam_start")
        if self.ended:
            raise TransactionError(f"{what} after pam_end")

    @classmethod
    def _settable(cls, item: Item | str) -> Item:
        key = item if isinstance(item, Item) else cls._item(item)
        if key not in SETTABLE_ITEMS:
            raise TransactionError(f"item {key.short!r} cannot be set here")
        return key

    @staticmethod
    def _item(name: str) -> Item:
        try:
            return item_by_name(name)
        except KeyError:
            raise TransactionError(f"unknown item {name!r}") from None
