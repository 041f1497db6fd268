"""Every path that can still reach pam_end does: interrupted prompts, failed starts, threads,
and a front end that exits with a transaction open."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pamexplorer.engine import Engine, EngineCrashed, EngineError
from pamexplorer.engine.client import DirectForker, fork_server
from pamexplorer.pam.codes import Function
from pamexplorer.pam.conversation import Message
from tests.engine.procinfo import read_text


class InterruptedAtPrompt:
    """A person pressing Ctrl-C at the password prompt."""

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        raise KeyboardInterrupt


def test_ctrl_c_at_a_prompt_refuses_it_and_pam_end_still_runs(
    service_dir, password_module: Path, faults: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    confdir = service_dir(
        {"svc": f"auth optional {faults} ok {marker}\nauth required {password_module} pw\n"}
    )
    session = Engine(timeout=10).start(
        "svc", "alice", confdir=str(confdir), conversation=InterruptedAtPrompt()
    )
    with pytest.raises(KeyboardInterrupt):
        session.call(Function.AUTHENTICATE)
    assert session.in_flight is None  # the call's reply was read: the child is idle
    assert session.get_item("user") == "alice"  # the next request gets its own reply
    record = session.end()
    assert record is not None and record.function == "pam_end"
    assert read_text(marker).startswith("pam_end ")


def test_a_failed_start_leaves_no_descriptor_or_child(service_dir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    engine = Engine(timeout=10)
    engine.start("svc", "alice", confdir=str(confdir)).end()  # warm: the fork server is up
    gc.collect()  # sessions left by earlier tests close their descriptors now, not mid-count
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(EngineError, match="cannot be set"):
            engine.start("svc", "alice", confdir=str(confdir), items={"service": "other"})
    assert len(os.listdir("/proc/self/fd")) == before


def test_direct_forking_gives_way_to_the_fork_server_when_threads_run(
    service_dir, faults: Path
) -> None:
    confdir = service_dir({"svc": f"auth required {faults} segv\n"})
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        session = Engine(timeout=10, direct=True).session()
        assert not isinstance(session.server, DirectForker)
        assert session.server is fork_server()
        session.start("svc", "alice", confdir=str(confdir))
        with pytest.raises(EngineCrashed, match="SIGSEGV during pam_authenticate"):
            session.call(Function.AUTHENTICATE)
    finally:
        stop.set()
        worker.join()


EXITS_WITH_A_SESSION_OPEN = textwrap.dedent(
    """
    import sys
    from pamexplorer.engine import Engine
    from pamexplorer.pam.codes import Function
    session = Engine(timeout=10).start("svc", "alice", confdir=sys.argv[1])
    session.call(Function.AUTHENTICATE)
    print(session.pid, flush=True)
    # no end(): the process just exits
    """
)


def test_a_front_end_that_exits_with_a_session_open_still_gets_pam_end(
    service_dir, faults: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    confdir = service_dir({"svc": f"auth required {faults} ok {marker}\n"})
    done = subprocess.run(
        [sys.executable, "-c", EXITS_WITH_A_SESSION_OPEN, str(confdir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert read_text(marker) == "pam_end 0"
