"""Faults injected with C modules: the child dies, the caller is told what happened and stays up."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.engine import Engine, EngineCrashed, EngineError
from pamexplorer.engine.client import ForkServerClient
from pamexplorer.engine.environment import INHERITED_ENV
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.conversation import Message
from tests.engine.inflight import call_in_thread

ServiceDir = Callable[[dict[str, str]], Path]


def still_works(engine: Engine, confdir: Path) -> None:
    with engine.start("ok", "alice", confdir=str(confdir)) as session:
        assert session.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS


@pytest.mark.parametrize(
    ("fault", "message", "signal", "status"),
    [
        ("segv", "SIGSEGV during pam_authenticate", "SIGSEGV", None),
        ("abort", "SIGABRT during pam_authenticate", "SIGABRT", None),
        ("exit3", "module exited with status 3 during pam_authenticate", None, 3),
    ],
)
def test_child_death_reported(
    engine: Engine,
    service_dir: ServiceDir,
    faults: Path,
    fault: str,
    message: str,
    signal: str | None,
    status: int | None,
) -> None:
    confdir = service_dir(
        {"svc": f"auth required {faults} {fault}\n", "ok": "auth required pam_permit.so\n"}
    )
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    error = caught.value
    assert str(error) == message
    assert (error.kind, error.during, error.signal, error.status) == (
        "crash",
        "pam_authenticate",
        signal,
        status,
    )
    assert error.to_dict()["kind"] == "crash"
    assert not session.open
    # The dead session keeps saying what happened; end() is a no-op.
    with pytest.raises(EngineCrashed):
        session.call(Function.ACCT_MGMT)
    assert session.end() is None
    still_works(engine, confdir)


def test_output_before_a_crash_is_kept(
    engine: Engine, service_dir: ServiceDir, faults: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {faults} print-segv\n"})
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed, match="SIGSEGV"):
        session.call(Function.AUTHENTICATE)
    assert session.crash_output == ["last words"]


def test_hang_times_out(service_dir: ServiceDir, faults: Path) -> None:
    confdir = service_dir(
        {"svc": f"auth required {faults} hang\n", "ok": "auth required pam_permit.so\n"}
    )
    engine = Engine(timeout=2)
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    assert str(caught.value) == "timed out after 2 s in pam_authenticate"
    assert caught.value.kind == "timeout" and caught.value.during == "pam_authenticate"
    assert not session.open
    with pytest.raises(ProcessLookupError):
        os.kill(session.pid, 0)  # killed and reaped
    still_works(engine, confdir)


def test_abort_from_another_thread_ends_a_stuck_call(
    engine: Engine, service_dir: ServiceDir, faults: Path
) -> None:
    confdir = service_dir(
        {"svc": f"auth required {faults} hang\n", "ok": "auth required pam_permit.so\n"}
    )
    session = engine.start("svc", "alice", confdir=str(confdir), timeout=None)
    worker, outcome = call_in_thread(session)
    session.abort()
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], EngineCrashed)
    assert outcome[0].kind == "aborted"
    assert str(outcome[0]) == "aborted during pam_authenticate"
    still_works(engine, confdir)


def test_abort_while_the_module_waits_after_a_prompt(
    engine: Engine, service_dir: ServiceDir, password_module: Path
) -> None:
    confdir = service_dir(
        {
            "svc": f"auth required {password_module} pw wait\n",
            "ok": "auth required pam_permit.so\n",
        }
    )

    class AbortAfterAnswering:
        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            # The call is certainly in flight now; abort it from another thread.
            threading.Thread(target=session.abort).start()
            return ["pw", None]

    session = engine.start("svc", "alice", confdir=str(confdir), conversation=AbortAfterAnswering())
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    assert caught.value.kind == "aborted"
    still_works(engine, confdir)


def test_include_loop_crashes_libpam_in_pam_start(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"ok": "auth required pam_permit.so\n"})
    (confdir / "loop").write_text(f"auth include {confdir / 'loop'}\n")
    with pytest.raises(EngineCrashed) as caught:
        engine.start("loop", "alice", confdir=str(confdir))
    assert str(caught.value) == "SIGSEGV during pam_start"
    assert caught.value.during == "pam_start"
    still_works(engine, confdir)


def test_fork_server_restarts_if_it_dies(engine: Engine, service_dir: ServiceDir) -> None:
    from pamexplorer.engine.client import fork_server

    confdir = service_dir({"ok": "auth required pam_permit.so\n"})
    old = fork_server()
    old.process.kill()
    old.process.wait()
    still_works(engine, confdir)
    assert fork_server() is not old


def test_fork_server_environment_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAMEXPLORER_TEST_SECRET", "do-not-leak")
    monkeypatch.setenv("LANG", "C.UTF-8")
    server = ForkServerClient()
    try:
        # One child through it first: the server is then surely running Python, past its exec
        # (while exec is under way /proc/PID/environ can read empty).
        child = server.spawn()
        child.channel.close()
        os.close(child.output)
        os.close(child.pidfd)
        os.close(child.recorder)
        raw = Path(f"/proc/{server.process.pid}/environ").read_bytes()
    finally:
        server.close()
    env = dict(e.split("=", 1) for e in raw.decode().split("\0") if e)
    allowed = set(INHERITED_ENV) | {"PYTHONPATH", "PYTHONDONTWRITEBYTECODE"}
    assert "PAMEXPLORER_TEST_SECRET" not in env
    assert env["LANG"] == "C.UTF-8"
    assert all(k in allowed or k.startswith("LC_") for k in env), sorted(env)
    for key, value in env.items():
        if key in os.environ and key not in allowed and not key.startswith("LC_"):
            raise AssertionError(f"{key}={value} came from the client environment")


def test_the_fork_server_runs_no_module_and_keeps_no_recorder(
    engine: Engine, service_dir: ServiceDir
) -> None:
    """Its warm-up before the first fork builds transactions without starting one: libpam
    and the shim are loaded there, a module never is; each child's flight recorder is closed
    in the server once the child has it."""
    from pamexplorer.engine.client import fork_server

    confdir = service_dir({"ok": "auth required pam_permit.so\naccount required pam_deny.so\n"})
    still_works(engine, confdir)
    pid = fork_server().process.pid
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "libpam.so" in maps and "_pamtrace.so" in maps
    assert "/security/pam_" not in maps
    held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert not [target for target in held if "pamexplorer-trace" in target], held


def test_requests_after_end_are_refused(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"ok": "auth required pam_permit.so\n"})
    session = engine.start("ok", "alice", confdir=str(confdir))
    assert session.end() is not None
    with pytest.raises(EngineError, match="after the transaction ended"):
        session.call(Function.AUTHENTICATE)
    assert session.end() is None


def test_timeout_per_start(service_dir: ServiceDir, faults: Path) -> None:
    confdir = service_dir({"svc": f"auth required {faults} hang\n"})
    engine = Engine(timeout=None)
    session = engine.start("svc", "alice", confdir=str(confdir), timeout=1)
    with pytest.raises(EngineCrashed, match=r"^timed out after 1 s in pam_authenticate$"):
        session.call(Function.AUTHENTICATE)
