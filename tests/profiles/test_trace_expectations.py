"""``run`` and the per-module trace: every report shows the deciding rule and the log lines, a
step may expect them (``expect_decided_by``, ``expect_log``), and a build without a trace
makes such a step an error, never a silent pass. All against the real libpam and modules."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.cli import main
from pamexplorer.engine import tracer as tracer_module
from pamexplorer.engine.trace.build import NO_COMPILER
from pamexplorer.engine.tracer import TracedTransaction
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.records import CallRecord
from pamexplorer.pam.secrets import Secrets
from pamexplorer.profile import Expectation, ProfileError, bundled_dir, load, loads
from pamexplorer.profile.reader import DECIDED_BY_EXPECTED
from pamexplorer.report import render
from pamexplorer.runner import ERROR, FAILED, PASSED, call_step, conclude, run_profile

# An unknown user: pam_unix logs "could not identify user" and returns PAM_USER_UNKNOWN,
# "default=ignore" passes it on, and pam_deny (line 2) decides. Debian's common-account.
UNKNOWN = "pamexplorer-no-such-user"
ServiceDir = Callable[[dict[str, str]], Path]
ACCOUNT = (
    "account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n"
    "account requisite pam_deny.so\n"
    "account required pam_permit.so\n"
)


def profile(step_options: str, user: str = UNKNOWN, service: str = ACCOUNT) -> str:
    body = "".join(f"    {line}\n" for line in service.strip().splitlines())
    return (
        f"name: Trace\nservice: svc\nconfig:\n  svc: |\n{body}user: {user}\n"
        f"steps:\n  - acct_mgmt:\n      expect: PAM_AUTH_ERR\n{step_options}"
    )


def run_text(text: str, tmp_path: Path, name: str = "trace.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- judging --------------------------------------------------------------------------------


def test_the_deciding_line_and_the_log_line_are_met() -> None:
    result = run_profile(
        loads(
            profile(
                "      expect_decided_by: svc:2\n"
                "      expect_log: ['could not identify user', 'getpwnam\\(pamexplorer-no-']\n"
            )
        )
    )
    step = result.steps[1]
    assert result.status is PASSED, step.problems
    assert step.decided_by == "svc:2 pam_deny.so (die)"
    assert step.log == (
        f"err: pam_unix(svc:account): could not identify user (from getpwnam({UNKNOWN}))",
    )


def test_a_module_name_and_a_full_path_name_the_rule_too() -> None:
    for expected in ("pam_deny.so", "/usr/lib/x86_64-linux-gnu/security/pam_deny.so", "/x/svc:2"):
        result = run_profile(loads(profile(f"      expect_decided_by: {expected}\n")))
        assert result.status is PASSED, (expected, result.steps[1].problems)


def test_another_deciding_line_fails_the_step_saying_what_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_text(profile("      expect_decided_by: svc:1\n"), tmp_path)
    result = run_profile(load(path))
    assert result.status is FAILED
    assert result.steps[1].problems == (
        "expected decided by svc:1, got decided by svc:2 pam_deny.so (die)",
    )
    assert main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert "! expected decided by svc:1, got decided by svc:2 pam_deny.so (die)" in out

    by_module = run_profile(loads(profile("      expect_decided_by: pam_unix.so\n")))
    assert by_module.steps[1].problems == (
        "expected decided by pam_unix.so, got decided by svc:2 pam_deny.so (die)",
    )


def test_a_log_pattern_no_line_matches_fails_the_step() -> None:
    result = run_profile(loads(profile("      expect_log: ['has expired', 'could not']\n")))
    assert result.status is FAILED
    (problem,) = result.steps[1].problems
    assert problem.startswith("expected a log line matching /has expired/, got 'pam_unix(")


def test_an_empty_log_list_means_nothing_logged() -> None:
    deny = "account required pam_deny.so\n"
    quiet = run_profile(loads(profile("      expect_log: []\n", service=deny)))
    assert quiet.status is PASSED, quiet.steps[1].problems
    noisy = run_profile(loads(profile("      expect_log: []\n")))
    assert noisy.status is FAILED
    assert noisy.steps[1].problems[0].startswith("expected no log lines, got 'pam_unix(")


def test_a_listfile_refusal_is_named_by_its_line(tmp_path: Path) -> None:
    refused = tmp_path / "refused"
    refused.write_text("bob\n")
    service = (
        f"account required pam_listfile.so item=user sense=deny file={refused} onerr=succeed\n"
        "account required pam_deny.so\n"
        "account required pam_permit.so\n"
    )
    options = "      expect_decided_by: svc:1\n      expect_log: ['Refused user bob']\n"
    result = run_profile(loads(profile(options, user="bob", service=service)))
    # Both lines fail; required keeps the first failure: line 1 decided, not pam_deny.
    assert result.status is PASSED, result.steps[1].problems


# -- reports --------------------------------------------------------------------------------


def test_every_format_shows_the_modules_the_decider_and_the_log(tmp_path: Path) -> None:
    result = run_profile(load(run_text(profile("      expect_decided_by: svc:2\n"), tmp_path)))
    text = render([result], "text")
    assert "decided by svc:2 pam_deny.so (die)" in text
    assert "    log err: pam_unix(svc:account): could not identify user" in text
    assert re.search(r"\n {8}svc:3 +pam_permit\.so +not run: svc:2 \(die\) ended the stack\n", text)

    data = json.loads(render([result], "json"))
    step = data["steps"][1]
    assert step["decided_by"] == "svc:2 pam_deny.so (die)"
    assert [(m["line"], m["name"], m["action"], m["ran"]) for m in step["modules"]] == [
        (1, "PAM_USER_UNKNOWN", "ignore", True),
        (2, "PAM_AUTH_ERR", "die", True),
        (3, "", "", False),
    ]
    assert step["log"] == [
        f"pam_unix(svc:account): could not identify user (from getpwnam({UNKNOWN}))"
    ]
    assert step["trace"]["status"] == "traced"
    assert data["steps"][0]["modules"] == [] and data["steps"][0]["decided_by"] is None

    suite = ET.fromstring(render([result], "junit"))
    out = suite.findall(".//testcase")[1].find("system-out")
    assert out is not None and out.text is not None
    assert "decided by svc:2 pam_deny.so (die)" in out.text
    assert "log err: pam_unix(svc:account): could not identify user" in out.text


def test_a_failing_step_carries_the_trace_in_its_junit_failure(tmp_path: Path) -> None:
    result = run_profile(load(run_text(profile("      expect_decided_by: svc:3\n"), tmp_path)))
    suite = ET.fromstring(render([result], "junit"))
    failure = suite.findall(".//testcase")[1].find("failure")
    assert failure is not None and failure.text is not None
    assert (
        failure.get("message")
        == "expected decided by svc:3, got decided by svc:2 pam_deny.so (die)"
    )
    assert "decided by svc:2 pam_deny.so (die)" in failure.text


# -- without a trace ------------------------------------------------------------------------


def untraced_record(monkeypatch: pytest.MonkeyPatch, service_dir: ServiceDir) -> CallRecord:
    """A real pam_acct_mgmt whose trace is "unavailable" (the shim not loaded), as a build
    without a C compiler records every call."""
    confdir = service_dir({"svc": ACCOUNT})
    monkeypatch.setattr(tracer_module, "_shim", None)
    monkeypatch.setattr(tracer_module, "_reason", NO_COMPILER)
    txn = TracedTransaction("svc", UNKNOWN, confdir=str(confdir))
    txn.start()
    record = txn.call(Function.ACCT_MGMT)
    txn.end()
    return record


def test_without_a_trace_a_step_expecting_it_is_an_error(
    monkeypatch: pytest.MonkeyPatch, service_dir: ServiceDir
) -> None:
    record = untraced_record(monkeypatch, service_dir)
    for expect in (
        Expectation(codes=(Code.PAM_AUTH_ERR,), decided_by="svc:2"),
        Expectation(codes=(Code.PAM_AUTH_ERR,), log=("could not identify",)),
    ):
        step = call_step(1, "acct_mgmt", record, expect, Secrets())
        assert step.status is ERROR
        assert step.problems == ("trace unavailable: built without a C compiler",)
        result = conclude(loads(profile("")), [step])
        assert result.status is ERROR and result.exit_status == 2
        text = render([result], "text")
        assert "ERR  acct_mgmt" in text
        assert "! trace unavailable: built without a C compiler" in text
        assert text.count("trace unavailable") == 2  # once for the run, once as the problem
        junit = ET.fromstring(render([result], "junit"))
        error = junit.find(".//testcase/error")
        assert error is not None
        assert error.get("message") == "trace unavailable: built without a C compiler"
    plain = call_step(1, "acct_mgmt", record, Expectation(codes=(Code.PAM_AUTH_ERR,)), Secrets())
    assert plain.status is PASSED  # a step expecting no trace does not need one


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("common-account", DECIDED_BY_EXPECTED),
        ("svc:0", DECIDED_BY_EXPECTED),
        ("svc:two", DECIDED_BY_EXPECTED),
        ("'svc 2'", DECIDED_BY_EXPECTED),
        ("'.so'", DECIDED_BY_EXPECTED),
        ("'/:3'", DECIDED_BY_EXPECTED),
        ("{file: svc}", "expected text, got a mapping"),
        ("''", "expected non-empty text"),
    ],
)
def test_a_bad_expect_decided_by_names_file_line_and_field(value: str, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        loads(profile(f"      expect_decided_by: {value}\n"), "p.yaml")
    message = str(caught.value)
    assert message.startswith("p.yaml:12: steps[0].acct_mgmt.expect_decided_by: "), message
    assert problem in message and "\n" not in message


@pytest.mark.parametrize(
    ("value", "field", "problem"),
    [
        ("has expired", "expect_log", "expected a list of patterns, each found in some log line"),
        ("{a: b}", "expect_log", "expected a list of patterns"),
        ("['(a+)+']", "expect_log[0]", "without a repeat inside a repeat"),
        ("['ok', '[unclosed']", "expect_log[1]", "expected a regular expression"),
        ("['']", "expect_log[0]", "expected non-empty text"),
    ],
)
def test_a_bad_expect_log_names_file_line_and_field(value: str, field: str, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        loads(profile(f"      expect_log: {value}\n"), "p.yaml")
    message = str(caught.value)
    assert message.startswith(f"p.yaml:12: steps[0].acct_mgmt.{field}: "), message
    assert problem in message


def test_a_bad_expectation_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_text(profile("      expect_decided_by: nowhere\n"), tmp_path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:12: steps[0].acct_mgmt.expect_decided_by:" in err


def test_expectations_are_kept_in_the_model() -> None:
    parsed = loads(
        profile("      expect_decided_by: /etc/pam.d/common-account:19\n      expect_log: [x]\n")
    )
    step = parsed.steps[0]
    assert step.expect.decided_by == "common-account:19"
    assert step.expect.log == ("x",)
    assert loads(profile("")).steps[0].expect.needs_trace is False


# -- the curriculum -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lab-which-line", "admin-which-line"])
def test_the_which_line_profiles_are_judged_by_the_trace(name: str) -> None:
    directory = bundled_dir()
    assert directory is not None
    parsed = load(directory / f"{name}.yaml")
    assert parsed.lesson is not None and parsed.lesson.hints and parsed.lesson.explanation
    judged = [s for s in parsed.steps if s.expect.decided_by is not None]
    assert judged and all(s.expect.log is not None for s in judged)
    result = run_profile(parsed)
    assert result.status is PASSED, [(s.step, s.problems) for s in result.steps]
    deciders = [s.decided_by for s in result.steps if s.function == "pam_acct_mgmt"]
    if name == "lab-which-line":
        assert deciders == [
            "lab-which-line:4 pam_listfile.so (bad)",
            "lab-which-line:5 pam_listfile.so (bad)",
            "lab-which-line:6 pam_permit.so (ok)",
        ]
    else:
        assert deciders == ["sshd:10 pam_deny.so (die)"]
