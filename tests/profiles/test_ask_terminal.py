"""``{ask: true}`` on a real terminal (a pty): asked without echo and never shown; end of input
is a refused answer (PAM_CONV_ERR for the module), not a traceback."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TYPED = "typed-at-the-terminal-77"
PROFILE = """
service: svc
config:
  svc: |
    auth required pam_exec.so expose_authtok /usr/bin/true
    auth required pam_unix.so try_first_pass
user: no-such-user-here
answers:
  - answer: {ask: true}
steps:
  - authenticate: {expect: [PAM_AUTH_ERR, PAM_USER_UNKNOWN]}
"""


def run_on_a_terminal(path: Path, keys: bytes) -> tuple[int, str]:
    """``pamexplorer run PATH`` on a pty; ``keys`` are typed once the question shows."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        os.chdir(ROOT)
        os.execvp(sys.executable, [sys.executable, "-m", "pamexplorer", "run", str(path)])
    out, typed = b"", False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if b"[pamexplorer]" in out and not typed:
            os.write(fd, keys)
            typed = True
    os.close(fd)
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)  # a hang: the test fails instead of waiting forever
    os.waitpid(pid, 0)
    return -1, out.decode("utf-8", "replace") + "\n(still running: killed)"


@pytest.fixture
def ask_profile(tmp_path: Path) -> Path:
    path = tmp_path / "ask.yaml"
    path.write_text(PROFILE)
    return path


def test_asked_answer_is_not_echoed_or_shown(ask_profile: Path) -> None:
    status, out = run_on_a_terminal(ask_profile, TYPED.encode() + b"\n")
    assert status == 0, out
    assert "[pamexplorer] Password:" in out
    assert "prompt (echo off): Password:   -> ********" in out
    assert TYPED not in out


def test_end_of_input_refuses_the_answer(ask_profile: Path) -> None:
    status, out = run_on_a_terminal(ask_profile, b"\x04")
    assert status == 1, out
    assert "Traceback" not in out
    assert "PAM_CONV_ERR" in out


def test_interrupt_at_the_question_ends_the_run(ask_profile: Path) -> None:
    """Ctrl-C while asked: the run ends at once (130), as it did before the event loop."""
    status, out = run_on_a_terminal(ask_profile, b"\x03")
    assert status == 130, out
    assert "Traceback" not in out
