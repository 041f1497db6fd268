"""Engine children as processes (issue 9): death seen by exit status, own process groups, no
terminal, no core, nothing left behind by abort, timeout, signals or a front end that dies."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.engine import Engine, EngineCrashed
from pamexplorer.pam.codes import Code, Function
from tests.engine.inflight import call_in_thread
from tests.engine.procinfo import exists, group_members, parent, read_pid, running, wait_until

ServiceDir = Callable[[dict[str, str]], Path]
ROOT = Path(__file__).resolve().parents[2]
CALL = [sys.executable, "-m", "pamexplorer", "call"]


def env_with_root() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def sleeper(tmp_path: Path) -> tuple[Path, Path]:
    """A command for pam_exec that writes its pid, then sleeps: (script, pid file)."""
    pidfile = tmp_path / "sleeper.pid"
    script = tmp_path / "sleeper.sh"
    script.write_text(
        f"#!/bin/sh\necho $$ > {pidfile}.tmp\nmv {pidfile}.tmp {pidfile}\nexec sleep 60\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, pidfile


# -- death by exit status ------------------------------------------------------------------------


def test_a_crash_with_a_grandchild_holding_the_channel_is_a_crash(
    engine: Engine, service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild"
    confdir = service_dir({"svc": f"auth required {hostile} grandchild-segv {pidfile}\n"})
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    # A timeout here would mean the end of stream was waited for (the grandchild holds it).
    assert (caught.value.kind, str(caught.value)) == ("crash", "SIGSEGV during pam_authenticate")
    grandchild = read_pid(pidfile)
    assert wait_until(lambda: not running(grandchild))  # the child's group went with it


def test_a_crash_leaves_nothing_running_outside_the_group(
    engine: Engine, service_dir: ServiceDir, tmp_path: Path
) -> None:
    """pam_exec's command (a session of its own) kills the engine child, then sleeps on: the
    fork server adopts and kills it."""
    pidfile = tmp_path / "pid"
    script = tmp_path / "killer.sh"
    script.write_text(
        f"#!/bin/sh\necho $$ > {pidfile}.tmp\nmv {pidfile}.tmp {pidfile}\n"
        "kill -SEGV $PPID\nexec sleep 60\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    confdir = service_dir({"svc": f"auth required pam_exec.so {script}\n"})
    session = engine.start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed, match=r"^SIGSEGV during pam_authenticate$"):
        session.call(Function.AUTHENTICATE)
    orphan = read_pid(pidfile)
    assert wait_until(lambda: not running(orphan))


def test_a_module_that_closes_the_channel_is_still_seen_dying(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    confdir = service_dir({"svc": f"auth required {hostile} close-all-pause {pidfile}\n"})
    session = Engine(timeout=1).start("svc", "alice", confdir=str(confdir))
    with pytest.raises(EngineCrashed) as caught:
        session.call(Function.AUTHENTICATE)
    assert caught.value.kind == "timeout"  # not "lost": it lived on without its channel
    assert wait_until(lambda: not running(read_pid(pidfile)))


# -- process groups --------------------------------------------------------------------------------

KILL_ZERO = textwrap.dedent(
    """
    import json, sys
    from pamexplorer.engine import Engine, EngineCrashed
    from pamexplorer.pam.codes import Function
    out = []
    for direct in (True, False):
        session = Engine(timeout=20, direct=direct).start("svc", "alice", confdir=sys.argv[1])
        try:
            session.call(Function.AUTHENTICATE)
            out.append("returned")
        except EngineCrashed as err:
            out.append(str(err))
    print(json.dumps(out))
    """
)


def test_kill_zero_from_a_module_reaches_its_own_group_only(
    service_dir: ServiceDir, hostile: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {hostile} kill-zero\n"})
    # A front end of its own (its own session too): were the signal to escape, pytest lives.
    done = subprocess.run(
        [sys.executable, "-c", KILL_ZERO, str(confdir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_with_root(),
        start_new_session=True,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert json.loads(done.stdout) == ["SIGTERM during pam_authenticate"] * 2


def test_children_lead_their_own_session(engine: Engine, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        assert os.getpgid(session.pid) == session.pid
        assert os.getsid(session.pid) == session.pid


@pytest.mark.parametrize("how", ["abort", "timeout"])
def test_forced_end_kills_what_the_module_started(
    service_dir: ServiceDir, sleeper: tuple[Path, Path], how: str
) -> None:
    script, pidfile = sleeper
    confdir = service_dir({"svc": f"auth required pam_exec.so {script}\n"})
    Engine.prestart()
    session = Engine(timeout=3 if how == "timeout" else 60).start(
        "svc", "alice", confdir=str(confdir)
    )
    worker, outcome = call_in_thread(session)
    sleep_pid = read_pid(pidfile)
    # pam_exec's command is the child's child, in a session of its own (pam_exec calls setsid).
    assert parent(sleep_pid) == session.pid
    if how == "abort":
        session.abort()
    worker.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], EngineCrashed)
    assert outcome[0].kind == ("aborted" if how == "abort" else "timeout")
    assert wait_until(lambda: not running(sleep_pid))
    assert group_members(session.pid) == []


DAEMON = textwrap.dedent(
    """
    import sys
    from pamexplorer.engine import Engine, EngineCrashed
    from pamexplorer.pam.codes import Function
    session = Engine(timeout=2, direct=True).start("svc", "alice", confdir=sys.argv[1])
    try:
        session.call(Function.AUTHENTICATE)
    except EngineCrashed as err:
        print(err.kind)
    """
)


def test_a_daemon_a_module_started_dies_with_the_transaction(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    """fork, setsid, fork, exit: the daemon leaves the child's group and would be PID 1's;
    the child adopts it, so the timeout's kill reaches it (here forked by a one-shot front
    end, which adopts nothing itself)."""
    pidfile = tmp_path / "daemon"
    confdir = service_dir({"svc": f"auth required {hostile} daemon-hang {pidfile}\n"})
    done = subprocess.run(
        [sys.executable, "-c", DAEMON, str(confdir)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env_with_root(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["timeout"]
    daemon = read_pid(pidfile)
    assert wait_until(lambda: not running(daemon))


@pytest.mark.parametrize(
    ("sig", "module"),
    [
        (signal.SIGTERM, "exec"),
        (signal.SIGHUP, "exec"),
        (signal.SIGTERM, "close-all-pause"),
        (signal.SIGHUP, "close-all-pause"),
    ],
)
def test_a_signal_to_call_leaves_no_child_behind(
    service_dir: ServiceDir,
    hostile: Path,
    sleeper: tuple[Path, Path],
    tmp_path: Path,
    sig: signal.Signals,
    module: str,
) -> None:
    script, pidfile = sleeper
    if module == "exec":
        line = f"auth required pam_exec.so {script}\n"
    else:
        line = f"auth required {hostile} {module} {pidfile}\n"
    confdir = service_dir({"svc": line})
    front = subprocess.Popen(
        [*CALL, "--confdir", str(confdir), "svc", "alice", "authenticate"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with_root(),
        start_new_session=True,
    )
    try:
        hung = read_pid(pidfile)
        child = hung if module != "exec" else parent(hung)
        assert child is not None and parent(child) == front.pid  # forked by `call` itself
        front.send_signal(sig)
        _out, err = front.communicate(timeout=60)
    finally:
        if front.poll() is None:
            front.kill()
            front.wait()
    assert front.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert not exists(child)  # killed and reaped before `call` exited
    assert wait_until(lambda: not running(hung))
    assert group_members(child) == []


FRONT_END_DIES = textwrap.dedent(
    """
    import sys
    from pamexplorer.engine import Engine
    from pamexplorer.pam.codes import Function
    session = Engine().start("svc", "alice", confdir=sys.argv[1])
    print(session.pid, flush=True)
    session.call(Function.AUTHENTICATE)  # hangs: killed from outside
    """
)


def test_a_front_end_that_dies_takes_its_hung_children_with_it(
    service_dir: ServiceDir, sleeper: tuple[Path, Path]
) -> None:
    script, pidfile = sleeper
    confdir = service_dir({"svc": f"auth required pam_exec.so {script}\n"})
    front = subprocess.Popen(
        [sys.executable, "-c", FRONT_END_DIES, str(confdir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env_with_root(),
        start_new_session=True,
    )
    assert front.stdout is not None
    child = int(front.stdout.readline())
    sleep_pid = read_pid(pidfile)
    front.kill()  # no cleanup of its own: the fork server must do it
    front.wait()
    assert wait_until(lambda: not running(child) and not running(sleep_pid), 30)


# -- no terminal, no core --------------------------------------------------------------------------

TTY_PROBE = textwrap.dedent(
    """
    import json, os, sys
    os.close(os.open("/dev/tty", os.O_WRONLY))  # this front end does have a terminal
    from pamexplorer.engine import Engine
    from pamexplorer.pam.codes import Function
    out = []
    for direct in (True, False):
        with Engine(timeout=20, direct=direct).start("svc", "alice", confdir=sys.argv[1]) as s:
            out.append(list(s.call(Function.AUTHENTICATE).output))
    print(json.dumps(out))
    """
)


def test_a_module_cannot_open_the_front_ends_terminal(
    service_dir: ServiceDir, hostile: Path
) -> None:
    confdir = service_dir({"svc": f"auth optional {hostile} tty\n"})
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            ["setsid", "--ctty", sys.executable, "-c", TTY_PROBE, str(confdir)],
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=120,
            env=env_with_root(),
        )
        os.set_blocking(master, False)
        try:
            on_terminal = os.read(master, 1 << 16)
        except (BlockingIOError, OSError):
            on_terminal = b""
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    assert len(outputs) == 2
    for output in outputs:
        assert len(output) == 1 and output[0].startswith("tty failed: "), output
    assert b"MODULE-WROTE-TO-TTY" not in on_terminal


def test_children_are_not_dumpable(engine: Engine, service_dir: ServiceDir, hostile: Path) -> None:
    confdir = service_dir({"svc": f"auth optional {hostile} dumpable\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        record = session.call(Function.AUTHENTICATE)
    assert record.code == Code.PAM_SUCCESS
    assert record.output == ("dumpable=0 core=0",)


def test_a_signal_to_run_leaves_no_child_behind(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    profile = tmp_path / "hang.yaml"
    profile.write_text(
        f'service: svc\nconfig: {{svc: "auth required {hostile} hang-pid {pidfile}"}}\n'
        "user: alice\nsteps: [authenticate]\n"
    )
    front = subprocess.Popen(
        [sys.executable, "-m", "pamexplorer", "run", str(profile)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_with_root(),
        start_new_session=True,
    )
    try:
        child = read_pid(pidfile)  # a fork server's child: `run` keeps secrets out of children
        front.send_signal(signal.SIGTERM)
        _out, err = front.communicate(timeout=60)
    finally:
        if front.poll() is None:
            front.kill()
            front.wait()
    assert front.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not running(child)  # killed before `run` exited, not after a grace period
