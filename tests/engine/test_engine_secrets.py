"""A password answered at an echo-off prompt never shows up outside the module that asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from pamexplorer.engine import Engine, EngineCrashed
from pamexplorer.engine.client import fork_server
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.conversation import REDACTED, Message
from tests.engine.inflight import call_in_thread

ServiceDir = Callable[[dict[str, str]], Path]

SECRET = "Tr0ub4dor&3-horse-battery"


def readable(path: Path) -> bytes:
    """What a process of our uid can read there: engine children are not dumpable, so
    without CAP_SYS_PTRACE their environ is closed (which protects it all the more)."""
    try:
        return path.read_bytes()
    except PermissionError:
        return b""


class Password:
    def __init__(self, answered: threading.Event | None = None) -> None:
        self.answered = answered

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        if self.answered is not None:
            self.answered.set()
        return [SECRET if m.style.is_prompt else None for m in messages]


def test_password_absent_from_record_and_output(
    service_dir: ServiceDir, password_module: Path, faults: Path
) -> None:
    confdir = service_dir(
        {
            "svc": f"auth required {password_module} {SECRET}\n"
            f"auth required {faults} print\n"
            "auth required pam_echo.so typed %u\n"
        }
    )
    Engine.prestart()
    with Engine(timeout=20).start(
        "svc", "alice", confdir=str(confdir), conversation=Password()
    ) as session:
        record = session.call(Function.AUTHENTICATE)
        end = session.end()
    assert record.code == Code.PAM_SUCCESS  # the module did get the password
    assert record.messages[0].answer == REDACTED
    assert record.output  # the module printed something, just not the password
    everything = json.dumps(record.to_dict()) + repr(record) + repr(end)
    assert SECRET not in everything
    assert all(SECRET not in line for line in record.output)


def test_password_absent_from_child_environment_and_arguments(
    service_dir: ServiceDir, password_module: Path
) -> None:
    # The module pauses after reading the answer, so the child is alive and holds the secret.
    confdir = service_dir({"svc": f"auth required {password_module} {SECRET} wait\n"})
    Engine.prestart()
    answered = threading.Event()
    session = Engine(timeout=None).start(
        "svc", "alice", confdir=str(confdir), conversation=Password(answered)
    )
    worker, failure = call_in_thread(session)
    try:
        assert answered.wait(20)
        # Wait until the child is parked in pause() after the module compared the answer.
        proc = Path(f"/proc/{session.pid}")
        for _ in range(2000):
            if (proc / "wchan").read_text() not in ("", "0") and (
                proc / "stat"
            ).read_text().split()[2] == "S":
                break
            threading.Event().wait(0.01)
        environ = readable(proc / "environ")
        cmdline = (proc / "cmdline").read_bytes()
        server_environ = Path(f"/proc/{fork_server().process.pid}/environ").read_bytes()
        server_cmdline = Path(f"/proc/{fork_server().process.pid}/cmdline").read_bytes()
    finally:
        session.abort()
        worker.join(20)
    for blob in (environ, cmdline, server_environ, server_cmdline):
        assert SECRET.encode() not in blob
    assert cmdline  # we did read a live process
    assert len(failure) == 1 and isinstance(failure[0], EngineCrashed)
    assert SECRET not in str(failure[0]) and SECRET not in json.dumps(failure[0].to_dict())
