"""The engine: one child per transaction, module output, pam_end on every path, clients."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.engine import AsyncEngine, Engine, EngineError
from pamexplorer.engine.client import fork_server
from pamexplorer.pam.codes import Code, Function, MessageStyle
from pamexplorer.pam.conversation import REDACTED, Message

ServiceDir = Callable[[dict[str, str]], Path]


def wait_gone(pid: int) -> None:
    """Wait until the fork server has reaped the child (its /proc entry is gone)."""
    proc = Path(f"/proc/{pid}")
    for _ in range(2000):
        if not proc.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"engine child {pid} is still there")


def test_one_child_per_transaction(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    pids = []
    for _ in range(3):
        with engine.start("svc", "alice", confdir=str(confdir)) as session:
            assert session.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
            pids.append(session.pid)
    assert len(set(pids)) == 3
    assert os.getpid() not in pids and fork_server().process.pid not in pids


def test_two_sessions_at_once(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {"a": "auth required pam_permit.so\n", "b": "auth required pam_deny.so\n"}
    )
    with (
        engine.start("a", "alice", confdir=str(confdir)) as first,
        engine.start("b", "bob", confdir=str(confdir)) as second,
    ):
        assert first.pid != second.pid
        assert second.call(Function.AUTHENTICATE).code == Code.PAM_AUTH_ERR
        assert first.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
        assert first.get_item("user") == "alice" and second.get_item("user") == "bob"


def test_records_match_in_process_results(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {
            "svc": "auth required pam_debug.so auth=maxtries cred=cred_expired\n"
            "account required pam_debug.so acct=new_authtok_reqd\n"
            "session required pam_debug.so open_session=session_err\n"
            "password required pam_debug.so chauthtok=authtok_lock_busy\n"
        }
    )
    expected = {
        Function.AUTHENTICATE: Code.PAM_MAXTRIES,
        Function.SETCRED: Code.PAM_CRED_EXPIRED,
        Function.ACCT_MGMT: Code.PAM_NEW_AUTHTOK_REQD,
        Function.OPEN_SESSION: Code.PAM_SESSION_ERR,
        Function.CHAUTHTOK: Code.PAM_AUTHTOK_LOCK_BUSY,
    }
    for function, code in expected.items():
        with engine.start("svc", "alice", confdir=str(confdir)) as session:
            record = session.call(function, 0x8000)
            assert (record.function, record.code, record.name) == (function.value, code, code.name)
            assert record.flag_names() == ["PAM_SILENT"]
            assert record.messages[0].style is MessageStyle.PAM_TEXT_INFO


def test_items_env_through_the_engine(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "session required pam_permit.so\n"})
    with engine.start(
        "svc", "alice", confdir=str(confdir), items={"tty": "pts/1"}, env={"A": "1"}
    ) as session:
        assert session.start_record is not None
        assert session.start_record.items["tty"] == "pts/1"
        assert session.start_record.env == {"A": "1"}
        assert session.set_item("rhost", "192.0.2.7") == Code.PAM_SUCCESS
        assert session.get_item("rhost") == "192.0.2.7"
        assert session.putenv("B=2") == Code.PAM_SUCCESS
        record = session.call(Function.OPEN_SESSION)
        assert record.items["rhost"] == "192.0.2.7" and record.items["tty"] == "pts/1"
        assert record.env == {"A": "1", "B": "2"}
        with pytest.raises(EngineError, match="unknown item"):
            session.get_item("colour")
        # The session survives a refused request.
        assert session.call(Function.CLOSE_SESSION).code == Code.PAM_SUCCESS


def test_pam_start_failure_closes_the_session(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so \\"})
    session = engine.start("svc", "alice", confdir=str(confdir))
    assert session.start_record is not None and session.start_record.code == Code.PAM_ABORT
    assert not session.open
    with pytest.raises(EngineError):
        session.call(Function.AUTHENTICATE)
    assert session.end() is None
    wait_gone(session.pid)


def test_module_output_captured(engine: Engine, service_dir: ServiceDir, faults: Path) -> None:
    confdir = service_dir({"svc": f"auth required {faults} print\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        record = session.call(Function.AUTHENTICATE)
    assert record.code == Code.PAM_SUCCESS
    assert sorted(record.output) == sorted(
        ["module stdout line", "module stderr line", "no newline at the end"]
    )
    assert record.messages == ()  # output is not conversation
    assert record.to_dict()["output"] == list(record.output)


def test_pam_exec_output(engine: Engine, service_dir: ServiceDir, tmp_path: Path) -> None:
    script = tmp_path / "talk.sh"
    script.write_text('#!/bin/sh\necho "stdout of $PAM_TYPE"\necho "stderr of it" >&2\n')
    script.chmod(0o755)
    confdir = service_dir(
        {
            "plain": f"auth required pam_exec.so {script}\n",
            "conv": f"auth required pam_exec.so stdout {script}\n",
        }
    )
    with engine.start("plain", "alice", confdir=str(confdir)) as session:
        plain = session.call(Function.AUTHENTICATE)
    with engine.start("conv", "alice", confdir=str(confdir)) as session:
        conv = session.call(Function.AUTHENTICATE)
    # Without `stdout`, pam_exec sends its program's output to /dev/null: nothing reaches us.
    assert plain.code == Code.PAM_SUCCESS and plain.output == () and plain.messages == ()
    # With `stdout`, the program's stdout and stderr become conversation text, not output.
    assert conv.code == Code.PAM_SUCCESS and conv.output == ()
    assert sorted(m.text for m in conv.messages) == ["stderr of it", "stdout of auth"]


# -- pam_end on every path that can reach it ------------------------------------------------


@pytest.mark.parametrize("how", ["end", "context", "close-socket", "failed-call"])
def test_pam_end_runs(
    engine: Engine, service_dir: ServiceDir, faults: Path, tmp_path: Path, how: str
) -> None:
    marker = tmp_path / "marker"
    confdir = service_dir(
        {"svc": f"auth required {faults} ok {marker}\naccount required pam_deny.so\n"}
    )
    session = engine.start("svc", "alice", confdir=str(confdir))
    assert session.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
    assert not marker.exists()  # pam_set_data's cleanup only runs at pam_end
    last = 0
    if how == "end":
        record = session.end()
        assert record is not None and record.function == "pam_end" and record.ok
    elif how == "context":
        with session:
            pass
    elif how == "failed-call":
        assert session.call(Function.ACCT_MGMT).code == Code.PAM_AUTH_ERR
        last = Code.PAM_AUTH_ERR
        session.end()
    else:
        session.channel.close()  # the front end goes away without a word
    wait_gone(session.pid)
    assert marker.read_text() == f"pam_end {last}"


# -- conversations ------------------------------------------------------------------------------


class Answers:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.seen: list[Message] = []

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        self.seen.extend(messages)
        return [self.answer if m.style.is_prompt else None for m in messages]


def test_blocking_conversation(
    engine: Engine, service_dir: ServiceDir, password_module: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {password_module} letmein\n"})
    for answer, code in (("letmein", Code.PAM_SUCCESS), ("wrong", Code.PAM_AUTH_ERR)):
        conv = Answers(answer)
        with engine.start("svc", "alice", confdir=str(confdir), conversation=conv) as session:
            record = session.call(Function.AUTHENTICATE)
        assert record.code == code
        assert [(m.style, m.text) for m in conv.seen] == [
            (MessageStyle.PAM_PROMPT_ECHO_OFF, "Password: "),
            (MessageStyle.PAM_TEXT_INFO, "checking"),
        ]
        assert [m.answer for m in record.messages] == [REDACTED, None]


def test_no_conversation_gives_conv_err(
    engine: Engine, service_dir: ServiceDir, password_module: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {password_module} letmein\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        assert session.call(Function.AUTHENTICATE).code == Code.PAM_CONV_ERR


def test_a_conversation_that_fails_does_not_hang(
    engine: Engine, service_dir: ServiceDir, password_module: Path
) -> None:
    class Broken:
        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            raise RuntimeError("front end bug")

    confdir = service_dir({"svc": f"auth required {password_module} letmein\n"})
    session = engine.start("svc", "alice", confdir=str(confdir), conversation=Broken())
    with pytest.raises(RuntimeError, match="front end bug"):
        session.call(Function.AUTHENTICATE)
    # The session stays usable and in step: the next reply answers the next request.
    assert session.get_item("user") == "alice"
    assert session.putenv("X=1") == Code.PAM_SUCCESS
    end = session.end()
    assert end is not None and end.function == "pam_end"


class AsyncAnswers:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.threads: list[int] = []

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        self.threads.append(threading.get_ident())
        return [self.answer if m.style.is_prompt else None for m in messages]


async def test_asyncio_client(service_dir: ServiceDir, password_module: Path) -> None:
    confdir = service_dir(
        {"svc": f"auth required {password_module} letmein\naccount required pam_deny.so\n"}
    )
    engine = AsyncEngine(timeout=20)
    await engine.prestart()
    conv = AsyncAnswers("letmein")
    session = await engine.start("svc", "alice", confdir=str(confdir), conversation=conv)
    assert session.start_record is not None and session.start_record.ok
    assert session.open and session.pid > 0
    record = await session.call(Function.AUTHENTICATE)
    assert record.code == Code.PAM_SUCCESS
    # The async conversation ran on the event loop's thread, not in a worker.
    assert conv.threads == [threading.get_ident()]
    assert (await session.call(Function.ACCT_MGMT)).code == Code.PAM_AUTH_ERR
    assert await session.set_item("tty", "pts/9") == 0
    assert await session.get_item("tty") == "pts/9"
    assert await session.putenv("X=1") == 0
    end = await session.end()
    assert end is not None and end.function == "pam_end"
    assert not session.open
