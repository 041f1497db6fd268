"""``Engine(direct=True)``: children forked straight from a single-threaded front end.

Each check runs in a fresh interpreter, so the process really has one thread (pytest's may
not), and asserts the child's parent is that interpreter, not the fork server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pamexplorer.engine import Engine, EngineCrashed
    from pamexplorer.pam.codes import Function

    confdir, service, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    engine = Engine(timeout=timeout, direct=True)
    out = {}
    session = engine.start(service, "alice", confdir=confdir)
    with open(f"/proc/{session.pid}/stat") as stat:
        out["child_parent_is_us"] = int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    try:
        record = session.call(Function.AUTHENTICATE)
        out["code"] = record.code
        out["output"] = list(record.output)
    except EngineCrashed as err:
        out["error"] = str(err)
        out["crash_output"] = session.crash_output
    session.end()
    again = engine.start(service, "alice", confdir=confdir)
    out["again"] = again.start_record.code
    again.end()
    print(json.dumps(out))
    """
)


def run_direct(confdir: Path, service: str, timeout: float = 10, **env: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(confdir), service, str(timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def confdir(service_dir, c_module) -> Path:
    env_probe = c_module(
        "envprobe",
        """
        #include <stdio.h>
        #include <stdlib.h>
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            printf("secret %s\\n", getenv("PAMX_SECRET") ? "present" : "absent");
            return getenv("PAMX_SECRET") ? 7 : 0;
        }
        """,
    )
    segv = c_module(
        "segv-direct",
        """
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            *(volatile int *)0 = 1; return 0;
        }
        """,
    )
    hang = c_module(
        "hang-direct",
        """
        #include <unistd.h>
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            sleep(60); return 0;
        }
        """,
    )
    return service_dir(
        {
            "probe": f"auth required {env_probe}\n",
            "segv": f"auth required {segv}\n",
            "hang": f"auth required {hang}\n",
        }
    )


def test_child_is_forked_here_and_gets_no_foreign_environment(confdir: Path) -> None:
    result = run_direct(confdir, "probe", PAMX_SECRET="hunter2")
    assert result["child_parent_is_us"] is True
    assert result["code"] == 0
    assert result["output"] == ["secret absent"]
    assert result["again"] == 0


def test_crash_is_reported_and_the_next_transaction_works(confdir: Path) -> None:
    result = run_direct(confdir, "segv")
    assert result["error"] == "SIGSEGV during pam_authenticate"
    assert result["again"] == 0


def test_timeout_kills_the_child(confdir: Path) -> None:
    result = run_direct(confdir, "hang", timeout=1)
    assert result["error"] == "timed out after 1 s in pam_authenticate"
    assert result["again"] == 0


def test_a_grandchild_holding_the_channel_does_not_hide_a_crash(
    service_dir, hostile: Path, tmp_path: Path
) -> None:
    from tests.engine.procinfo import read_pid, running, wait_until

    pidfile = tmp_path / "grandchild"
    confdir = service_dir({"gc": f"auth required {hostile} grandchild-segv {pidfile}\n"})
    result = run_direct(confdir, "gc", timeout=30)  # a timeout would mean EOF was awaited
    assert result["child_parent_is_us"] is True
    assert result["error"] == "SIGSEGV during pam_authenticate"
    assert wait_until(lambda: not running(read_pid(pidfile)))  # its group was killed
