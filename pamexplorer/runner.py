"""Run a profile through the engine and check every expectation.

The runner resolves a profile's configuration (system, the bundled lab, a directory, or inline
service files in a private temporary directory), answers prompts from the profile's script,
calls each step in one engine child, and returns a :class:`ProfileResult`. Secrets from the
environment or from a person are scrubbed from everything a result holds.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pamexplorer.engine import Engine, EngineCrashed, EngineError, Session
from pamexplorer.lab import inline_confdir, lab_confdir
from pamexplorer.pam.codes import Code, describe, flag_names
from pamexplorer.pam.conversation import (
    REDACTED,
    ConversationAborted,
    Exchange,
    ScriptedConversation,
)
from pamexplorer.pam.records import CallRecord
from pamexplorer.profile import (
    CONFIG_LAB,
    CONFIG_SYSTEM,
    DEFAULT_TIMEOUT,
    ITEM_STEP,
    Answer,
    Expectation,
    Profile,
    ProfileError,
    Step,
)
from pamexplorer.stack.resolve import SYSTEM_PAM_DIRS, service_exists

PASSED, FAILED, SKIPPED, CRASHED, ERROR = "passed", "failed", "skipped", "crashed", "error"
#: Exit status of a result, as ``pamexplorer run`` reports it.
EXIT_STATUS = {PASSED: 0, SKIPPED: 0, FAILED: 1, ERROR: 2, CRASHED: 3}

#: Called with the prompt text when an ``{ask: true}`` answer is needed; returns the answer.
AskFunction = Callable[[str], str]


@dataclass
class StepResult:
    """One call of a profile run, in the shape the reports print."""

    index: int
    step: str  # the step as written: authenticate(PAM_SILENT), set_item(tty=...)
    function: str  # pam_authenticate, pam_start, pam_set_item, ...
    flags: list[str]
    code: int | None
    name: str
    text: str
    expected: list[str]  # acceptable code names; [] accepts any code
    ok: bool
    status: str = PASSED  # passed | failed | crashed | not run
    problems: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0
    env: dict[str, str] = field(default_factory=dict)
    fail_delay_us: int | None = None
    output: list[str] = field(default_factory=list)
    line: int = 0

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
            "status": self.status,
            "problems": list(self.problems),
            "messages": [dict(m) for m in self.messages],
            "duration_ms": round(self.duration_ms, 3),
            "env": dict(self.env),
            "fail_delay_us": self.fail_delay_us,
            "output": list(self.output),
            "line": self.line,
        }


@dataclass
class ProfileResult:
    profile: str  # the short name
    title: str
    path: str | None
    status: str
    steps: list[StepResult] = field(default_factory=list)
    reason: str | None = None  # why skipped, crashed, or the error
    service: str = ""
    user: str | None = None
    config: str = CONFIG_SYSTEM

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, SKIPPED)

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "title": self.title,
            "path": self.path,
            "service": self.service,
            "user": self.user,
            "config": self.config,
            "ok": self.ok,
            "status": self.status,
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
        }


def error_result(reference: str, err: ProfileError) -> ProfileResult:
    """The result of a profile that could not be loaded (exit status 2)."""
    name = Path(err.file).name.removesuffix(".yaml").removesuffix(".yml") or reference
    return ProfileResult(name, name, err.file, ERROR, reason=str(err))


# --------------------------------------------------------------------------------------------


class Secrets:
    """Values that must never be shown; :meth:`scrub` replaces them in any text."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)

    def scrub(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text


class ProfileConversation(ScriptedConversation[int]):
    """Answers prompts from a profile's ``answers``: the first ``match`` that finds the prompt
    wins, else the next answer without ``match``; anything else aborts the conversation.
    Scripted entries are indexes into ``answers``; their values are resolved on first use."""

    def __init__(
        self,
        answers: Sequence[Answer],
        values: dict[int, str],
        secrets: Secrets,
        ask: AskFunction | None,
    ) -> None:
        super().__init__(
            patterns=[
                (re.compile(a.match), i) for i, a in enumerate(answers) if a.match is not None
            ],
            ordered=[i for i, a in enumerate(answers) if a.match is None],
        )
        self.answers = list(answers)
        self.values = values  # index -> resolved value (literals and env answers)
        self.secrets = secrets
        self.ask = ask

    def answer(self, entry: int, prompt: str) -> str:
        if entry not in self.values:
            if self.ask is None:
                raise ConversationAborted("an {ask: true} answer needs a person to ask")
            value = self.ask(prompt)
            self.secrets.add(value)
            self.values[entry] = value
        return self.values[entry]


def ask_on_terminal(prompt: str) -> str:
    """Ask the person running the profile, without echo, on the controlling terminal."""
    return getpass.getpass(f"[pamexplorer] {prompt.rstrip()} ")


# --------------------------------------------------------------------------------------------


def skip_reason(profile: Profile) -> str | None:
    """Why a profile cannot run on this machine (a missing user or service), or None."""
    req = profile.requires
    if req.root and os.geteuid() != 0:
        return "needs root (it checks what a privileged service sees)"
    services = list(req.services)
    if profile.config == CONFIG_SYSTEM:
        services.insert(0, profile.service)
    for service in services:
        if not _system_service_exists(service):
            where = " or ".join(f"{d}/{service}" for d in SYSTEM_PAM_DIRS)
            return f"service {service!r} is not configured on this system (no {where})"
    users = list(req.users)
    if profile.config == CONFIG_SYSTEM and profile.user is not None:
        users.insert(0, profile.user)
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"user {user!r} does not exist on this system"
    return None


def _system_service_exists(service: str) -> bool:
    return service_exists(service)


@contextmanager
def confdir_for(profile: Profile) -> Iterator[str | None]:
    """The confdir for ``pam_start_confdir`` (None: the system's), cleaned up afterwards."""
    if isinstance(profile.config, dict):
        with inline_confdir(profile.config) as confdir:
            yield str(confdir)
    elif isinstance(profile.config, Path):
        yield str(profile.config)
    elif profile.config == CONFIG_LAB:
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
        if answer.literal is not None:
            values[i] = answer.literal
        elif answer.env is not None:
            value = os.environ.get(answer.env)
            if value is None:
                file = str(profile.path) if profile.path else "<profile>"
                raise ProfileError(
                    file,
                    answer.line,
                    f"answers[{i}].answer.env",
                    f"expected the environment variable {answer.env} to be set",
                )
            secrets.add(value)
            values[i] = value
    return values


def run_profile(
    profile: Profile, engine: Engine | None = None, ask: AskFunction | None = None
) -> ProfileResult:
    """Run one profile; never raises for PAM outcomes, crashes or timeouts (see ``status``).

    Raises :class:`ProfileError` only for a run-time problem of the profile itself (an ``env``
    answer whose variable is not set).
    """
    result = ProfileResult(
        profile.name,
        profile.display_title,
        str(profile.path) if profile.path else None,
        PASSED,
        service=profile.service,
        user=profile.user,
        config=profile.config_kind,
    )
    reason = skip_reason(profile)
    if reason is not None:
        result.status, result.reason = SKIPPED, reason
        return result
    secrets = Secrets()
    values = resolve_answers(profile, secrets)
    conversation = ProfileConversation(profile.answers, values, secrets, ask)
    engine = engine or Engine()
    timeout = profile.timeout or DEFAULT_TIMEOUT
    with confdir_for(profile) as confdir:
        try:
            session = engine.start(
                profile.service,
                profile.user,
                confdir=confdir,
                items=profile.items,
                env=profile.env,
                conversation=conversation,
                timeout=timeout,
            )
        except EngineCrashed as err:
            result.steps.append(crashed_step(0, "start", "pam_start", err, secrets))
            result.status, result.reason = CRASHED, secrets.scrub(str(err))
            return result
        except EngineError as err:
            result.status, result.reason = ERROR, secrets.scrub(str(err))
            return result
        with session:
            record = session.start_record
            assert record is not None
            start = call_step(0, "start", record, Expectation(profile.expect_start), secrets)
            result.steps.append(start)
            if record.code != Code.PAM_SUCCESS:
                _not_run(result, profile.steps, 1)
            else:
                _run_steps(result, profile.steps, session, secrets)
    if result.status == PASSED and not all(s.ok for s in result.steps):
        result.status = FAILED
    if result.status == FAILED and result.reason is None:
        bad = next(s for s in result.steps if not s.ok)
        result.reason = f"{bad.step}: {'; '.join(bad.problems)}"
    return result


def run_step(
    session: Session, number: int, step: Step, secrets: Secrets
) -> tuple[StepResult, CallRecord | None]:
    """Run one step of a profile in ``session``: its result, and the call record for a PAM
    call (None for set_item and putenv steps). ``EngineCrashed`` propagates: the transaction
    is over, and the caller decides what becomes of the steps left."""
    record: CallRecord | None = None
    try:
        if step.function is not None:
            record = session.call(step.function, step.flags)
            outcome = call_step(number, step.label(), record, step.expect, secrets)
        elif step.action == ITEM_STEP:
            code = 0
            for item, value in step.items.items():
                code = session.set_item(item, value)
                if code != 0:
                    break
            outcome = code_step(number, step, code, secrets)
        else:
            outcome = code_step(number, step, session.putenv(step.entry or ""), secrets)
    except EngineCrashed:
        raise
    except EngineError as err:
        outcome = StepResult(
            number,
            step.label(),
            step.libpam_name,
            [],
            None,
            "error",
            secrets.scrub(str(err)),
            step.expect.code_names(),
            False,
            FAILED,
            [secrets.scrub(str(err))],
        )
    outcome.line = step.line
    return outcome, record


def _run_steps(
    result: ProfileResult, steps: Sequence[Step], session: Session, secrets: Secrets
) -> None:
    for number, step in enumerate(steps, start=1):
        try:
            outcome, _ = run_step(session, number, step, secrets)
        except EngineCrashed as err:
            result.steps.append(
                crashed_step(number, step.label(), step.libpam_name, err, secrets, step.line)
            )
            result.status, result.reason = CRASHED, secrets.scrub(str(err))
            _not_run(result, steps[number:], number + 1)
            return
        result.steps.append(outcome)


def _not_run(result: ProfileResult, steps: Sequence[Step], first: int) -> None:
    for number, step in enumerate(steps, start=first):
        result.steps.append(
            StepResult(
                number,
                step.label(),
                step.libpam_name,
                flag_names(step.flags),
                None,
                "",
                "",
                step.expect.code_names(),
                False,
                "not run",
                ["not run: the transaction ended before this step"],
                line=step.line,
            )
        )


def crashed_step(
    index: int, label: str, function: str, err: EngineCrashed, secrets: Secrets, line: int = 0
) -> StepResult:
    text = secrets.scrub(str(err))
    return StepResult(
        index, label, function, [], None, err.kind, text, [], False, CRASHED, [text], line=line
    )


def code_step(index: int, step: Step, code: int, secrets: Secrets) -> StepResult:
    info = describe(code)
    problems = _code_problems(code, step.expect.codes)
    return StepResult(
        index,
        step.label(),
        step.libpam_name,
        [],
        code,
        info.name,
        info.text,
        step.expect.code_names(),
        not problems,
        PASSED if not problems else FAILED,
        problems,
    )


def _code_problems(code: int, expected: Sequence[Code]) -> list[str]:
    if not expected or code in expected:
        return []
    names = " or ".join(c.name for c in expected)
    return [f"expected {names}, got {describe(code).name} ({code})"]


def call_step(
    index: int, label: str, record: CallRecord, expect: Expectation, secrets: Secrets
) -> StepResult:
    messages = [_scrub_exchange(m.to_dict(), secrets) for m in record.messages]
    problems = _code_problems(record.code, expect.codes)
    if expect.messages is not None:
        problems += _message_problems([str(m["text"]) for m in messages], expect.messages)
    if expect.env is not None:
        problems += _env_problems(record.env, expect.env, secrets)
    if expect.fail_delay is not None:
        problems += _delay_problems(record.fail_delay_us, expect.fail_delay)
    return StepResult(
        index,
        label,
        record.function,
        record.flag_names(),
        record.code,
        record.name,
        record.text,
        expect.code_names(),
        not problems,
        PASSED if not problems else FAILED,
        [secrets.scrub(p) for p in problems],
        messages,
        record.duration_ms,
        {k: secrets.scrub(v) for k, v in record.env.items()},
        record.fail_delay_us,
        [secrets.scrub(line) for line in record.output],
    )


def scrub_record(record: CallRecord, secrets: Secrets) -> CallRecord:
    """``record`` with every secret replaced, as :func:`call_step` scrubs a step: message
    texts and answers (an answer that is a secret shows as REDACTED), items, environment
    values, module output and the trace's arguments, messages and log lines."""
    messages = tuple(
        Exchange.from_dict(_scrub_exchange(m.to_dict(), secrets)) for m in record.messages
    )
    return replace(
        record,
        text=secrets.scrub(record.text),
        messages=messages,
        items={k: None if v is None else secrets.scrub(v) for k, v in record.items.items()},
        env={k: secrets.scrub(v) for k, v in record.env.items()},
        output=tuple(secrets.scrub(line) for line in record.output),
        trace=None if record.trace is None else record.trace.map_text(secrets.scrub),
    )


def _scrub_exchange(message: dict[str, Any], secrets: Secrets) -> dict[str, Any]:
    answer = message.get("answer")
    if isinstance(answer, str) and answer in secrets.values:
        answer = REDACTED
    elif isinstance(answer, str):
        answer = secrets.scrub(answer)
    return {
        "style": message["style"],
        "text": secrets.scrub(str(message["text"])),
        "answer": answer,
    }


def _message_problems(texts: list[str], patterns: Sequence[str]) -> list[str]:
    problems = []
    if len(texts) != len(patterns):
        problems.append(f"expected {len(patterns)} message(s), got {len(texts)}: {texts!r}")
    for i, (text, pattern) in enumerate(zip(texts, patterns, strict=False), start=1):
        if not re.search(pattern, text):
            problems.append(f"message {i}: expected /{pattern}/, got {text!r}")
    return problems


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
