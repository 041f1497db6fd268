"""``pamexplorer call`` and ``codes`` as a user runs them: a real process, real libpam."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import run_cli
from tests.conftest import HANG_SOURCE, SEGV_SOURCE

SECRET = "correct-horse-battery-staple"


@pytest.fixture
def confdir(service_dir, c_module) -> Path:
    segv = c_module("segv", SEGV_SOURCE)
    hang = c_module("hang", HANG_SOURCE)
    exits = c_module(
        "exits",
        """
        #include <stdlib.h>
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            exit(3);
        }
        """,
    )
    return service_dir(
        {
            "permit": "auth required pam_permit.so\naccount required pam_permit.so\n"
            "session required pam_permit.so\npassword required pam_permit.so\n",
            "mixed": "auth required pam_debug.so auth=auth_err cred=cred_err\n"
            "account required pam_permit.so\n"
            "session required pam_debug.so open_session=session_err\n",
            "prompt": "auth required pam_echo.so Hello %u\n"
            "auth required pam_exec.so expose_authtok quiet /bin/true\n",
            "segv": f"auth required {segv}\n",
            "hang": f"auth required {hang}\n",
            "exits": f"auth required {exits}\n",
        }
    )


def test_text_output_names_every_call(confdir: Path) -> None:
    result = run_cli(
        "call",
        "--confdir",
        str(confdir),
        "permit",
        "alice",
        "authenticate",
        "acct_mgmt",
        "setcred(PAM_ESTABLISH_CRED)",
        "open_session",
        "close_session",
        "chauthtok",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    functions = [line.split()[0] for line in lines if line.startswith("pam_")]
    assert functions == [
        "pam_start",
        "pam_authenticate",
        "pam_acct_mgmt",
        "pam_setcred(PAM_ESTABLISH_CRED)",
        "pam_open_session",
        "pam_close_session",
        "pam_chauthtok",
        "pam_end",
    ]
    calls = [line for line in lines if line.startswith("pam_")]
    assert all("PAM_SUCCESS (0)  " in line and line.endswith(" ms") for line in calls)


def test_failure_stops_unless_keep_going(confdir: Path) -> None:
    stopped = run_cli(
        "call", "--confdir", str(confdir), "mixed", "alice", "authenticate", "acct_mgmt"
    )
    assert stopped.returncode == 1
    assert "PAM_AUTH_ERR (7)" in stopped.stdout and "Authentication failure" in stopped.stdout
    assert "pam_acct_mgmt" not in stopped.stdout
    kept = run_cli(
        "call",
        "--keep-going",
        "--format",
        "json",
        "--confdir",
        str(confdir),
        "mixed",
        "alice",
        "authenticate",
        "acct_mgmt",
        "setcred(PAM_DELETE_CRED|PAM_SILENT)",
        "open_session",
        "close_session",
    )
    assert kept.returncode == 1
    data = json.loads(kept.stdout)
    assert data["start"] == {
        "code": 0,
        "name": "PAM_SUCCESS",
        "text": "Success",
        "log": ["PAM _pam_init_handlers: no default config other"],  # no 'other' in the confdir
    }
    summary = [(c["function"], c["flags"], c["code"]) for c in data["calls"]]
    assert summary == [
        ("pam_authenticate", [], 7),
        ("pam_acct_mgmt", [], 0),
        ("pam_setcred", ["PAM_DELETE_CRED", "PAM_SILENT"], 17),
        ("pam_open_session", [], 14),
        ("pam_close_session", [], 6),  # frozen chain: open's 14 makes close fail
    ]
    assert data["error"] is None
    first = data["calls"][0]
    assert set(first) >= {
        "function",
        "flags",
        "code",
        "name",
        "text",
        "duration_ms",
        "messages",
        "items",
        "env",
    }
    assert first["messages"] == [
        {"style": "PAM_TEXT_INFO", "text": "auth=auth_err", "answer": None}
    ]


def test_items_and_env_are_set(confdir: Path) -> None:
    result = run_cli(
        "call",
        "--format",
        "json",
        "--confdir",
        str(confdir),
        "-I",
        "tty=/dev/pts/9",
        "-I",
        "rhost=203.0.113.7",
        "-I",
        "RUSER=bob",
        "-I",
        "xdisplay=:0",
        "-I",
        "user_prompt=Who? ",
        "-I",
        "authtok_type=UNIX",
        "-E",
        "LANG=C",
        "-E",
        "EMPTY=",
        "permit",
        "alice",
        "authenticate",
    )
    assert result.returncode == 0, result.stderr
    call = json.loads(result.stdout)["calls"][0]
    assert call["items"] == {
        "service": "permit",
        "user": "alice",
        "tty": "/dev/pts/9",
        "rhost": "203.0.113.7",
        "ruser": "bob",
        "user_prompt": "Who? ",
        "xdisplay": ":0",
        "authtok_type": "UNIX",
    }
    assert call["env"] == {"LANG": "C", "EMPTY": ""}


def test_prompt_answered_from_stdin_is_never_printed(confdir: Path) -> None:
    for fmt in ("text", "json"):
        result = run_cli(
            "call",
            "--format",
            fmt,
            "--confdir",
            str(confdir),
            "prompt",
            "alice",
            "authenticate",
            stdin=SECRET + "\n",
        )
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert "Hello alice" in result.stdout
        assert "********" in result.stdout


def test_no_answer_at_end_of_input_is_a_conversation_error(confdir: Path) -> None:
    result = run_cli(
        "call", "--format", "json", "--confdir", str(confdir), "prompt", "alice", "authenticate"
    )
    assert result.returncode == 1
    call = json.loads(result.stdout)["calls"][0]
    # pam_exec could not get a password: libpam's answer, not ours
    assert call["name"] != "PAM_SUCCESS"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bogus"], "unknown operation 'bogus'"),
        (["setcred(PAM_BOGUS)"], "unknown flag 'PAM_BOGUS'"),
        (["-I", "colour=red", "authenticate"], "unknown item 'colour'"),
        (["-I", "tty", "authenticate"], "expected NAME=VALUE"),
        (["-E", "=x", "authenticate"], "expected NAME=VALUE"),
        (["--timeout", "0", "authenticate"], "--timeout"),
    ],
)
def test_bad_usage_is_one_line_and_status_2(confdir: Path, args: list[str], needle: str) -> None:
    argv: list[str] = []  # leading options with their values; the rest are operations
    rest = list(args)
    while rest and rest[0].startswith("-"):
        argv += rest[:2]
        rest = rest[2:]
    result = run_cli("call", "--confdir", str(confdir), *argv, "permit", "alice", *rest)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_pam_start_failure_is_status_1(service_dir) -> None:
    confdir = service_dir({"broken": "auth required pam_permit.so \\"})
    result = run_cli("call", "--confdir", str(confdir), "broken", "alice", "authenticate")
    assert result.returncode == 1
    assert "pam_start           PAM_ABORT (26)" in result.stdout


@pytest.mark.parametrize(
    ("service", "timeout", "kind", "message"),
    [
        ("segv", [], "crash", "SIGSEGV during pam_authenticate"),
        ("exits", [], "crash", "module exited with status 3 during pam_authenticate"),
        ("hang", ["--timeout", "1"], "timeout", "timed out after 1 s in pam_authenticate"),
    ],
)
def test_crash_and_timeout_are_status_3(
    confdir: Path, service: str, timeout: list[str], kind: str, message: str
) -> None:
    text = run_cli("call", *timeout, "--confdir", str(confdir), service, "alice", "authenticate")
    assert text.returncode == 3
    assert f"error: {message}" in text.stdout
    data = json.loads(
        run_cli(
            "call",
            "--format",
            "json",
            *timeout,
            "--confdir",
            str(confdir),
            service,
            "alice",
            "authenticate",
        ).stdout
    )
    assert data["error"]["kind"] == kind
    assert data["error"]["during"] == "pam_authenticate"
    assert data["error"]["message"] == message
    if service == "segv":
        assert data["error"]["signal"] == "SIGSEGV"
        assert data["error"]["output"] == ["about to crash"]


def test_codes_table() -> None:
    result = run_cli("codes", "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [c["code"] for c in data["codes"]] == list(range(32))
    assert data["codes"][7]["name"] == "PAM_AUTH_ERR"
    assert data["codes"][7]["text"] == "Authentication failure"
    assert all(c["text"] and c["explanation"] for c in data["codes"])
    assert len(data["items"]) == 13
    text = run_cli("codes").stdout
    assert " 7  PAM_AUTH_ERR" in text


def test_help_lists_subcommands_and_version() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("call", "codes"):
        assert command in result.stdout
    assert run_cli("--version").stdout.startswith("pamexplorer ")
    assert "examples:" in run_cli("call", "--help").stdout


def test_control_characters_from_modules_never_reach_the_terminal(service_dir) -> None:
    confdir = service_dir(
        {"loud": "auth optional pam_echo.so \x1b[2Jcleared\x07\nauth required pam_permit.so\n"}
    )
    result = run_cli("call", "--confdir", str(confdir), "loud", "alice", "authenticate")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "info: \\x1b[2Jcleared\\x07" in result.stdout


def test_lab_option_runs_against_a_private_copy_of_the_lab() -> None:
    ok = run_cli("call", "--lab", "lab-login", "alice", "authenticate", stdin="wonderland\n")
    assert ok.returncode == 0, ok.stderr
    before = run_cli("--lab", "call", "lab-login", "alice", "authenticate", stdin="nope\n")
    assert before.returncode == 1
    assert "PAM_AUTH_ERR (7)" in before.stdout
    both = run_cli("call", "--lab", "--confdir", "/tmp", "lab-login", "alice", "acct_mgmt")
    assert both.returncode == 2
