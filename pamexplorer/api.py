"""The Python API a notebook (or a REPL) uses: ``pamexplorer.open``, ``show``, ``codes``,
``simulate`` and ``run``. Everything returned displays well (``_repr_html_`` and a readable
``repr``).

``open`` is blocking: each call returns its :class:`CallRecord`. It drives the one session model
(:class:`pamexplorer.session.PamSession`) on a private event-loop thread, so it works the same in
a script and inside Jupyter, whose kernel already runs an event loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from pamexplorer.engine import EngineCrashed, EngineError
from pamexplorer.lab import lab_confdir
from pamexplorer.pam.calls import NamedCalls
from pamexplorer.pam.codes import Function, all_codes, code_by_name, describe
from pamexplorer.pam.conversation import (
    Conversation,
    ConversationAborted,
    NoConversation,
    ScriptedConversation,
)
from pamexplorer.pam.operation import Operation, parse_flags, parse_operation
from pamexplorer.pam.records import CallRecord, Message
from pamexplorer.session import PamSession, SessionState
from pamexplorer.stack import parse_result_spec, resolve
from pamexplorer.stack import simulate as run_simulation
from pamexplorer.views import (
    CodeTable,
    ProfileRunView,
    SimulationView,
    StackView,
    TimelineView,
)

__all__ = [
    "EngineCrashed",
    "EngineError",
    "LiveTransaction",
    "codes",
    "open",
    "run",
    "show",
    "simulate",
]

T = TypeVar("T")
#: How long a call may stay silent before the engine gives up (time at prompts not counted).
DEFAULT_TIMEOUT = 30.0
FlagsArg = int | str | Sequence[str]
#: ``answers=``: answers in order (a ``(pattern, answer)`` entry answers the prompts its
#: pattern matches first), or a mapping prompt pattern -> answer.
Answers = Sequence[str | tuple[str, str]] | Mapping[str, str]
#: ``conversation=``: called with each message; returns the answer (None for info/error).
Responder = Callable[[Message], "str | None"]


class LoopThread:
    """An asyncio event loop on a daemon thread of its own: blocking code runs coroutines on
    it with :meth:`run` (never ``asyncio.run``, which fails inside a running Jupyter loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="pamexplorer-loop", daemon=True
        )
        self.thread.start()

    def run(
        self, coroutine: Coroutine[Any, Any, T], on_interrupt: Callable[[], object] | None = None
    ) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:  # Ctrl-C / the notebook's interrupt: end what hangs
            if on_interrupt is not None:
                self.loop.call_soon_threadsafe(on_interrupt)
            raise


_loop: LoopThread | None = None
_loop_lock = threading.Lock()


def loop_thread() -> LoopThread:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = LoopThread()
        return _loop


def as_flags(flags: FlagsArg) -> int:
    """``0``, ``Flag.PAM_SILENT``, ``"PAM_SILENT|PAM_ESTABLISH_CRED"`` or ``["silent"]``."""
    if isinstance(flags, int):
        return int(flags)
    return parse_flags(flags if isinstance(flags, str) else list(flags))


class _CallbackConversation:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            answer = self.responder(message)
            if message.style.is_prompt and answer is None:
                raise ConversationAborted(f"no answer for prompt {message.text!r}")
            answers.append(None if not message.style.is_prompt else str(answer))
        return answers


def conversation_for(
    answers: Answers | None, conversation: Responder | Conversation | None
) -> Conversation:
    """The conversation ``open`` gives libpam: scripted answers, a callback, or none (a prompt
    then gets ``PAM_CONV_ERR``)."""
    if answers is not None and conversation is not None:
        raise ValueError("give answers= or conversation=, not both")
    if isinstance(answers, Mapping):
        return ScriptedConversation(patterns=[(re.compile(p), a) for p, a in answers.items()])
    if answers is not None:
        if isinstance(answers, str):
            answers = [answers]
        patterns = [(re.compile(a[0]), str(a[1])) for a in answers if isinstance(a, tuple)]
        ordered = [str(a) for a in answers if not isinstance(a, tuple)]
        return ScriptedConversation(patterns=patterns, ordered=ordered)
    if conversation is None:
        return NoConversation()
    if hasattr(conversation, "respond"):
        return conversation
    return _CallbackConversation(conversation)


def service_source(
    stack: contextlib.ExitStack, lab: bool, confdir: str | os.PathLike[str] | None
) -> str | None:
    """The confdir to use: the lab's private copy (kept until ``stack`` closes), a directory
    given, or None for the system's services."""
    if lab and confdir is not None:
        raise ValueError("give lab=True or confdir=, not both")
    if lab:
        return str(stack.enter_context(lab_confdir()))
    if confdir is not None:
        if not os.path.isdir(confdir):
            raise ValueError(f"{confdir}: confdir: expected a directory of service files")
        return str(confdir)
    return None


class LiveTransaction(NamedCalls[CallRecord]):
    """One PAM transaction in its engine child; each call returns its :class:`CallRecord`.

    A crash of the child raises :class:`EngineCrashed` (``SIGSEGV during pam_authenticate``)
    and shows in the timeline; the transaction is then over.
    """

    def __init__(
        self,
        service: str,
        user: str | None,
        *,
        lab: bool = False,
        confdir: str | os.PathLike[str] | None = None,
        items: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        conversation: Conversation | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self._cleanup = contextlib.ExitStack()
        self._finalizer = weakref.finalize(self, self._cleanup.close)
        self.confdir = service_source(self._cleanup, lab, confdir)
        self.service = service
        self.user = user
        self.lab = lab
        self._loop = loop_thread()
        self.session = PamSession(
            service,
            user,
            confdir=self.confdir,
            items=items,
            env=env,
            conversation=conversation or NoConversation(),
            timeout=timeout,
        )
        self.start_record: CallRecord | None = None
        try:
            self.start_record = self._run(self.session.start())
        except BaseException:
            self._finalizer()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coroutine, on_interrupt=self.session.abort)

    # -- state ----------------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def records(self) -> list[CallRecord]:
        return list(self.session.records)

    @property
    def crash(self) -> EngineCrashed | None:
        return self.session.crash

    @property
    def crash_output(self) -> tuple[str, ...]:
        """What the module printed before the crash that ended the transaction."""
        return self.session.crash_output

    @property
    def last(self) -> CallRecord | None:
        return self.session.records[-1] if self.session.records else None

    # -- calls ----------------------------------------------------------------------------------
    def call(self, function: Function | str, flags: FlagsArg = 0) -> CallRecord:
        """``call("authenticate")``, ``call("setcred(PAM_ESTABLISH_CRED)")``."""
        if isinstance(function, str):
            operation = parse_operation(function)
            function, flags = operation.function, operation.flags | as_flags(flags)
        return self._run(self.session.call(function, as_flags(flags)))

    def set_item(self, item: str, value: str) -> int:
        return self._run(self.session.set_item(item, value))

    def get_item(self, item: str) -> str | None:
        return self._run(self.session.get_item(item))

    def putenv(self, entry: str) -> int:
        return self._run(self.session.putenv(entry))

    def end(self) -> CallRecord | None:
        """``pam_end``; None when the transaction was already over."""
        try:
            return self._run(self.session.end())
        finally:
            self._finalizer()

    def close(self) -> None:
        """End the transaction on any path (pam_end when idle) and remove a lab copy."""
        try:
            self._run(self.session.close())
        finally:
            self._finalizer()

    def __enter__(self) -> LiveTransaction:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- display --------------------------------------------------------------------------------
    def timeline(self) -> TimelineView:
        crash = self.session.crash
        return TimelineView(
            f"{self.service} as {self.user or '(no user)'}  [{self.state.value}]",
            self.records,
            None if crash is None else crash.message,
            self.session.crash_output,
        )

    def stack(self) -> StackView:
        """The service's resolved stack, each line marked with its code in the last call
        (when the engine traced it)."""
        last = self.last
        return StackView.of_call(resolve(self.service, self.confdir), last)

    def _repr_html_(self) -> str:
        return self.timeline()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.timeline())


def open(  # the API's name: pamexplorer.open
    service: str,
    user: str | None = None,
    *,
    lab: bool = False,
    confdir: str | os.PathLike[str] | None = None,
    items: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    answers: Answers | None = None,
    conversation: Responder | Conversation | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> LiveTransaction:
    """Start a transaction (``pam_start``) and return it; its calls return records.

    ``answers=["wonderland"]`` answers prompts in order (or ``{"(?i)password": "..."}`` by
    pattern); ``conversation=lambda message: ...`` answers each message; with neither, a
    prompt gets ``PAM_CONV_ERR``. ``lab=True`` uses a private copy of the bundled lab.
    """
    return LiveTransaction(
        service,
        user,
        lab=lab,
        confdir=confdir,
        items=items,
        env=env,
        conversation=conversation_for(answers, conversation),
        timeout=timeout,
    )


def show(
    service: str, *, lab: bool = False, confdir: str | os.PathLike[str] | None = None
) -> StackView:
    """The service as ``pam_start`` resolves it (no module runs)."""
    with contextlib.ExitStack() as stack:
        where = service_source(stack, lab, confdir)
        return StackView(resolve(service, where))


def codes(code: int | str | None = None) -> CodeTable:
    """The return-code table; ``codes(7)`` or ``codes("auth_err")`` for one code."""
    if code is None:
        return CodeTable(tuple(all_codes()))
    number = int(code) if isinstance(code, int) else int(code_by_name(code))
    return CodeTable((describe(number),))


def simulate(
    service: str,
    operations: Sequence[str] = ("authenticate",),
    *,
    results: Sequence[str] = (),
    lab: bool = False,
    confdir: str | os.PathLike[str] | None = None,
) -> SimulationView:
    """What libpam's dispatcher would return, with ``results=["lab-login:2=auth_err"]`` for
    the codes of chosen lines (others: what the module is known to return)."""
    ops: list[Operation] = [parse_operation(op) for op in operations]
    overrides = [parse_result_spec(spec) for spec in results]
    with contextlib.ExitStack() as stack:
        where = service_source(stack, lab, confdir)
        simulation = run_simulation(resolve(service, where), ops, overrides)
        return SimulationView(simulation, where)


def run(profile: str | os.PathLike[str]) -> ProfileRunView:
    """Run a profile (a bundled name like ``lab-required`` or a YAML path) and show its result."""
    from pamexplorer.profile import load
    from pamexplorer.profile import resolve as find_profile
    from pamexplorer.runner import run_profile

    return ProfileRunView(run_profile(load(find_profile(os.fspath(profile)))))
