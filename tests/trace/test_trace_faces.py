"""What the faces show of a trace: ``call`` (text and JSON), ``simulate`` in the same form,
and "trace unavailable" when the shim was not built."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.calltext import record_json, trace_lines
from pamexplorer.cli import main
from pamexplorer.engine import Engine
from pamexplorer.engine import tracer as tracer_module
from pamexplorer.engine.trace.build import NO_COMPILER, build_shim
from pamexplorer.engine.tracer import TracedTransaction
from pamexplorer.pam.codes import Function
from tests.cli.conftest import run_cli

ServiceDir = Callable[[dict[str, str]], Path]

SERVICE = (
    "auth [success=1 default=ignore] pam_debug.so auth=auth_err\n"
    "auth requisite pam_deny.so\n"
    "auth required pam_permit.so\n"
    "account required pam_debug.so acct=acct_expired\n"
    "account required pam_permit.so\n"
)


def test_call_text_shows_each_rule_and_the_decider(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": SERVICE})
    args = ("call", "--keep-going", "--confdir", str(confdir), "svc", "alice")
    result = run_cli(*args, "authenticate", "acct_mgmt")
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert re.search(r"svc:1 +pam_debug.so +PAM_AUTH_ERR \(7\) +-> ignore +\d+\.\d ms", out)
    assert re.search(r"svc:2 +pam_deny.so +PAM_AUTH_ERR \(7\) +-> die", out)
    assert re.search(r"svc:3 +pam_permit.so +not run: svc:2 \(die\) ended the stack", out)
    assert "decided by svc:2 pam_deny.so (die)" in out
    assert "decided by svc:4 pam_debug.so (bad)" in out
    quiet = run_cli(*args, "-q", "authenticate", "acct_mgmt").stdout
    assert "decided by" not in quiet and "pam_deny.so" not in quiet
    assert not any(
        marker in line for line in quiet.splitlines() for marker in (" -> ", "not run:", "log ")
    )
    assert "info: acct=acct_expired" in quiet  # the call's own details stay


def test_call_json_has_modules_and_decided_by(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": SERVICE})
    result = run_cli(
        "call", "--format", "json", "--confdir", str(confdir), "svc", "alice", "acct_mgmt"
    )
    data = json.loads(result.stdout)
    (call,) = data["calls"]
    assert call["decided_by"] == "svc:4 pam_debug.so (bad)"
    assert call["trace"] == {
        "status": "traced",
        "reason": "",
        "disagreement": "",
        "log": [],
    }
    first, second = call["modules"]
    spec = {"file", "line", "type", "control", "module", "function", "flags", "code", "name"}
    assert spec | {"action", "duration_ms", "messages", "log"} <= set(first)
    assert (first["line"], first["function"], first["code"], first["name"]) == (
        4,
        "pam_sm_acct_mgmt",
        13,
        "PAM_ACCT_EXPIRED",
    )
    assert (first["type"], first["control"], first["action"]) == ("account", "required", "bad")
    assert (second["code"], second["action"], second["ran"]) == (0, "ok", True)
    assert data["start"]["log"] == ["PAM _pam_init_handlers: no default config other"]


def test_simulate_prints_the_path_in_the_traces_form(
    service_dir: ServiceDir, capsys: pytest.CaptureFixture[str]
) -> None:
    confdir = service_dir({"svc": SERVICE})
    ops = ("authenticate", "setcred", "acct_mgmt")
    assert main(["simulate", "--confdir", str(confdir), "svc", *ops]) == 0
    simulated = capsys.readouterr().out.splitlines()
    called = run_cli("call", "--keep-going", "--confdir", str(confdir), "svc", "a", *ops)
    traced = called.stdout.splitlines()

    def rules(lines: list[str]) -> list[str]:
        # the same lines, once the call's durations and its pam_end are left out
        return [
            re.sub(r"  \d+\.\d ms", "", line)
            for line in lines
            if line.startswith("    ") and not line.startswith(("    info:", "    log "))
        ]

    assert rules(simulated) == rules(traced)
    assert "    decided by svc:2 pam_deny.so (die)" in simulated
    assert main(["simulate", "--format", "json", "--confdir", str(confdir), "svc", *ops]) == 0
    first = json.loads(capsys.readouterr().out)["calls"][0]
    assert first["decided_by"] == {"file": f"{confdir}/svc", "line": 2, "module": "pam_deny.so"}
    assert first["not_run"] == [
        {
            "file": f"{confdir}/svc",
            "line": 3,
            "module": "pam_permit.so",
            "why": "svc:2 (die) ended the stack",
        }
    ]


def test_without_the_shim_every_face_says_why(
    monkeypatch: pytest.MonkeyPatch, service_dir: ServiceDir
) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    monkeypatch.setattr(tracer_module, "_shim", None)
    monkeypatch.setattr(tracer_module, "_reason", NO_COMPILER)
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    txn.start()
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert record.code == 0 and record.trace is not None
    assert record.trace.status == "unavailable" and record.trace.reason == NO_COMPILER
    assert list(trace_lines(record.trace)) == ["    trace unavailable: built without a C compiler"]
    assert record_json(record)["trace"]["status"] == "unavailable"
    if threading.active_count() == 1:  # a direct fork: the child inherits this state
        with Engine(timeout=30, direct=True).start("svc", "alice", str(confdir)) as session:
            through_engine = session.call(Function.AUTHENTICATE)
        assert through_engine.trace is not None
        assert through_engine.trace.reason == NO_COMPILER


def test_build_shim_without_a_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built = tmp_path / "shim.so"
    assert build_shim(built) is None and built.read_bytes()[:4] == b"\x7fELF"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    assert build_shim(tmp_path / "other.so") == NO_COMPILER
    assert not (tmp_path / "other.so").exists()
