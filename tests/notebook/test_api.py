"""``pamexplorer.open`` and the views: real libpam through the engine, shown as HTML and text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pamexplorer
from pamexplorer.pam.codes import Code, Flag, MessageStyle
from pamexplorer.pam.records import REDACTED
from tests.engine.engine_csrc import FAULTS

HOSTILE = "<img src=x onerror=alert(1)>&\x1b[31m"


@pytest.fixture
def confdir(service_dir) -> Path:
    return service_dir(
        {
            "echo": "auth required pam_echo.so <b>bold</b>\nauth required pam_permit.so\n",
            "deny": "auth required pam_deny.so\naccount required pam_permit.so\n",
            "crash": "auth include\n",
        }
    )


def test_open_on_the_lab_fails_then_succeeds() -> None:
    with pamexplorer.open("lab-login", "alice", lab=True, answers=["wrong"]) as t:
        record = t.authenticate()
        assert (record.code, record.name) == (Code.PAM_AUTH_ERR, "PAM_AUTH_ERR")
        assert [m.answer for m in record.messages] == [REDACTED]
        confdir = Path(t.confdir or "")
        assert confdir.is_dir()
    assert not confdir.exists()  # the lab's private copy is removed on close
    with pamexplorer.open(
        "lab-login", "alice", lab=True, answers={"(?i)password": "wonderland"}
    ) as t:
        assert t.authenticate().code == Code.PAM_SUCCESS
        assert t.call("setcred(PAM_ESTABLISH_CRED)").flags == Flag.PAM_ESTABLISH_CRED
        assert t.acct_mgmt("PAM_SILENT").flags == Flag.PAM_SILENT
        end = t.end()
    assert end is not None and end.function == "pam_end"
    assert [r.function for r in t.records] == [
        "pam_start",
        "pam_authenticate",
        "pam_setcred",
        "pam_acct_mgmt",
        "pam_end",
    ]


def test_a_callback_answers_and_no_answer_gives_conv_err(service_dir, c_module) -> None:
    conv = c_module(
        "conv-rc",
        """
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            return converse_one(h, PAM_PROMPT_ECHO_ON, "Code: ", NULL);
        }
        """,
    )
    confdir = service_dir({"conv": f"auth required {conv}\n"})
    seen = []

    def answer(message):
        seen.append((message.style, message.text))
        return "42"

    with pamexplorer.open("conv", "alice", confdir=confdir, conversation=answer) as t:
        record = t.authenticate()
    assert record.code == Code.PAM_SUCCESS
    assert seen == [(MessageStyle.PAM_PROMPT_ECHO_ON, "Code: ")]
    assert record.messages[0].answer == "42"
    with pamexplorer.open("conv", "alice", confdir=confdir) as t:
        assert t.authenticate().code == Code.PAM_CONV_ERR


def test_a_crash_raises_and_shows_in_the_timeline(service_dir, c_module) -> None:
    faults = c_module("faults", FAULTS)
    confdir = service_dir({"segv": f"auth required {faults} print-segv\n"})
    t = pamexplorer.open("segv", "alice", confdir=confdir)
    with pytest.raises(pamexplorer.EngineCrashed, match=r"^SIGSEGV during pam_authenticate$"):
        t.authenticate()
    assert t.state.value == "crashed"
    assert "SIGSEGV during pam_authenticate" in t._repr_html_()
    assert "CRASH: SIGSEGV during pam_authenticate" in repr(t)
    assert t.crash_output == ("last words",) and "output: last words" in repr(t)
    t.close()


def test_libpam_crashing_in_pam_start_raises(confdir: Path) -> None:
    with pytest.raises(pamexplorer.EngineCrashed, match=r"^SIGSEGV during pam_start$"):
        pamexplorer.open("crash", "alice", confdir=confdir)


def test_module_text_is_escaped_in_html_and_visible_in_text(service_dir) -> None:
    confdir = service_dir({"echo": "auth required pam_echo.so <b>bold</b>\n"})
    with pamexplorer.open("echo", "alice", confdir=confdir) as t:
        record = t.authenticate()
    assert record.messages[0].text == "<b>bold</b>"
    html = record._repr_html_()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold" not in html
    assert "PAM_SUCCESS (0)" in html
    assert "info: <b>bold</b>" in repr(record)
    # A module path from a service file: escaped in the simulation's text too.
    hostile = service_dir({"esc": "auth required pam_\x1b[31mx.so\n"})
    simulated = repr(pamexplorer.simulate("esc", confdir=hostile))
    assert "\x1b" not in simulated and "pam_\\x1b[31mx.so" in simulated


def test_hostile_text_in_records_is_never_markup() -> None:
    from pamexplorer.pam.html import record_html, record_text
    from pamexplorer.pam.records import CallRecord, Exchange

    record = CallRecord(
        "pam_authenticate",
        0,
        7,
        "PAM_AUTH_ERR",
        "Authentication failure",
        1.0,
        (Exchange(MessageStyle.PAM_ERROR_MSG, HOSTILE, None),),
        output=(HOSTILE,),
    )
    html = record_html(record)
    assert "<img" not in html and "\x1b" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;&amp;\\x1b[31m") == 2
    assert "\x1b" not in record_text(record) and "\\x1b[31m" in record_text(record)


def test_views_display_in_html_and_text(confdir: Path) -> None:
    stack = pamexplorer.show("deny", confdir=confdir)
    assert "pam_deny.so" in repr(stack) and "deny:1" in repr(stack)
    assert "<table>" in stack._repr_html_() and "deny:2" in stack._repr_html_()
    codes = pamexplorer.codes()
    assert len(codes) == 32 and "PAM_AUTH_ERR (7)" in codes._repr_html_()
    assert repr(pamexplorer.codes("auth_err")).startswith(
        "PAM_AUTH_ERR (7)  Authentication failure"
    )
    simulated = pamexplorer.simulate("deny", ["authenticate", "acct_mgmt"], confdir=confdir)
    assert "pam_authenticate  PAM_AUTH_ERR (7)" in repr(simulated)
    assert "pam_acct_mgmt  PAM_SUCCESS (0)" in repr(simulated)
    assert "PAM_AUTH_ERR (7)" in simulated._repr_html_()
    run = pamexplorer.run("lab-required")
    assert run.status == "passed" and "PASSED" in repr(run)
    assert "PAM_AUTH_ERR (7)" in run._repr_html_()


def test_the_cli_never_imports_the_api() -> None:
    probe = (
        "import sys, pamexplorer.cli as c; c.build_parser(); "
        "print(sorted(m for m in sys.modules if m in ('pamexplorer.api', 'ipywidgets', "
        "'pamexplorer.session', 'pamexplorer.views')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert pamexplorer.open is pamexplorer.api.open


def test_the_stack_of_a_traced_call_marks_the_decider_and_the_lines_not_run() -> None:
    with pamexplorer.open("lab-which-line", "carol", lab=True) as t:
        record = t.acct_mgmt()
        assert record.code == 0 and record.trace is not None
        shown = repr(t.stack()).splitlines()
        html = t.stack()._repr_html_()
    staff = next(line for line in shown if "pam_succeed_if.so" in line)
    lists = [line for line in shown if "pam_listfile.so" in line]
    permit = next(line for line in shown if "pam_permit.so" in line)
    assert staff.endswith("-> PAM_SUCCESS (0) jump 2")
    assert len(lists) == 2 and all(line.endswith("(not run)") for line in lists)
    assert permit.endswith("-> PAM_SUCCESS (0) ok  <- decided")
    assert html.count("class='decided-row'") == 1 and html.count("not run") == 2
    text = repr(record)
    assert "trace: decided by lab-which-line:6 pam_permit.so (ok)" in text


def test_the_timeline_shows_a_modules_log_lines_under_it() -> None:
    with pamexplorer.open("lab-which-line", "bob", lab=True) as t:
        record = t.acct_mgmt()
    text = repr(record).splitlines()
    refused = text.index("    trace: lab-which-line:4 pam_listfile.so PAM_AUTH_ERR (7) -> bad")
    assert text[refused + 1].startswith(
        "    trace:     log notice: pam_listfile(lab-which-line:account): Refused user bob"
    )
    assert "    trace: decided by lab-which-line:4 pam_listfile.so (bad)" in text


def test_a_profile_run_shows_each_steps_deciding_rule_and_log() -> None:
    view = pamexplorer.run("lab-which-line")
    assert view.status == "passed"
    shown = repr(view)
    assert "      decided by lab-which-line:4 pam_listfile.so (bad)" in shown
    assert "      log notice: pam_listfile(lab-which-line:account): Refused user bob" in shown
    html = view._repr_html_()
    assert (
        "<div class='msg decided'>decided by lab-which-line:5 pam_listfile.so (bad)</div>" in html
    )
