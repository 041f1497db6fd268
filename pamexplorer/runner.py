"""Run a profile through the engine and check every expectation.

A :class:`ProfileRun` is one run, stepped by its owner: ``await start()`` resolves the
profile's configuration (system, the bundled lab, a directory, or inline service files in a
private temporary directory) and answers, and runs ``pam_start`` in a
:class:`~pamexplorer.session.PamSession`; each ``await next_step()`` runs one step and returns
its :class:`StepResult`; ``await finish()`` ends the transaction and returns the
:class:`ProfileResult`. ``run_profile`` (``pamexplorer run``) is a loop over it; the lesson
screen steps it from a worker. Secrets from the environment or from a person are scrubbed
from everything a result or a forwarded session event holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import getpass
import inspect
import os
import pwd
import signal
import stat
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from pamexplorer.calltext import printable, trace_json
from pamexplorer.engine import EngineCrashed, EngineError
from pamexplorer.engine.aio import AsyncEngine
from pamexplorer.lab import inline_confdir, lab_confdir
from pamexplorer.pam.codes import Code, describe, flag_names
from pamexplorer.pam.conversation import (
    ConversationAborted,
    ScriptedConversation,
)
from pamexplorer.pam.records import CallRecord, Message, Trace
from pamexplorer.pam.secrets import Secrets
from pamexplorer.profile import (
    DEFAULT_TIMEOUT,
    Answer,
    CallStep,
    ConfigKind,
    DirectoryConfig,
    EnvAnswer,
    Expectation,
    InlineConfig,
    LabConfig,
    LiteralAnswer,
    Profile,
    ProfileError,
    PutenvStep,
    SetItemStep,
    Step,
    SystemConfig,
    compile_pattern,
    profile_name,
    quoted,
)
from pamexplorer.session import (
    Crashed,
    Listener,
    MessagesShown,
    PamSession,
    RecordReceived,
    RequestRefused,
    SessionEvent,
    SessionState,
)
from pamexplorer.stack.resolve import SYSTEM_PAM_DIRS, service_exists, service_name


class StepStatus(enum.StrEnum):
    """How a step, or a whole profile run, ended; the values are what reports print."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # a bad profile (exit 2)
    CRASHED = "crashed"  # the engine child died or timed out (exit 3)
    SKIPPED = "skipped"  # the profile cannot run on this machine
    NOT_RUN = "not run"  # a step after the transaction ended

    @property
    def exit_status(self) -> int:
        """As ``pamexplorer run`` reports it: 0 met, 1 differed, 2 bad input, 3 crash."""
        return EXIT_STATUS[self]


PASSED, FAILED, SKIPPED = StepStatus.PASSED, StepStatus.FAILED, StepStatus.SKIPPED
CRASHED, ERROR, NOT_RUN = StepStatus.CRASHED, StepStatus.ERROR, StepStatus.NOT_RUN
#: Exit status of a result, as ``pamexplorer run`` reports it.
#: A run finished before all its steps ran (a face left early) did not show that everything
#: expected happens: 1, like a difference.
EXIT_STATUS = {PASSED: 0, SKIPPED: 0, FAILED: 1, NOT_RUN: 1, ERROR: 2, CRASHED: 3}

#: Called with the prompt text (secrets scrubbed) when an ``{ask: true}`` answer is needed;
#: returns the answer. Blocking: the CLI's terminal.
AskFunction = Callable[[str], str]
#: The same for a face on an event loop: given the prompt (secrets scrubbed), the answer, or
#: None when the person cancelled.
AsyncAskFunction = Callable[[Message], Awaitable[str | None]]


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """One call of a profile run, in the shape the reports print; secrets already scrubbed."""

    index: int
    step: str  # the step as written: authenticate(PAM_SILENT), set_item(tty=...)
    function: str  # pam_authenticate, pam_start, pam_set_item, ...
    status: StepStatus
    flags: tuple[str, ...] = ()
    code: int | None = None
    name: str = ""
    text: str = ""
    expected: tuple[str, ...] = ()  # acceptable code names; () accepts any code
    problems: tuple[str, ...] = ()
    messages: tuple[dict[str, Any], ...] = ()  # Exchange.to_dict() of each message
    duration_ms: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    fail_delay_us: int | None = None
    output: tuple[str, ...] = ()
    line: int = 0
    #: How the stack reached the code, module by module (secrets scrubbed); None when the
    #: step made no stack call (set_item, putenv, a crash, a step not run).
    trace: Trace | None = field(default=None, repr=False)
    #: The call record (pam_start and stack calls), secrets scrubbed, for faces that show it;
    #: the reports print the fields above.
    record: CallRecord | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status is StepStatus.PASSED

    @property
    def decided_by(self) -> str | None:
        """``common-account:19 pam_deny.so (die)``, when the trace names the rule."""
        return None if self.trace is None else self.trace.decided_by_text

    @property
    def log(self) -> tuple[str, ...]:
        """The call's log lines (libpam's, then each module's), ``level: text``."""
        if self.trace is None:
            return ()
        return tuple(f"{x.level}: {x.text}" for x in self.trace.all_log())

    def trace_dict(self) -> dict[str, Any]:
        """The trace keys of ``call --format json`` (``modules``, ``decided_by``, ``trace``),
        plus ``log``: the text of every log line of the call (libpam's, then each module's)."""
        trace = self.trace
        if trace is None:
            return {"modules": [], "decided_by": None, "log": [], "trace": None}
        return {**trace_json(trace), "log": [x.text for x in trace.all_log()]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "function": self.function,
            "flags": list(self.flags),
            "code": self.code,
            "name": self.name,
            "text": self.text,
            "expected": list(self.expected),
            "ok": self.ok,
            "status": self.status.value,
            "problems": list(self.problems),
            "messages": [dict(m) for m in self.messages],
            "duration_ms": round(self.duration_ms, 3),
            "env": dict(self.env),
            "fail_delay_us": self.fail_delay_us,
            "output": list(self.output),
            "line": self.line,
            **self.trace_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class ProfileResult:
    profile: str  # the short name
    title: str
    path: str | None
    status: StepStatus
    steps: tuple[StepResult, ...] = ()
    reason: str | None = None  # why skipped, crashed, failed, or the error
    service: str = ""
    user: str | None = None
    config: ConfigKind = ConfigKind.SYSTEM

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED)

    @property
    def exit_status(self) -> int:
        return self.status.exit_status

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "title": self.title,
            "path": self.path,
            "service": self.service,
            "user": self.user,
            "config": self.config.value,
            "ok": self.ok,
            "status": self.status.value,
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
        }


def error_result(reference: str, err: ProfileError) -> ProfileResult:
    """The result of a profile that could not be loaded (exit status 2)."""
    name = profile_name(Path(err.file).name) or reference
    return ProfileResult(profile=name, title=name, path=err.file, status=ERROR, reason=str(err))


# --------------------------------------------------------------------------------------------


class ProfileConversation(ScriptedConversation[int]):
    """Answers prompts from a profile's ``answers``: the first ``match`` that finds the prompt
    wins, else the next answer without ``match``; anything else aborts the conversation.
    Scripted entries are indexes into ``answers``; an entry without a value yet (an ``{ask:
    true}`` answer) raises :class:`AnswerNeeded` for :class:`ProfileAnswers` to ask."""

    def __init__(self, answers: Sequence[Answer], values: dict[int, str]) -> None:
        super().__init__(
            patterns=[
                (compile_pattern(a.match), i) for i, a in enumerate(answers) if a.match is not None
            ],
            ordered=[i for i, a in enumerate(answers) if a.match is None],
        )
        self.values = values  # index -> resolved value (literals, env answers, asked ones)

    def answer(self, entry: int, prompt: str) -> str:
        if entry not in self.values:
            raise AnswerNeeded(entry)
        return self.values[entry]


class AnswerNeeded(ConversationAborted):
    """An ``{ask: true}`` answer with nobody to ask (yet): the conversation aborts, unless an
    asking conversation (:class:`ProfileAnswers`) catches it and asks."""

    def __init__(self, entry: int) -> None:
        super().__init__("an {ask: true} answer needs a person to ask")
        self.entry = entry


class ProfileAnswers:
    """The asynchronous conversation of a :class:`ProfileRun`: scripted answers first; an
    ``{ask: true}`` answer is asked (once per answer entry) with the prompt's secrets
    scrubbed, and the answer becomes a secret of the run."""

    def __init__(
        self,
        scripted: ProfileConversation,
        secrets: Secrets,
        ask: AskFunction | AsyncAskFunction | None,
    ) -> None:
        self.scripted = scripted
        self.secrets = secrets
        self.ask_async: AsyncAskFunction | None = None
        self.ask_blocking: AskFunction | None = None
        if inspect.iscoroutinefunction(ask):
            self.ask_async = cast(AsyncAskFunction, ask)
        elif ask is not None:
            self.ask_blocking = cast(AskFunction, ask)

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            try:
                answers.extend(self.scripted.respond([message]))
            except AnswerNeeded as needed:
                value = await self._ask(message)
                self.scripted.values[needed.entry] = value
                answers.append(value)
        return answers

    async def _ask(self, message: Message) -> str:
        shown = Message(message.style, self.secrets.scrub(message.text))
        if self.ask_async is not None:
            answer = await self.ask_async(shown)
        elif self.ask_blocking is not None:
            # A blocking ask (the CLI's terminal) holds the loop, which has nothing else to do.
            try:
                with _interruptible():
                    answer = self.ask_blocking(shown.text)
            except EOFError:  # Ctrl-D: no answer, as a person may refuse one
                raise ConversationAborted("no answer (end of input)") from None
            except OSError as err:  # no terminal to ask on
                raise ConversationAborted(f"cannot ask ({err.strerror or err})") from None
        else:
            raise ConversationAborted("an {ask: true} answer needs a person to ask")
        if answer is None:
            raise ConversationAborted("the prompt was cancelled")
        self.secrets.add(answer)
        return answer


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in a blocking ask on the loop's thread, as it did before
    the loop: ``asyncio.run``'s own handler only cancels a task, which a loop blocked in the
    ask never gets to (the run would wait for Enter). The answer is refused, the transaction
    ends and ``pamexplorer run`` exits 130."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def ask_on_terminal(prompt: str) -> str:
    """Ask the person running the profile, without echo, on the controlling terminal. The
    prompt is a module's text: shown with its control characters escaped."""
    return getpass.getpass(f"[pamexplorer] {printable(prompt.rstrip())} ")


# --------------------------------------------------------------------------------------------


def skip_reason(profile: Profile) -> str | None:
    """Why a profile cannot run on this machine (a missing user or service), or None."""
    req = profile.requires
    if req.root and os.geteuid() != 0:
        return "needs root (it checks what a privileged service sees)"
    system = isinstance(profile.config, SystemConfig)
    services = list(req.services)
    if system:
        services.insert(0, profile.service)
    for service in services:
        if not _system_service_exists(service):
            where = " or ".join(f"{d}/{service}" for d in SYSTEM_PAM_DIRS)
            return f"service {service!r} is not configured on this system (no {where})"
    users = list(req.users)
    if system and profile.user is not None:
        users.insert(0, profile.user)
    for user in users:
        try:
            pwd.getpwnam(user)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            return f"user {quoted(user)} does not exist on this system"
    return None


def _system_service_exists(service: str) -> bool:
    try:
        return service_exists(service)
    except (OSError, ValueError):  # a name too long for the file system, a NUL
        return False


def directory_problem(profile: Profile) -> str | None:
    """Why libpam cannot read the service file of a ``config`` directory (a FIFO or a device
    would make pam_start wait or read without end), or None."""
    config = profile.config
    if not isinstance(config, DirectoryConfig):
        return None
    for name in (service_name(profile.service), "other"):  # as pam_start names the file
        path = config.path / name
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as err:
            problem = getattr(err, "strerror", None) or str(err)
            return f"{profile.where('config')}: config: cannot read {path} ({problem})"
        if not stat.S_ISREG(mode):
            return f"{profile.where('config')}: config: expected {path} to be a regular file"
    return None


@contextmanager
def confdir_for(profile: Profile) -> Iterator[str | None]:
    """The confdir for ``pam_start_confdir`` (None: the system's), cleaned up afterwards."""
    config = profile.config
    if isinstance(config, InlineConfig):
        with inline_confdir(config.files) as confdir:
            yield str(confdir)
    elif isinstance(config, DirectoryConfig):
        yield str(config.path)
    elif isinstance(config, LabConfig):
        with lab_confdir() as confdir:
            yield str(confdir)
    else:
        yield None


def resolve_answers(profile: Profile, secrets: Secrets) -> dict[int, str]:
    """Literal and ``env`` answers by index; ``ask`` answers are asked when a prompt needs them.

    A missing environment variable is a bad profile run: ``ProfileError`` naming the variable.
    """
    values: dict[int, str] = {}
    for i, answer in enumerate(profile.answers):
        if isinstance(answer, LiteralAnswer):
            values[i] = answer.value
        elif isinstance(answer, EnvAnswer):
            value = os.environ.get(answer.name)
            if value is None:
                raise ProfileError(
                    profile.source,
                    answer.line,
                    f"answers[{i}].answer.env",
                    f"expected the environment variable {answer.name} to be set",
                )
            secrets.add(value)
            values[i] = value
    return values


class ProfileRun:
    """One run of a profile over a :class:`~pamexplorer.session.PamSession`, one step at a
    time: ``await start()`` (pam_start), ``await next_step()`` until it returns None, then
    ``await finish()`` for the :class:`ProfileResult` (it ends the transaction; call it on
    every path, or use ``async with``).

    ``ask`` answers ``{ask: true}`` prompts (blocking or async); ``confdir`` overrides where
    the service files come from (a face's shared lab copy); ``on_event`` receives the
    session's events with the run's secrets scrubbed; ``timeout`` bounds each call when the
    profile sets none (None: no bound, for a face where a person answers prompts).
    """

    def __init__(
        self,
        profile: Profile,
        *,
        engine: AsyncEngine | None = None,
        ask: AskFunction | AsyncAskFunction | None = None,
        confdir: str | None = None,
        on_event: Listener | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.profile = profile
        self.engine = engine
        self.ask = ask
        self.secrets = Secrets()
        self.results: list[StepResult] = []
        # Private: its records are not scrubbed. Faces read results and forwarded events.
        self._session: PamSession | None = None
        self.skip = skip_reason(profile)
        self.status: StepStatus | None = None  # set when the run ended early
        self.reason: str | None = None
        self._confdir = confdir
        self._on_event = on_event
        self._timeout = profile.timeout or timeout
        self._cleanup = contextlib.ExitStack()
        self._started = False
        self._next = 0  # index of the next profile step
        self._done = False
        self._result: ProfileResult | None = None

    # -- observing ------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._started

    @property
    def done(self) -> bool:
        """No step is left to run (all ran, the transaction ended, or the run was skipped)."""
        return self._done

    @property
    def next_index(self) -> int:
        """The number of the step ``next_step`` runs: 0 is pam_start, then the steps."""
        return self._next + 1 if self._started else 0

    @property
    def state(self) -> SessionState | None:
        """The transaction's state (None before ``start`` and after ``finish``)."""
        return None if self._session is None else self._session.state

    @property
    def busy(self) -> bool:
        return self._session is not None and self._session.state.busy

    # -- stepping -------------------------------------------------------------------------------
    async def start(self) -> StepResult | None:
        """Resolve answers and configuration and run ``pam_start``: its result, or None when
        the run cannot start (skipped, or the engine refused; see ``status`` and ``reason``).

        Raises :class:`ProfileError` for a run-time problem of the profile itself (an ``env``
        answer whose variable is not set)."""
        if self._started:
            raise EngineError("the profile run was already started")
        self._started = True
        profile = self.profile
        if self.skip is not None:
            self._end(SKIPPED, self.skip)
            return None
        values = resolve_answers(profile, self.secrets)
        scripted = ProfileConversation(profile.answers, values)
        problem = directory_problem(profile)
        if problem is not None:
            self._end(ERROR, problem)
            return None
        confdir = self._confdir
        if confdir is None:
            try:
                confdir = self._cleanup.enter_context(confdir_for(profile))
            except (OSError, UnicodeError) as err:
                problem = getattr(err, "strerror", None) or type(err).__name__
                where = profile.where("config")
                self._end(ERROR, f"{where}: config: cannot set up the service files ({problem})")
                return None
        self._session = PamSession(
            profile.service,
            profile.user,
            confdir=confdir,
            items=profile.items,
            env=profile.env,
            conversation=ProfileAnswers(scripted, self.secrets, self.ask),
            timeout=self._timeout,
            engine=self.engine,
            on_event=self._forward,
        )
        try:
            record = await self._session.start()
        except EngineCrashed as err:
            result = crashed_step(0, "start", "pam_start", err, self.secrets)
            self.results.append(result)
            self._end(CRASHED, self.secrets.scrub(str(err)))
            return result
        except EngineError as err:
            self._end(ERROR, self.secrets.scrub(str(err)))
            return None
        result = start_step(profile, record, self.secrets)
        self.results.append(result)
        if record.code != Code.PAM_SUCCESS:
            self.results.extend(not_run_steps(profile.steps, 1))
            self._done = True
        elif not profile.steps:
            self._done = True
        return result

    async def next_step(self) -> StepResult | None:
        """Run the next step (pam_start first, when not started): its result, or None when
        no step is left. A crash ends the run: the steps left are marked not run."""
        if not self._started:
            return await self.start()
        if self._done:
            return None
        steps = self.profile.steps
        number = self._next + 1
        step = steps[self._next]
        try:
            result = await self._run(number, step)
        except EngineCrashed as err:
            result = crashed_step(
                number, step.label(), step.libpam_name, err, self.secrets, step.line
            )
            self.results.append(result)
            self.results.extend(not_run_steps(steps[number:], number + 1))
            self._end(CRASHED, self.secrets.scrub(str(err)))
            return result
        self.results.append(result)
        self._next += 1
        if self._next >= len(steps):
            self._done = True
        return result

    def abort(self) -> bool:
        """Kill the call in flight (a hung module); it ends as a crashed step."""
        return self._session is not None and self._session.abort()

    async def finish(self) -> ProfileResult:
        """End the transaction (pam_end when idle, a kill when a call is in flight), remove
        the run's temporary files, and return the result. Steps never run are marked so."""
        if self._result is not None:
            return self._result
        await self.close()
        if not self._done:
            # Finished early (a face left the lesson): what ran is reported, the rest is not
            # run, and the run is no pass unless every step was shown to meet expectations.
            left = self.profile.steps[self._next :]
            first = self._next + 1 if self._started else 1
            why = "not run: the run finished before this step"
            self.results.extend(not_run_steps(left, first, why))
            if all(r.ok for r in self.results if r.status is not NOT_RUN):
                what = f"step {first} ({left[0].label()})" if self._started else "pam_start"
                self.status, self.reason = NOT_RUN, f"finished before {what} ran"
        self._done = True
        self._result = conclude(self.profile, self.results, self.status, self.reason)
        return self._result

    async def close(self) -> None:
        """End the transaction and remove temporary files; never raises (for ``finally``)."""
        session, self._session = self._session, None
        try:
            if session is not None:
                await session.close()
        finally:
            self._cleanup.close()

    async def run(self) -> ProfileResult:
        """Every step, then :meth:`finish`."""
        try:
            while await self.next_step() is not None:
                pass
        except BaseException:
            await self.close()
            raise
        return await self.finish()

    async def __aenter__(self) -> ProfileRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.finish()
        else:
            await self.close()

    # -- internals ------------------------------------------------------------------------------
    async def _run(self, number: int, step: Step) -> StepResult:
        assert self._session is not None
        return await run_session_step(self._session, number, step, self.secrets)

    def _end(self, status: StepStatus, reason: str) -> None:
        self.status, self.reason, self._done = status, reason, True

    def _forward(self, event: SessionEvent) -> None:
        """The session's events, with the run's secrets scrubbed, to the run's listener."""
        if self._on_event is None:
            return
        scrub = self.secrets.scrub
        match event:
            case RecordReceived(record=record):
                event = RecordReceived(self.secrets.scrub_record(record))
            case MessagesShown(function=function, messages=messages):
                shown = tuple(Message(m.style, scrub(m.text)) for m in messages)
                event = MessagesShown(function, shown)
            case Crashed(crash=crash, output=output):
                clean = EngineCrashed(
                    crash.kind, crash.during, scrub(crash.message), crash.signal, crash.status
                )
                event = Crashed(clean, tuple(scrub(line) for line in output))
            case RequestRefused(during=during, message=message):
                event = RequestRefused(during, scrub(message))
        self._on_event(event)


def run_profile(
    profile: Profile,
    engine: AsyncEngine | None = None,
    ask: AskFunction | None = None,
) -> ProfileResult:
    """Run one profile; never raises for PAM outcomes, crashes or timeouts (see ``status``).

    Raises :class:`ProfileError` only for a run-time problem of the profile itself (an ``env``
    answer whose variable is not set).
    """
    return asyncio.run(ProfileRun(profile, engine=engine, ask=ask).run())


def conclude(
    profile: Profile,
    steps: Sequence[StepResult],
    status: StepStatus | None = None,
    reason: str | None = None,
) -> ProfileResult:
    """The result of a run: ``status`` (crashed, error, skipped) or, by default, passed when
    every step passed and failed otherwise, with the first unmet step as the reason."""
    if status is None:
        # A step whose expectations could not be judged (trace unavailable) is an error, as a
        # profile this build cannot check: exit 2, before any difference (exit 1).
        bad = next((s for s in steps if s.status is ERROR), None)
        bad = bad or next((s for s in steps if not s.ok), None)
        status = PASSED if bad is None else (ERROR if bad.status is ERROR else FAILED)
        if bad is not None and reason is None:
            reason = f"{bad.step}: {'; '.join(bad.problems)}"
    return ProfileResult(
        profile=profile.name,
        title=profile.display_title,
        path=str(profile.path) if profile.path else None,
        status=status,
        steps=tuple(steps),
        reason=reason,
        service=profile.service,
        user=profile.user,
        config=profile.config_kind,
    )


async def run_session_step(
    session: PamSession, number: int, step: Step, secrets: Secrets
) -> StepResult:
    """Run one step of a profile in ``session`` and judge it; a call's record (secrets
    scrubbed) rides on the result. ``EngineCrashed`` propagates: the transaction is over, and
    the caller decides what becomes of the steps left."""
    try:
        match step:
            case CallStep():
                record = await session.call(step.function, step.flags)
                return call_step(number, step.label(), record, step.expect, secrets, step.line)
            case SetItemStep():
                code = 0
                for item, value in step.items.items():
                    code = await session.set_item(item, value)
                    if code != 0:
                        break
                return code_step(number, step, code)
            case PutenvStep():
                return code_step(number, step, await session.putenv(step.entry))
    except EngineCrashed:
        raise
    except EngineError as err:
        return error_step(number, step, err, secrets)


# --------------------------------------------------------------------------------------------
# Step results, each built from what happened and what the profile expected


def start_step(profile: Profile, record: CallRecord, secrets: Secrets) -> StepResult:
    return call_step(0, "start", record, Expectation(codes=profile.expect_start), secrets)


def not_run_steps(
    steps: Sequence[Step],
    first: int,
    why: str = "not run: the transaction ended before this step",
) -> list[StepResult]:
    return [
        StepResult(
            index=number,
            step=step.label(),
            function=step.libpam_name,
            status=NOT_RUN,
            flags=tuple(flag_names(step.flags)),
            expected=tuple(step.expect.code_names()),
            problems=(why,),
            line=step.line,
        )
        for number, step in enumerate(steps, start=first)
    ]


def crashed_step(
    index: int, label: str, function: str, err: EngineCrashed, secrets: Secrets, line: int = 0
) -> StepResult:
    text = secrets.scrub(str(err))
    trace = err.trace  # the modules up to where the child stopped
    return StepResult(
        index=index,
        step=label,
        function=function,
        status=CRASHED,
        name=err.kind,
        text=text,
        problems=(text,),
        line=line,
        trace=None if trace is None else secrets.scrub_trace(trace),
    )


def error_step(index: int, step: Step, err: EngineError, secrets: Secrets) -> StepResult:
    """A request the engine refused (an item it cannot set, say): the step failed."""
    text = secrets.scrub(str(err))
    return StepResult(
        index=index,
        step=step.label(),
        function=step.libpam_name,
        status=FAILED,
        name="error",
        text=text,
        expected=tuple(step.expect.code_names()),
        problems=(text,),
        line=step.line,
    )


def code_step(index: int, step: SetItemStep | PutenvStep, code: int) -> StepResult:
    info = describe(code)
    problems = _code_problems(code, step.expect.codes)
    return StepResult(
        index=index,
        step=step.label(),
        function=step.libpam_name,
        status=FAILED if problems else PASSED,
        code=code,
        name=info.name,
        text=info.text,
        expected=tuple(step.expect.code_names()),
        problems=tuple(problems),
        line=step.line,
    )


def _code_problems(code: int, expected: Sequence[Code]) -> list[str]:
    if not expected or code in expected:
        return []
    names = " or ".join(c.name for c in expected)
    return [f"expected {names}, got {describe(code).name} ({code})"]


def call_step(
    index: int,
    label: str,
    record: CallRecord,
    expect: Expectation,
    secrets: Secrets,
    line: int = 0,
) -> StepResult:
    """A call judged against what the profile expects; what it holds is scrubbed of secrets
    (message texts and echoed answers, environment, output), and the scrubbed record rides
    along for faces that show it."""
    clean = secrets.scrub_record(record)
    messages = tuple(m.to_dict() for m in clean.messages)
    problems = _code_problems(record.code, expect.codes)
    if expect.messages is not None:
        problems += _message_problems([str(m["text"]) for m in messages], expect.messages)
    if expect.env is not None:
        problems += _env_problems(record.env, expect.env, secrets)
    if expect.fail_delay is not None:
        problems += _delay_problems(record.fail_delay_us, expect.fail_delay)
    status = FAILED if problems else PASSED
    if expect.needs_trace:
        missing = _trace_missing(clean.trace, expect)
        if missing is not None:  # nothing to judge the expectation by: not a pass, not a fail
            status, problems = ERROR, [missing, *problems]
        else:
            assert clean.trace is not None
            more = _decider_problems(clean.trace, expect.decided_by)
            more += _log_problems(clean.trace, expect.log)
            problems += more
            status = FAILED if problems else PASSED
    return StepResult(
        index=index,
        step=label,
        function=record.function,
        status=status,
        flags=tuple(record.flag_names()),
        code=record.code,
        name=record.name,
        text=record.text,
        expected=tuple(expect.code_names()),
        problems=tuple(secrets.scrub(p) for p in problems),
        messages=messages,
        duration_ms=record.duration_ms,
        env=dict(clean.env),
        fail_delay_us=record.fail_delay_us,
        output=clean.output,
        line=line,
        trace=clean.trace,
        record=clean,
    )


def _message_problems(texts: list[str], patterns: Sequence[str]) -> list[str]:
    problems = []
    if len(texts) != len(patterns):
        problems.append(f"expected {len(patterns)} message(s), got {len(texts)}: {texts!r}")
    for i, (text, pattern) in enumerate(zip(texts, patterns, strict=False), start=1):
        if not compile_pattern(pattern).search(text):
            problems.append(f"message {i}: expected /{pattern}/, got {text!r}")
    return problems


def _trace_missing(trace: Trace | None, expect: Expectation) -> str | None:
    """Why ``expect_decided_by``/``expect_log`` cannot be judged for this call, or None."""
    if trace is None:
        return "trace unavailable: the engine recorded no trace of this call"
    if not trace.available:
        return f"trace unavailable: {trace.reason or 'no reason given'}"
    if expect.decided_by is not None and trace.status != "traced":
        return f"trace {trace.status}: {trace.reason or 'no reason given'} (no rule is named)"
    return None


def decider_matches(trace: Trace, expected: str) -> bool:
    """Whether the rule that decided the call is ``expected``: ``FILE:LINE`` as the trace
    names it (the file's base name), or the module's file name (``pam_deny.so``)."""
    rule = trace.decider
    if rule is None:
        return False
    if expected.endswith(".so") and ":" not in expected:
        return rule.module_name == expected
    return rule.where == expected


def _decider_problems(trace: Trace, expected: str | None) -> list[str]:
    if expected is None or decider_matches(trace, expected):
        return []
    decided = trace.decided_by_text
    if decided is None:
        return [f"expected decided by {expected}, but no rule decided this call"]
    return [f"expected decided by {expected}, got decided by {decided}"]


def _log_problems(trace: Trace, patterns: tuple[str, ...] | None) -> list[str]:
    if patterns is None:
        return []
    lines = [x.text for x in trace.all_log()]
    if not patterns:
        return [f"expected no log lines, got {_shown_lines(lines)}"] if lines else []
    problems = []
    for pattern in patterns:
        if not any(compile_pattern(pattern).search(line) for line in lines):
            got = f"got {_shown_lines(lines)}" if lines else "the call logged nothing"
            problems.append(f"expected a log line matching /{pattern}/, {got}")
    return problems


def _shown_lines(lines: Sequence[str], most: int = 4) -> str:
    shown = "; ".join(quoted(x) for x in lines[:most])
    return shown + (f"; ... ({len(lines)} lines)" if len(lines) > most else "")


def _env_problems(
    env: dict[str, str], expected: dict[str, str | None], secrets: Secrets
) -> list[str]:
    problems = []
    for name, value in expected.items():
        actual = env.get(name)
        if value is None and actual is not None:
            problems.append(f"expected {name} unset, got {secrets.scrub(actual)!r}")
        elif value is not None and actual != value:
            shown = "unset" if actual is None else repr(secrets.scrub(actual))
            problems.append(f"expected {name}={value!r}, got {shown}")
    return problems


def _delay_problems(delay: int | None, expected: bool | tuple[int, int]) -> list[str]:
    asked = bool(delay)
    if isinstance(expected, bool):
        if asked != expected:
            what = "a fail delay" if expected else "no fail delay"
            return [f"expected {what}, got {delay or 0} µs"]
        return []
    low, high = expected
    if delay is None or not low <= delay <= high:
        return [f"expected a fail delay of {low}..{high} µs, got {delay or 0} µs"]
    return []
