"""Reports in every format, exit statuses, crashes, timeouts and skips, through the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.cli import main
from pamexplorer.pam.secrets import Secrets
from pamexplorer.profile import ProfileError, loads
from pamexplorer.runner import resolve_answers

ModuleFactory = Callable[[str, str], Path]

SEGV = """
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    volatile int *p = 0; return *p;
}
"""
HANG = """
#include <unistd.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    for (;;) pause();
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["run", *args])
    out, err = capsys.readouterr()
    return status, out, err


PASSING = """
name: Passing
service: svc
config:
  svc: |
    auth required pam_permit.so
    account required pam_deny.so
user: alice
steps:
  - authenticate
  - acct_mgmt: {expect: [PAM_AUTH_ERR, PAM_PERM_DENIED]}
"""
FAILING = """
name: Failing
service: svc
config:
  svc: |
    auth required pam_echo.so hello
    auth required pam_deny.so
user: alice
steps:
  - authenticate: {expect_messages: [goodbye]}
  - acct_mgmt
"""


def test_json_single_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good", PASSING)
    bad = write(tmp_path, "bad", FAILING)
    status, out, _ = run_cli(capsys, "--format", "json", str(good))
    assert status == 0
    data = json.loads(out)
    assert data["profile"] == "good" and data["ok"] is True
    assert [s["function"] for s in data["steps"]] == [
        "pam_start",
        "pam_authenticate",
        "pam_acct_mgmt",
    ]
    acct = data["steps"][2]
    assert (acct["code"], acct["name"], acct["ok"]) == (7, "PAM_AUTH_ERR", True)
    assert acct["expected"] == ["PAM_AUTH_ERR", "PAM_PERM_DENIED"]
    assert acct["text"] == "Authentication failure"
    for key in ("function", "flags", "code", "name", "text", "expected", "ok", "messages"):
        assert key in acct

    status, out, _ = run_cli(capsys, "--format", "json", str(good), str(bad))
    assert status == 1
    both = json.loads(out)
    assert isinstance(both, list) and [r["ok"] for r in both] == [True, False]
    auth = both[1]["steps"][1]
    assert auth["ok"] is False and auth["name"] == "PAM_AUTH_ERR"
    assert auth["messages"] == [{"style": "PAM_TEXT_INFO", "text": "hello", "answer": None}]
    assert any("expected PAM_SUCCESS, got PAM_AUTH_ERR" in p for p in auth["problems"])
    assert any("goodbye" in p for p in auth["problems"])


def test_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good", PASSING)
    bad = write(tmp_path, "bad", FAILING)
    status, out, _ = run_cli(capsys, "--format", "junit", str(good), str(bad))
    assert status == 1
    root = ET.fromstring(out)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["good", "bad"]
    assert [len(s.findall("testcase")) for s in suites] == [3, 3]
    assert suites[0].get("failures") == "0" and suites[1].get("failures") == "2"
    failed = [c.get("name") for c in suites[1].findall("testcase") if c.find("failure") is not None]
    assert failed == ["01 authenticate", "02 acct_mgmt"]
    assert root.get("tests") == "6" and root.get("failures") == "2"


def test_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad", FAILING)
    status, out, _ = run_cli(capsys, str(bad))
    assert status == 1
    assert out.startswith("FAIL  Failing")
    assert "info: hello" in out
    assert "1 profile(s): 1 failed" in out


def test_crash_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], c_module: ModuleFactory
) -> None:
    so = c_module("segv", SEGV)
    path = write(
        tmp_path,
        "crash",
        f"""
service: svc
config: {{svc: "auth required {so}"}}
user: alice
steps: [authenticate, acct_mgmt]
""",
    )
    status, out, _ = run_cli(capsys, "--format", "json", str(path))
    assert status == 3
    data = json.loads(out)
    assert data["status"] == "crashed" and data["ok"] is False
    assert "SIGSEGV" in data["reason"] and "pam_authenticate" in data["reason"]
    assert [s["status"] for s in data["steps"]] == ["passed", "crashed", "not run"]
    # The trace up to the crash: the module that never returned, no rule decided.
    (crashed,) = data["steps"][1]["modules"]
    assert (crashed["line"], crashed["code"], crashed["action"]) == (1, None, "crashed")
    assert data["steps"][1]["decided_by"] is None and data["steps"][1]["trace"]["status"]
    status, out, _ = run_cli(capsys, str(path))
    assert status == 3 and "svc:1" in out and "never returned (crashed)" in out
    status, out, _ = run_cli(capsys, "--format", "junit", str(path))
    assert status == 3
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("skipped") == "1"


def test_timeout_is_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], c_module: ModuleFactory
) -> None:
    so = c_module("hang", HANG)
    path = write(
        tmp_path,
        "hang",
        f"""
service: svc
config: {{svc: "auth required {so}"}}
user: alice
timeout: 0.5
steps: [authenticate]
""",
    )
    status, out, _ = run_cli(capsys, "--format", "json", str(path))
    assert status == 3
    data = json.loads(out)
    assert data["status"] == "crashed" and "timed out" in data["reason"]


def test_absent_service_and_user_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_service = write(tmp_path, "nosvc", "service: pamexplorer-absent\nsteps: [acct_mgmt]\n")
    no_user = write(
        tmp_path, "nouser", "service: other\nuser: pamexplorer-nobody-x\nsteps: [acct_mgmt]\n"
    )
    status, out, _ = run_cli(capsys, "--format", "json", str(no_service), str(no_user))
    assert status == 0
    data = json.loads(out)
    assert [r["status"] for r in data] == ["skipped", "skipped"]
    assert "pamexplorer-absent" in data[0]["reason"]
    assert "pamexplorer-nobody-x" in data[1]["reason"]
    status, out, _ = run_cli(capsys, str(no_service))
    assert "skipped: service 'pamexplorer-absent' is not configured" in out
    status, out, _ = run_cli(capsys, "--format", "junit", str(no_user))
    case = ET.fromstring(out).find("testsuite/testcase")
    assert case is not None and case.find("skipped") is not None


def test_bad_profile_among_good_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good", PASSING)
    bad = write(tmp_path, "broken", "service: x\nsteps: [authentikate]\n")
    status, out, err = run_cli(capsys, "--format", "json", str(good), str(bad))
    assert status == 2
    assert err.startswith(f"pamexplorer: {bad}:2: steps[0]: expected")
    data = json.loads(out)
    assert [r["status"] for r in data] == ["passed", "error"]


def test_run_by_bundled_name(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "lab-requisite")
    assert status == 0 and out.startswith("PASS  Keyword controls: requisite")


def test_missing_env_answer_is_a_profile_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAMEXPLORER_TEST_UNSET", raising=False)
    profile = loads(
        "service: s\nconfig: lab\nanswers:\n  - answer: {env: PAMEXPLORER_TEST_UNSET}\n"
        "steps: [authenticate]\n",
        "p.yaml",
    )
    with pytest.raises(ProfileError, match=r"^p.yaml:4: answers\[0\].answer.env: expected"):
        resolve_answers(profile, Secrets())
