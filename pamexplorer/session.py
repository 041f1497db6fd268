"""One live PAM transaction, front-end neutral: every face and the profile runner drive this.

A :class:`PamSession` owns the lifecycle the faces used to manage each on their own: starting
the engine child and ``pam_start``, one request at a time (a call, ``pam_set_item``,
``pam_putenv``), prompts answered by the face's conversation, abort of a call in flight, and
``pam_end`` on close. It knows nothing of Textual or ipywidgets: a face subscribes to its
events (records, prompts, crashes, state changes) and renders them.

It runs on asyncio (the engine's asyncio client runs each libpam call in a worker thread, so
the event loop never waits on a module). A blocking caller runs it with ``asyncio.run`` (the
profile runner) or on a loop thread of its own (the notebook's blocking API).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar, cast

from pamexplorer.engine import EngineCrashed, EngineError
from pamexplorer.engine.aio import AsyncConversation, AsyncEngine, AsyncSession
from pamexplorer.pam.codes import Function
from pamexplorer.pam.conversation import Conversation, NoConversation
from pamexplorer.pam.records import CallRecord, Message

T = TypeVar("T")


class SessionState(enum.Enum):
    """Where a transaction is; faces enable their keys and buttons from it."""

    NEW = "new"  # before pam_start
    STARTING = "starting"  # pam_start in flight
    IDLE = "idle"  # ready for the next request
    IN_CALL = "in call"  # a libpam call (or set_item/putenv) is running in the child
    WAITING = "waiting for an answer"  # a module's prompt waits for the face
    ENDED = "ended"  # pam_end ran, or pam_start failed (libpam released the handle)
    CRASHED = "crashed"  # the child died, timed out or was aborted

    @property
    def busy(self) -> bool:
        return self in (SessionState.STARTING, SessionState.IN_CALL, SessionState.WAITING)

    @property
    def over(self) -> bool:
        return self in (SessionState.ENDED, SessionState.CRASHED)


class SessionBusy(EngineError):
    """A request while another is in flight: one request per session at a time."""


@dataclass(frozen=True)
class StateChanged:
    state: SessionState
    in_flight: str | None = None  # the libpam function running, when busy


@dataclass(frozen=True)
class RecordReceived:
    record: CallRecord


@dataclass(frozen=True)
class MessagesShown:
    """Messages a module sent during a call (info, errors and prompts), as they arrive."""

    function: str
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Crashed:
    crash: EngineCrashed
    output: tuple[str, ...] = ()  # module output that came before the crash


@dataclass(frozen=True)
class RequestRefused:
    """The child refused a request (a bad item name, say); the session stays usable."""

    during: str
    message: str


SessionEvent = StateChanged | RecordReceived | MessagesShown | Crashed | RequestRefused
#: A face's callback, called on the event loop for every event (it must not block).
Listener = Callable[[SessionEvent], object]


class BlockingAsAsync:
    """An async conversation over a blocking one (a script, a terminal): the profile runner."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        return list(self.conversation.respond(messages))


@dataclass
class _SessionConversation:
    """Wraps the face's conversation: reports messages and the waiting state, and lets an
    abort cancel a prompt the face still shows."""

    session: PamSession
    inner: AsyncConversation
    pending: set[asyncio.Task[list[str | None]]] = field(default_factory=set)

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        session = self.session
        function = session.in_flight or "?"
        session._emit(MessagesShown(function, tuple(messages)))
        prompting = any(m.style.is_prompt for m in messages)
        if prompting:
            session._set_state(SessionState.WAITING)
        task = asyncio.ensure_future(self.inner.respond(messages))
        self.pending.add(task)
        try:
            return await task
        finally:
            self.pending.discard(task)
            if prompting and session.state is SessionState.WAITING:
                session._set_state(SessionState.IN_CALL)

    def cancel(self) -> None:
        for task in list(self.pending):
            task.cancel()
        cancel = getattr(self.inner, "cancel", None)
        if callable(cancel):
            cancel()


_shared_engine: AsyncEngine | None = None


def shared_engine() -> AsyncEngine:
    """The engine faces share (children come from one fork server per process)."""
    global _shared_engine
    if _shared_engine is None:
        _shared_engine = AsyncEngine()
    return _shared_engine


class PamSession:
    """``PamSession(service, user, confdir=..., items=..., env=..., conversation=...)``.

    ``await start()``, then ``await call(Function.AUTHENTICATE)`` and friends, each returning the
    :class:`CallRecord`; ``abort()`` kills a call in flight; ``await close()`` ends the
    transaction on any path (``pam_end`` when idle, a kill when a call is in flight). Errors
    are raised to the caller *and* reported as events, so a face may use either.
    """

    def __init__(
        self,
        service: str,
        user: str | None,
        *,
        confdir: str | None = None,
        items: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        conversation: AsyncConversation | Conversation | None = None,
        timeout: float | None = None,
        engine: AsyncEngine | None = None,
        on_event: Listener | None = None,
    ) -> None:
        self.service = service
        self.user = user
        self.confdir = confdir
        self.items = dict(items or {})
        self.env = dict(env or {})
        self.timeout = timeout
        self.engine = engine or shared_engine()
        self.records: list[CallRecord] = []
        self.crash: EngineCrashed | None = None
        self.crash_output: tuple[str, ...] = ()  # module output that came before the crash
        self.in_flight: str | None = None
        self._state = SessionState.NEW
        self._listeners: list[Listener] = [on_event] if on_event is not None else []
        self._session: AsyncSession | None = None
        self._conversation = _SessionConversation(self, _as_async(conversation))

    # -- observing ------------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def pid(self) -> int | None:
        return None if self._session is None else self._session.pid

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _set_state(self, state: SessionState) -> None:
        if state is not self._state:
            self._state = state
            self._emit(StateChanged(state, self.in_flight if state.busy else None))

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> CallRecord:
        """Spawn the engine child and run ``pam_start`` (items and environment set after)."""
        if self._state is not SessionState.NEW:
            raise EngineError("pam_start was already called in this session")
        self.in_flight = "pam_start"
        self._set_state(SessionState.STARTING)
        try:
            session = await self.engine.start(
                self.service,
                self.user,
                self.confdir,
                items=self.items,
                env=self.env,
                conversation=self._conversation,
                timeout=self.timeout,
            )
        except EngineCrashed as err:
            self._crashed(err, ())
            raise
        except BaseException:
            self.in_flight = None
            self._set_state(SessionState.ENDED)
            raise
        self._session = session
        record = session.start_record
        assert record is not None  # the engine's start always sets it
        self.in_flight = None
        self._received(record)
        self._set_state(SessionState.IDLE if session.open else SessionState.ENDED)
        return record

    async def call(self, function: Function, flags: int = 0) -> CallRecord:
        """One stack call: ``pam_authenticate``, ``pam_acct_mgmt``, ..."""
        session = self._begin(function.value)
        return await self._run_record(session.call(function, flags), function.value)

    async def set_item(self, item: str, value: str) -> int:
        session = self._begin("pam_set_item")
        return await self._run(session.set_item(item, value), "pam_set_item")

    async def get_item(self, item: str) -> str | None:
        session = self._begin("pam_get_item")
        return await self._run(session.get_item(item), "pam_get_item")

    async def putenv(self, entry: str) -> int:
        session = self._begin("pam_putenv")
        return await self._run(session.putenv(entry), "pam_putenv")

    async def end(self) -> CallRecord | None:
        """``pam_end``; None when there is nothing to end (never started, ended, crashed)."""
        if self._session is None or self._state.over:
            if self._state is SessionState.NEW:
                self._set_state(SessionState.ENDED)
            return None
        session = self._begin("pam_end")
        try:
            record = await session.end()
        except EngineCrashed as err:
            self._crashed(err, tuple(session.session.crash_output))
            raise
        finally:
            self.in_flight = None
        if record is not None:
            self._received(record)
        self._set_state(SessionState.ENDED)
        return record

    def abort(self) -> bool:
        """Kill the call in flight (a hung module); it raises ``EngineCrashed("aborted")``.
        Safe to call any time; False when nothing was running."""
        if self._session is None or not self._state.busy:
            return False
        self._conversation.cancel()
        self._session.abort()
        return True

    async def close(self) -> None:
        """End the transaction on any path; never raises. A call in flight is killed at once
        (the module may never return); an idle transaction gets ``pam_end``."""
        if self._session is None or self._state.over:
            if not self._state.over:
                self._set_state(SessionState.ENDED)
            return
        if self._state.busy:
            self._conversation.cancel()  # a prompt the face still shows
            await self._session.close()  # kills the call in flight at once
            self.in_flight = None
            self._set_state(SessionState.ENDED)
            return
        try:
            await self.end()
        except EngineError:
            await self._session.close()
            if not self._state.over:
                self._set_state(SessionState.ENDED)

    async def __aenter__(self) -> PamSession:
        if self._state is SessionState.NEW:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- internals ------------------------------------------------------------------------------
    def _begin(self, what: str) -> AsyncSession:
        if self._state is SessionState.NEW or self._session is None:
            raise EngineError(f"{what} before pam_start")
        if self._state.busy:
            raise SessionBusy(f"{what} while {self.in_flight} is still running")
        if self._state is SessionState.CRASHED and self.crash is not None:
            raise self.crash
        if self._state.over:
            raise EngineError(f"{what} after the transaction ended")
        self.in_flight = what
        self._set_state(SessionState.IN_CALL)
        return self._session

    async def _run_record(self, request: Awaitable[CallRecord], during: str) -> CallRecord:
        record = await self._run(request, during)
        self._received(record)
        return record

    async def _run(self, request: Awaitable[T], during: str) -> T:
        try:
            result = await request
        except EngineCrashed as err:
            output = () if self._session is None else tuple(self._session.session.crash_output)
            self._crashed(err, output)
            raise
        except EngineError as err:
            self.in_flight = None
            self._set_state(SessionState.IDLE)
            self._emit(RequestRefused(during, str(err)))
            raise
        except BaseException:
            # Cancelled from outside (a face closing): the call may still run; kill it.
            if self._session is not None:
                self._session.abort()
            self.in_flight = None
            self._set_state(SessionState.CRASHED)
            raise
        self.in_flight = None
        self._set_state(SessionState.IDLE)
        return result

    def _received(self, record: CallRecord) -> None:
        self.records.append(record)
        self._emit(RecordReceived(record))

    def _crashed(self, err: EngineCrashed, output: tuple[str, ...]) -> None:
        self.crash, self.crash_output = err, output
        self._emit(Crashed(err, output))
        self.in_flight = None
        self._set_state(SessionState.CRASHED)


def _as_async(conversation: AsyncConversation | Conversation | None) -> AsyncConversation:
    if conversation is None:
        return BlockingAsAsync(NoConversation())
    if inspect.iscoroutinefunction(getattr(conversation, "respond", None)):
        return cast(AsyncConversation, conversation)
    return BlockingAsAsync(cast(Conversation, conversation))
