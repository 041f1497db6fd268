"""``call``'s text for a new user (issue 11 §2): crash output under the call that crashed,
multi-line messages as lines, one fail-delay format, aligned columns, a prompt left without an
answer, a service without a file, real side effects announced, one code from ``codes``."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import pytest

from pamexplorer.calltext import CODE_WIDTH, fail_delay_text, message_lines
from pamexplorer.cli.call import REAL_SYSTEM_NOTE, acts_on_real_system
from pamexplorer.pam.codes import Code, MessageStyle
from tests.cli.conftest import CliRunner


def call_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("pam_")]


def test_output_of_a_crashing_module_shows_under_the_call_that_crashed(
    cli: CliRunner, service_dir, c_module
) -> None:
    segv = c_module(
        "segv-after-output",
        """
        #include <stdio.h>
        PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *h, int f, int c, const char **v) {
            printf("checking the account\\n"); fflush(stdout);
            *(volatile int *)0 = 1; return 0;
        }
        """,
    )
    confdir = service_dir({"svc": f"auth required pam_permit.so\naccount required {segv}\n"})
    argv = ("call", "-q", "--confdir", str(confdir), "svc", "alice", "authenticate", "acct_mgmt")
    result = cli(*argv)  # -q: without the per-module trace lines (tests/trace has them)
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    crashed = next(i for i, line in enumerate(lines) if line.startswith("pam_acct_mgmt"))
    assert "(no result)" in lines[crashed] and "SIGSEGV during pam_acct_mgmt" in lines[crashed]
    assert lines[crashed + 1] == "    output: checking the account"
    assert sum("checking the account" in line for line in lines) == 1
    assert lines[-1] == "error: SIGSEGV during pam_acct_mgmt"
    # the calls before it carry nothing of it
    assert lines[crashed - 1].startswith("pam_authenticate")


def test_a_multi_line_message_prints_as_lines(cli: CliRunner, service_dir, tmp_path) -> None:
    motd = tmp_path / "motd"
    motd.write_text("Welcome to the lab.\n\tBe nice.\nLast line\n")
    confdir = service_dir(
        {"motd": f"session optional pam_echo.so file={motd}\nsession required pam_permit.so\n"}
    )
    result = cli("call", "-v", "--confdir", str(confdir), "motd", "alice", "open_session")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first = lines.index("    info: Welcome to the lab.")
    indent = " " * len("    info: ")
    assert lines[first + 1 : first + 3] == [f"{indent}\\tBe nice.", f"{indent}Last line"]
    assert "\\n" not in result.stdout
    # the function the report and the TUI use gives the same lines
    assert message_lines(MessageStyle.PAM_TEXT_INFO, motd.read_text(), None) == [
        line[4:] for line in lines[first : first + 3]
    ]


def test_fail_delay_has_one_format(cli: CliRunner, service_dir) -> None:
    assert fail_delay_text(2_000_000) == "fail delay 2000 ms"
    assert fail_delay_text(1500) == "fail delay 1.5 ms"
    assert fail_delay_text(1) == "fail delay 0.001 ms"
    confdir = service_dir(
        {"slow": "auth optional pam_faildelay.so delay=1500\nauth required pam_deny.so\n"}
    )
    text = cli("call", "--confdir", str(confdir), "slow", "alice", "authenticate")
    assert text.returncode == 1
    # libpam spreads the delay it reports around the one asked for: _pam_compute_delay scales
    # it by 1 + (the mean of three uniform draws - 0.5), so anywhere from half to one and a
    # half times it (tests/pam/test_pam_items_env.py holds the library to the same bound)
    delays = [line for line in text.stdout.splitlines() if "fail delay" in line]
    assert len(delays) == 1 and re.fullmatch(r"    fail delay \d+(\.\d{1,3})? ms", delays[0])
    data = json.loads(
        cli(
            "call", "--format", "json", "--confdir", str(confdir), "slow", "alice", "authenticate"
        ).stdout
    )
    assert 1500 // 2 <= data["calls"][0]["fail_delay_us"] <= 1500 * 3 // 2


def test_columns_stay_aligned_for_long_names(cli: CliRunner, service_dir) -> None:
    assert max(len(f"{c.name} ({c.value})") for c in Code) == CODE_WIDTH
    confdir = service_dir(
        {
            "expired": "auth required pam_permit.so\n"
            "account required pam_debug.so acct=new_authtok_reqd\n"
        }
    )
    result = cli(
        "call",
        "--keep-going",
        "--confdir",
        str(confdir),
        "expired",
        "alice",
        "setcred(PAM_ESTABLISH_CRED|PAM_SILENT)",
        "acct_mgmt",
    )
    assert result.returncode == 1
    lines = call_lines(result.stdout)
    assert [line.split()[0] for line in lines] == [
        "pam_start",
        "pam_setcred(PAM_ESTABLISH_CRED|PAM_SILENT)",
        "pam_acct_mgmt",
        "pam_end",
    ]
    code_at = {re.search(r"\s\s(PAM_\w+ \(\d+\))", line).start(1) for line in lines}  # type: ignore[union-attr]
    assert len(code_at) == 1  # every result starts in one column
    reqd = next(line for line in lines if "PAM_NEW_AUTHTOK_REQD (12)" in line)
    text_at = code_at.pop() + CODE_WIDTH + 2
    assert reqd[text_at:].startswith("Authentication token is no longer valid")
    assert all(line[text_at - 2 : text_at] == "  " and line[text_at] != " " for line in lines)


def test_a_prompt_at_end_of_input_says_it_got_no_answer(cli: CliRunner, service_dir) -> None:
    confdir = service_dir({"ask": "auth required pam_unix.so\n"})
    result = cli("call", "--confdir", str(confdir), "ask", "root", "authenticate")
    assert result.returncode == 1
    assert (
        "    prompt (echo off): Password:   -> no answer: end of input, the module got "
        "PAM_CONV_ERR" in result.stdout.splitlines()
    )


def test_a_service_without_a_file_says_libpam_uses_other(cli: CliRunner, service_dir) -> None:
    confdir = service_dir(
        {"other": "auth required pam_permit.so\n", "sshd": "auth required pam_deny.so\n"}
    )
    text = cli("call", "--confdir", str(confdir), "ssdh", "alice", "authenticate")
    assert text.returncode == 0  # other permits: the status is libpam's, unchanged
    assert text.stdout.splitlines()[0] == "note: no file for 'ssdh'; libpam uses other"
    data = json.loads(
        cli(
            "call", "--format", "json", "--confdir", str(confdir), "ssdh", "alice", "authenticate"
        ).stdout
    )
    assert data["service_file"] is None
    assert data["notes"] == ["no file for 'ssdh'; libpam uses other"]
    assert data["exit_status"] == 0
    found = json.loads(
        cli(
            "call", "--format", "json", "--confdir", str(confdir), "sshd", "alice", "authenticate"
        ).stdout
    )
    assert found["service_file"] == str(confdir / "sshd") and found["notes"] == []
    assert found["exit_status"] == 1
    alone = service_dir({"sshd": "auth required pam_permit.so\n"})
    missing = cli("call", "--confdir", str(alone), "ssdh", "alice", "authenticate")
    assert (
        missing.stdout.splitlines()[0] == "note: no file for 'ssdh', and no other: pam_start fails"
    )
    assert missing.returncode == 1


ALL_PERMIT = "".join(
    f"{t} required pam_permit.so\n" for t in ("auth", "account", "session", "password")
)


def test_real_side_effects_are_announced_once_on_system_services(
    cli: CliRunner, service_dir
) -> None:
    system_like = service_dir({"svc": ALL_PERMIT})
    os.chown(system_like, 65534, 65534)  # not the invoking user's: like /etc/pam.d
    ops = ["authenticate", "setcred(PAM_ESTABLISH_CRED)", "open_session", "chauthtok"]
    result = cli("call", "--confdir", str(system_like), "svc", "alice", *ops)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("    ")]
    assert lines.count(REAL_SYSTEM_NOTE) == 1
    note = lines.index(REAL_SYSTEM_NOTE)
    assert lines[note - 1].startswith("pam_authenticate")  # said before the first such call
    assert lines[note + 1].startswith("pam_setcred")
    only_auth = cli("call", "--confdir", str(system_like), "svc", "alice", "authenticate")
    assert REAL_SYSTEM_NOTE not in only_auth.stdout
    own = service_dir({"svc": ALL_PERMIT})
    mine = cli("call", "--confdir", str(own), "svc", "alice", *ops)
    assert mine.returncode == 0 and REAL_SYSTEM_NOTE not in mine.stdout
    lab = cli("call", "--lab", "lab-session", "alice", "open_session")
    assert "note:" not in lab.stdout


@pytest.mark.parametrize(
    ("lab", "confdir", "real"),
    [
        (False, None, True),
        (True, None, False),
        (False, "/etc/pam.d", True),
        (False, "own", False),
    ],
)
def test_which_services_act_on_the_real_system(
    tmp_path: Path, lab: bool, confdir: str | None, real: bool
) -> None:
    where = str(tmp_path) if confdir == "own" else confdir  # /etc/pam.d counts, here or not
    assert acts_on_real_system(argparse.Namespace(lab=lab), where) is real


@pytest.mark.parametrize("spelling", ["7", "PAM_AUTH_ERR", "auth_err", "pam_auth_err"])
def test_codes_shows_one_code(cli: CliRunner, spelling: str) -> None:
    result = cli("codes", spelling)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["7", "PAM_AUTH_ERR"] and "Authentication failure" in lines[0]
    assert sum(1 for line in lines if re.match(r" ?\d+  PAM_", line)) == 1
    data = json.loads(cli("codes", spelling, "--format", "json").stdout)
    assert data["code"] == 7 and data["name"] == "PAM_AUTH_ERR"


@pytest.mark.parametrize("spelling", ["99", "PAM_NOPE", "-"])
def test_codes_unknown_is_one_line_and_status_2(cli: CliRunner, spelling: str) -> None:
    result = cli("codes", spelling)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_every_message_style_has_a_label() -> None:
    from pamexplorer.pam.codes import MessageStyle
    from pamexplorer.pam.text import STYLE_LABEL

    assert sorted(STYLE_LABEL) == sorted(int(s) for s in MessageStyle)
    assert STYLE_LABEL[MessageStyle.PAM_TEXT_INFO] == "info"
