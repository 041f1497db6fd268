"""The trace shim on the engine child's side (ctypes): load it, record and take events.

:func:`load` loads ``engine/trace/_pamtrace.so`` into a process that has libpam and patches
libpam's GOT (see ``pamtrace.c``); it returns None when the shim cannot be used, and
:func:`unavailable_reason` says why. :class:`TracedTransaction` is a :class:`Transaction` whose
records carry a :class:`~pamexplorer.pam.records.Trace` (tests and benchmarks use it in their
own process). In an engine child (:func:`child_transaction`) the shim also writes the raw
events to the front end's flight recorder (a memfd) as they happen, so a crash or a hang still
leaves the trace up to it; a child of the fork server leaves the assembly to the front end
(``engine.trace.collect``).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pamexplorer.engine.protocol import Frame
from pamexplorer.engine.trace.build import NO_COMPILER, SHIM
from pamexplorer.engine.trace.events import parse_untrusted
from pamexplorer.pam import libpam
from pamexplorer.pam.codes import Function
from pamexplorer.pam.conversation import Conversation, ConversationAborted, NoConversation
from pamexplorer.pam.records import CallRecord, Message
from pamexplorer.pam.secrets import Secrets
from pamexplorer.pam.transaction import Transaction

if TYPE_CHECKING:
    from pamexplorer.engine.trace.assemble import TraceBuilder


class Shim:
    """The loaded shim's C API."""

    def __init__(self, path: str) -> None:
        dll = ctypes.CDLL(path)
        self.install = dll.pt_install
        self.install.restype = ctypes.c_int
        self.install.argtypes = []
        self._begin = dll.pt_begin
        self._begin.argtypes = [ctypes.c_int]
        self._begin.restype = None
        self._end = dll.pt_end
        self._end.argtypes = [ctypes.POINTER(ctypes.c_size_t)]
        self._end.restype = ctypes.c_void_p
        self._conversation = dll.pt_conversation
        self._conversation.argtypes = [ctypes.c_int, ctypes.c_longlong]
        self._conversation.restype = None
        self.flush = dll.pt_flush
        self.flush.restype = None
        self.flush.argtypes = []
        self._release = dll.pt_release
        self._release.argtypes = [ctypes.c_int]
        self._release.restype = None
        self._size = ctypes.c_size_t()
        self._size_ref = ctypes.byref(self._size)

    def begin(self, recorder: int = -1) -> None:
        """Record until :meth:`end`, writing a copy of the events to the descriptor
        ``recorder`` as they happen (-1: none)."""
        self._begin(recorder)

    def end(self) -> bytes:
        """Stop recording; every event of the call (see ``events.parse_untrusted``)."""
        address = self._end(self._size_ref)
        size = self._size.value
        return ctypes.string_at(address, size) if size else b""

    def conversation(self, count: int, waited_ns: int) -> None:
        self._conversation(count, waited_ns)

    def release(self, slots: Sequence[int]) -> None:
        for slot in slots:
            self._release(slot)


_shim: Shim | None = None
_reason = ""


def load() -> Shim | None:
    """The shim, loaded and installed in this process (once); None when unavailable."""
    global _shim, _reason
    if _shim is not None or _reason:
        return _shim
    if not os.path.exists(SHIM):
        _reason = NO_COMPILER
        return None
    libpam.lib.dll  # noqa: B018 - libpam must be loaded before its GOT can be patched
    try:
        shim = Shim(SHIM)
    except OSError as err:
        _reason = f"the trace shim does not load: {err}"
        return None
    installed = shim.install()
    if installed <= 0:
        _reason = f"the trace shim found nothing to patch in libpam (code {installed})"
        return None
    _shim = shim
    return shim


def unavailable_reason() -> str:
    """Why :func:`load` returns None ("" when it does not)."""
    load()
    return _reason


class MarkingConversation:
    """Tells the shim how many messages each conversation carried, so the front end can give
    every message to the module invocation that asked."""

    def __init__(self, inner: Conversation, shim: Shim) -> None:
        self.inner = inner
        self.shim = shim
        self.secrets = Secrets()

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        began = time.perf_counter_ns()
        try:
            answers = self.inner.respond(messages)
        except ConversationAborted:
            self.shim.conversation(len(messages), time.perf_counter_ns() - began)
            raise
        self.shim.conversation(len(messages), time.perf_counter_ns() - began)
        self.secrets.learn(messages, answers)
        return answers


class TracedTransaction(Transaction):
    """A :class:`Transaction` whose records carry a trace (``record.trace``).

    ``recorder`` (an engine child's): a descriptor the shim writes a copy of the raw events to
    as they happen (the front end's flight recorder), so that the front end still has the
    trace up to a crash or a hang (``engine.trace.collect``); the events of each call are
    read by the front end from there (without one they go with the record:
    :meth:`record_events`). ``assemble`` False: leave the records without a trace, the front
    end assembles it from those events (a long-lived front end has the stack layer loaded and
    its files cached; a forked child would pay for both every time).
    """

    def __init__(
        self,
        service: str,
        user: str | None,
        confdir: str | None = None,
        conversation: Conversation | None = None,
        items: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        recorder: int = -1,
        assemble: bool = True,
    ) -> None:
        self.shim = load()
        inner: Conversation = conversation or NoConversation()
        self.marking: MarkingConversation | None = None
        if self.shim is not None:
            inner = self.marking = MarkingConversation(inner, self.shim)
        super().__init__(service, user, confdir, inner, items, env)
        self.recorder = recorder
        self.builder: TraceBuilder | None = None
        if assemble:
            # imported here: a child that leaves the assembly to the front end never loads
            # the stack layer
            from pamexplorer.engine.trace.assemble import TraceBuilder

            self.builder = TraceBuilder.for_service(service, confdir, unavailable_reason())
        self._slots: list[int] = []
        #: The last call's events for the front end (see :meth:`record_events`).
        self._events = b""

    @property
    def unavailable(self) -> str:
        """Why there is no trace ("" when there is one)."""
        return "" if self.shim is not None else unavailable_reason()

    def record_events(self) -> str:
        """The last call's events the front end has no other way to get, sent with its record:
        JSON arrays, comma-separated (all ASCII: the shim escapes every other byte). Only
        without a flight recorder: all of them when the front end assembles the trace, else
        pam_start's (the lookups it maps slots to rules with, should a later call crash)."""
        events, self._events = self._events, b""
        return events.rstrip(b",").decode("ascii")

    def _traced(self, run: Any, *args: Any) -> CallRecord:
        shim = self.shim
        if shim is None:
            record: CallRecord = run(*args)
            return self._attach(record, b"")
        if self.builder is None and self.recorder >= 0:
            # An engine child whose front end assembles: record from pam_start on, every
            # event in the flight recorder as it happens; nothing to do per call.
            if self.started:
                record = run(*args)
                return record
            shim.begin(self.recorder)
            try:
                record = run(*args)
            finally:
                shim.flush()  # pam_start's lookups; from now on the shim keeps nothing
            return record
        # The shim records only while a traced call runs, and every traced call ends it.
        shim.begin(self.recorder)
        try:
            record = run(*args)
        finally:
            events = shim.end()
        if self.recorder < 0 and (self.builder is None or record.function == "pam_start"):
            self._events = events
        return self._attach(record, events)

    def _attach(self, record: CallRecord, raw: bytes) -> CallRecord:
        if self.builder is None:  # the front end assembles; this child exits after pam_end
            return record
        # the shim's own buffer, but in a process whose modules can write anywhere in it
        events, _ = parse_untrusted(raw.decode("ascii", "replace"))
        # Slots handed out during this transaction: at pam_start, and to transactions its
        # modules ran inside their calls. Their handles are gone once ours is.
        self._slots.extend(e.slot for e in events.lookups if e.slot >= 0)
        if record.function == "pam_end" or (record.function == "pam_start" and record.code):
            self._release()
        trace = self.builder.add(record, events)
        if self.marking is not None:
            trace = self.marking.secrets.scrub_trace(trace)
        # The record was made a moment ago and nobody else holds it yet: set its trace in
        # place (dataclasses.replace costs more than a fast libpam call).
        object.__setattr__(record, "trace", trace)
        return record

    def _release(self) -> None:
        if self.shim is not None:
            self.shim.release(self._slots)
        self._slots = []

    def start(self) -> CallRecord:
        return self._traced(super().start)

    def call(self, function: Function, flags: int = 0) -> CallRecord:
        return self._traced(super().call, function, flags)

    def end(self) -> CallRecord:
        if not self.started or self.ended:
            return super().end()
        return self._traced(super().end)


def child_transaction(request: Frame, conversation: Conversation, recorder: int) -> Transaction:
    """The transaction an engine child runs for a ``start`` request: traced, with the raw
    events written to the descriptor ``recorder`` as they happen, unless the request says
    ``"trace": false``; the records carry their trace unless it says ``"assemble": false``."""
    args = (request["service"], request.get("user"), request.get("confdir"))
    items = request.get("items") or {}
    env = request.get("env") or {}
    if request.get("trace", True) is False:
        return Transaction(*args, conversation, items, env)
    assemble = bool(request.get("assemble", True))
    return TracedTransaction(*args, conversation, items, env, recorder, assemble)
