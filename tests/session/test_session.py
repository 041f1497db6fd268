"""The session model every face drives: states, events, prompts, abort, crash and pam_end,
against the real libpam through the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from pamexplorer.engine import EngineCrashed, EngineError
from pamexplorer.pam.codes import Function, MessageStyle
from pamexplorer.pam.conversation import ConversationAborted, ScriptedConversation
from pamexplorer.pam.records import REDACTED, Message
from pamexplorer.session import (
    Crashed,
    MessagesShown,
    PamSession,
    RecordReceived,
    SessionBusy,
    SessionEvent,
    SessionState,
    StateChanged,
)
from tests.conftest import ModuleFactory, ServiceDirFactory
from tests.engine.engine_csrc import FAULTS, PASSWORD

SECURITY = "/lib/x86_64-linux-gnu/security"


@pytest.fixture
def faults(c_module: ModuleFactory) -> Path:
    return c_module("faults", FAULTS)


@pytest.fixture
def password_svc(service_dir: ServiceDirFactory, c_module: ModuleFactory) -> str:
    """The confdir of ``svc``: one module that asks for a password and wants ``s3cret``."""
    module = c_module("password", PASSWORD)
    return str(service_dir({"svc": f"auth required {module} s3cret\n"}))


async def call_in_flight(session: PamSession) -> asyncio.Future[object]:
    """pam_authenticate started in ``session``, returned once the call is in flight."""
    await session.start()
    call: asyncio.Future[object] = asyncio.ensure_future(session.call(Function.AUTHENTICATE))
    while session.state is not SessionState.IN_CALL:
        await asyncio.sleep(0.01)
    return call


class Recorder:
    def __init__(self) -> None:
        self.events: list[SessionEvent] = []

    def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)

    def states(self) -> list[SessionState]:
        return [e.state for e in self.events if isinstance(e, StateChanged)]

    def records(self) -> list[str]:
        return [e.record.function for e in self.events if isinstance(e, RecordReceived)]


class AskOnce:
    """An async conversation like a face's: waits on a future the test resolves."""

    def __init__(self) -> None:
        self.asked: asyncio.Future[Sequence[Message]] = asyncio.get_running_loop().create_future()
        self.answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        if not self.asked.done():
            self.asked.set_result(messages)
        answer = await self.answer
        if answer is None:
            raise ConversationAborted("cancelled")
        return [answer if m.style.is_prompt else None for m in messages]


async def test_states_and_events_of_a_whole_transaction(service_dir: ServiceDirFactory) -> None:
    confdir = service_dir(
        {
            "svc": "auth required pam_permit.so\n"
            "account required pam_deny.so\n"
            f"session required {SECURITY}/pam_echo.so hello from echo\n"
        }
    )
    seen = Recorder()
    session = PamSession("svc", "alice", confdir=str(confdir), on_event=seen)
    assert session.state is SessionState.NEW
    start = await session.start()
    assert (start.function, start.code, session.state) == ("pam_start", 0, SessionState.IDLE)
    auth = await session.call(Function.AUTHENTICATE)
    acct = await session.call(Function.ACCT_MGMT)
    opened = await session.call(Function.OPEN_SESSION)
    assert (auth.name, acct.name, opened.name) == ("PAM_SUCCESS", "PAM_AUTH_ERR", "PAM_SUCCESS")
    shown = [e for e in seen.events if isinstance(e, MessagesShown)]
    assert [(e.function, e.messages[0].text) for e in shown] == [
        ("pam_open_session", "hello from echo")
    ]
    end = await session.end()
    assert end is not None and end.function == "pam_end"
    assert session.state is SessionState.ENDED
    assert seen.records() == [
        "pam_start",
        "pam_authenticate",
        "pam_acct_mgmt",
        "pam_open_session",
        "pam_end",
    ]
    assert seen.states() == [
        SessionState.STARTING,
        SessionState.IDLE,
        *[SessionState.IN_CALL, SessionState.IDLE] * 3,
        SessionState.IN_CALL,
        SessionState.ENDED,
    ]
    assert await session.end() is None  # nothing more to end
    with pytest.raises(EngineError):
        await session.call(Function.AUTHENTICATE)


async def test_a_prompt_waits_for_the_face_and_the_answer_is_redacted(
    password_svc: str,
) -> None:
    seen = Recorder()
    conversation = AskOnce()
    session = PamSession("svc", "u", confdir=password_svc, conversation=conversation, on_event=seen)
    await session.start()
    call = asyncio.ensure_future(session.call(Function.AUTHENTICATE))
    messages = await conversation.asked
    assert messages[0].style is MessageStyle.PAM_PROMPT_ECHO_OFF
    assert session.state is SessionState.WAITING
    with pytest.raises(SessionBusy):
        await session.call(Function.ACCT_MGMT)  # one request at a time
    conversation.answer.set_result("s3cret")
    record = await call
    assert record.code == 0
    assert [m.answer for m in record.messages if m.style.is_prompt] == [REDACTED]
    assert SessionState.WAITING in seen.states()
    assert "s3cret" not in repr(seen.events)
    await session.close()
    assert session.state is SessionState.ENDED


async def test_cancelled_prompt_gives_the_module_conv_err(
    password_svc: str,
) -> None:
    conversation = AskOnce()
    session = PamSession("svc", "u", confdir=password_svc, conversation=conversation)
    await session.start()
    call = asyncio.ensure_future(session.call(Function.AUTHENTICATE))
    await conversation.asked
    conversation.answer.set_result(None)
    record = await call
    assert record.name == "PAM_CONV_ERR"
    assert session.state is SessionState.IDLE
    await session.close()


async def test_abort_kills_a_hung_call_and_the_session_reports_it(
    service_dir: ServiceDirFactory, faults: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {faults} hang\n"})
    seen = Recorder()
    session = PamSession("svc", "u", confdir=str(confdir), on_event=seen)
    call = await call_in_flight(session)
    await asyncio.sleep(0.1)
    assert session.abort() is True
    with pytest.raises(EngineCrashed) as err:
        await call
    assert err.value.kind == "aborted"
    assert session.state is SessionState.CRASHED
    assert [e.crash.kind for e in seen.events if isinstance(e, Crashed)] == ["aborted"]
    await session.close()  # nothing left to end; never raises
    assert session.state is SessionState.CRASHED


async def test_a_crash_is_an_event_and_leaves_the_face_usable(
    service_dir: ServiceDirFactory, faults: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {faults} print-segv\n"})
    seen = Recorder()
    session = PamSession("svc", "u", confdir=str(confdir), on_event=seen)
    await session.start()
    with pytest.raises(EngineCrashed) as err:
        await session.call(Function.AUTHENTICATE)
    assert err.value.message == "SIGSEGV during pam_authenticate"
    crashes = [e for e in seen.events if isinstance(e, Crashed)]
    assert crashes and "last words" in crashes[0].output
    assert session.crash_output == crashes[0].output
    with pytest.raises(EngineCrashed):
        await session.call(Function.ACCT_MGMT)
    # A new session works: the crash cost one child only.
    again = PamSession("svc", "u", confdir=str(service_dir({"svc": "auth required pam_permit.so"})))
    async with again:
        assert (await again.call(Function.AUTHENTICATE)).code == 0
    assert again.state is SessionState.ENDED


async def test_close_during_a_call_kills_it_at_once(
    service_dir: ServiceDirFactory, faults: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {faults} hang\n"})
    session = PamSession("svc", "u", confdir=str(confdir))
    call = await call_in_flight(session)
    await session.close()
    assert session.state is SessionState.ENDED
    with pytest.raises(EngineCrashed):
        await call


async def test_failed_pam_start_ends_the_session(service_dir: ServiceDirFactory) -> None:
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    (confdir / "other").unlink()
    session = PamSession("nothing-here", "u", confdir=str(confdir))
    record = await session.start()
    assert record.name == "PAM_ABORT"
    assert session.state is SessionState.ENDED
    await session.close()


async def test_a_blocking_conversation_serves_too(
    password_svc: str,
) -> None:
    script = ScriptedConversation(ordered=["s3cret"])
    async with PamSession("svc", "u", confdir=password_svc, conversation=script) as session:
        assert (await session.call(Function.AUTHENTICATE)).code == 0
