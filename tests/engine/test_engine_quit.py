"""Ranges and quitting (issue 9): timeouts the engine can honour; calls in flight killed at
once, idle transactions ended with pam_end."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.engine import (
    MAX_TIMEOUT,
    AsyncEngine,
    Engine,
    EngineCrashed,
    EngineError,
    TimeoutRangeError,
)
from pamexplorer.pam.codes import Code, Function
from tests.engine.inflight import call_in_thread
from tests.engine.procinfo import read_text, wait_until

ServiceDir = Callable[[dict[str, str]], Path]
CALL = [sys.executable, "-m", "pamexplorer", "call"]


@pytest.mark.parametrize("bad", [0, -1, MAX_TIMEOUT + 1, 1e300, math.inf, math.nan, True])
def test_timeouts_out_of_range_are_refused(bad: float, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    with pytest.raises(TimeoutRangeError, match="expected seconds above 0 and at most 86400"):
        Engine(timeout=bad)
    with pytest.raises(ValueError):
        Engine().start("svc", "alice", confdir=str(confdir), timeout=bad)
    with pytest.raises(EngineError):  # a face reporting engine errors reports this one
        Engine().start("svc", "alice", confdir=str(confdir), timeout=bad)


def test_the_longest_timeout_works(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    with Engine(timeout=MAX_TIMEOUT).start("svc", "alice", confdir=str(confdir)) as session:
        assert session.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS


@pytest.mark.parametrize("value", ["1e300", "86401", "inf", "nan", "0", "-3"])
def test_call_refuses_a_timeout_out_of_range(value: str, service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    done = subprocess.run(
        [*CALL, f"--timeout={value}", "--confdir", str(confdir), "svc", "alice", "authenticate"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "pamexplorer: call: --timeout: expected a number of seconds above 0 and at most 86400"
    ]


def test_close_from_another_thread_kills_the_call_in_flight(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    confdir = service_dir({"svc": f"auth required {hostile} hang-pid {pidfile}\n"})
    Engine.prestart()
    session = Engine(timeout=60).start("svc", "alice", confdir=str(confdir))
    fds_before = len(os.listdir("/proc/self/fd"))
    worker, outcome = call_in_thread(session)
    assert wait_until(lambda: pidfile.exists() and session.in_flight is not None)
    session.close()  # the TUI quitting: must not wait for the module
    assert not session.open
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], EngineCrashed)
    assert outcome[0].kind == "aborted"
    # The worker closed the channel, the pipe, the pidfd and the flight recorder, not the
    # quitting thread.
    assert len(os.listdir("/proc/self/fd")) == fds_before - 4


def test_close_all_kills_calls_in_flight_and_ends_idle_sessions(
    service_dir: ServiceDir, hostile: Path, faults: Path, tmp_path: Path
) -> None:
    pidfile, marker = tmp_path / "pid", tmp_path / "marker"
    confdir = service_dir(
        {
            "hang": f"auth required {hostile} hang-pid {pidfile}\n",
            "idle": f"auth required {faults} ok {marker}\n",
        }
    )
    Engine.prestart()
    engine = Engine(timeout=60)
    hung = engine.start("hang", "alice", confdir=str(confdir))
    idle = engine.start("idle", "alice", confdir=str(confdir))
    assert idle.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
    worker, outcome = call_in_thread(hung)
    assert wait_until(lambda: pidfile.exists() and hung.in_flight is not None)
    Engine.close_all()
    worker.join(timeout=30)
    assert [getattr(e, "kind", None) for e in outcome] == ["aborted"]
    assert not idle.open and not hung.open
    assert read_text(marker) == "pam_end 0"  # the idle one got pam_end, its cleanup ran


async def test_async_close_in_flight_returns_at_once(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    import asyncio

    pidfile = tmp_path / "pid"
    confdir = service_dir({"svc": f"auth required {hostile} hang-pid {pidfile}\n"})
    engine = AsyncEngine(timeout=60)
    await engine.prestart()
    session = await engine.start("svc", "alice", confdir=str(confdir))
    call = asyncio.ensure_future(session.call(Function.AUTHENTICATE))
    while not pidfile.exists() or session.in_flight is None:
        await asyncio.sleep(0.01)
    await session.close()
    with pytest.raises(EngineCrashed) as caught:
        await asyncio.wait_for(call, 30)
    assert caught.value.kind == "aborted" and not session.open


def test_a_second_request_while_one_is_in_flight_is_refused(
    service_dir: ServiceDir, hostile: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    confdir = service_dir({"svc": f"auth required {hostile} hang-pid {pidfile}\n"})
    Engine.prestart()
    session = Engine(timeout=60).start("svc", "alice", confdir=str(confdir))
    worker, outcome = call_in_thread(session)
    assert wait_until(lambda: pidfile.exists() and session.in_flight is not None)
    with pytest.raises(EngineError, match=r"^pam_get_item while pam_authenticate is in flight$"):
        session.get_item("user")
    with pytest.raises(EngineError, match="in flight"):
        session.end()
    assert session.open  # neither refusal touched the transaction
    session.close()
    worker.join(timeout=30)
    assert [getattr(e, "kind", None) for e in outcome] == ["aborted"]
