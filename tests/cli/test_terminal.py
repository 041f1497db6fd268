"""The terminal belongs to the user (issue 9 §2): text that is not ours reaches it escaped, in
the interactive conversation, in usage errors, and never fails to encode (undecodable bytes on
a strict UTF-8 stdout, or under ``LC_ALL=C``)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from pamexplorer.calltext import printable as calltext_printable
from pamexplorer.pam.text import printable, printable_lines
from tests.cli.conftest import cli_env, run_cli
from tests.ptyread import read_until

SECRET = "hunter2-\u00e9t\u00e9"

#: A module that sends terminal attacks in every message style it can, then asks for a password.
HOSTILE = """
#include <stdio.h>
#include <string.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    char *pw = NULL;
    converse_one(h, PAM_TEXT_INFO, "\\033]52;c;cm0gLXJmIC8K\\007clipboard\\033[2J", NULL);
    converse_one(h, PAM_ERROR_MSG, "\\033]0;owned title\\007line one\\nline two\\r", NULL);
    converse_one(h, PAM_TEXT_INFO, "bad bytes: \\xff\\xfe end", NULL);
    printf("module output \\033[31mred\\xff\\n"); fflush(stdout);
    pam_set_item(h, 4, "\\033[2Jhost\\xfe");                      /* PAM_RHOST */
    pam_putenv(h, "TERMATTACK=\\033]52;c;eA==\\007\\xff");
    int rc = converse_one(h, PAM_PROMPT_ECHO_OFF, "\\033[8mPass\\033[0mword: ", &pw);
    if (rc != PAM_SUCCESS) return 7;
    return pw ? 0 : 7;
}
"""


def test_printable_escapes_controls_and_undecodable_bytes() -> None:
    assert printable("plain text, caf\u00e9") == "plain text, caf\u00e9"
    assert printable("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert printable("tab\tnl\ncr\r") == "tab\\tnl\\ncr\\r"
    assert printable(b"name\xff".decode("utf-8", "surrogateescape")) == "name\\xff"
    assert printable("\u2028\u202e\x9b") == "\\u2028\\u202e\\x9b"
    assert printable_lines("one\ntwo\x1b\n") == ["one", "two\\x1b"]
    assert calltext_printable is printable  # one implementation, re-exported
    for text in ("\udcff", "\x1b\udc80", "\ud800"):
        printable(text).encode("utf-8")  # always encodable


@pytest.fixture
def hostile(service_dir, c_module) -> Path:
    module = c_module("hostile", HOSTILE)
    return service_dir({"hostile": f"auth required {module}\n"})


def test_interactive_conversation_shows_module_text_escaped(hostile: Path) -> None:
    env = cli_env({"NO_COLOR": "1", "LANG": "C.UTF-8", "TERM": "dumb"})
    argv = [sys.executable, "-m", "pamexplorer", "call", "--confdir", str(hostile)]
    argv += ["hostile", "alice", "authenticate"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a person's terminal is its controlling terminal
        os.execve(sys.executable, argv, env)
    seen = bytearray()
    try:
        read_until(fd, b"word: ", seen)
        os.write(fd, SECRET.encode() + b"\n")
        read_until(fd, b"pam_end", seen)
        while True:  # the rest, up to EOF
            ready, _, _ = select.select([fd], [], [], 10)
            try:
                chunk = os.read(fd, 4096) if ready else b""
            except OSError:
                chunk = b""
            if not chunk:
                break
            seen += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    out = bytes(seen)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"\x1b" not in out and b"\x07" not in out  # nothing reached the terminal raw
    assert SECRET.encode() not in out  # echo off
    text = out.decode("utf-8")
    assert "\\x1b]52;c;cm0gLXJmIC8K\\x07clipboard\\x1b[2J" in text
    assert "\\x1b]0;owned title\\x07line one\r\nline two\\r" in text  # a message on two lines
    assert "bad bytes: \ufffd\ufffd end" in text
    assert "\\x1b[8mPass\\x1b[0mword: " in text


@pytest.mark.parametrize("locale_env", [{"LANG": "C.UTF-8"}, {"LC_ALL": "C", "LANG": "C"}])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_undecodable_text_never_breaks_a_strict_stdout(
    hostile: Path, locale_env: dict[str, str], fmt: str
) -> None:
    def run(*args: str | bytes, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return run_cli(*args, stdin=stdin, env=locale_env, drop=("LC_ALL", "LANG"))

    common = ["call", "-v", "--format", fmt, "--confdir", str(hostile)]
    done = run(*common, "hostile", "alice", "authenticate", stdin=b"pw\n")
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr and b"\x1b" not in done.stdout
    if fmt == "json":
        data = json.loads(done.stdout)
        assert data["calls"][0]["items"]["rhost"] == "\x1b[2Jhost\ufffd"
    else:
        assert b"item rhost = \\x1b[2Jhost" in done.stdout
        assert b"env TERMATTACK=\\x1b]52;c;eA==\\x07" in done.stdout
    # a service name and a user that are not UTF-8, straight from argv
    odd = run(*common, b"svc\xff\x1b[2J", b"us\xfeer", "authenticate")
    assert b"Traceback" not in odd.stderr, odd.stderr
    assert b"\x1b" not in odd.stdout + odd.stderr
    # libpam gets the bytes as given and lowercases them: no such file, so it falls back to
    # other (which the hostile confdir does not have: pam_start fails)
    assert odd.returncode == 1, odd.stderr
    shown = " ".join(json.loads(odd.stdout)["notes"]) if fmt == "json" else odd.stdout.decode()
    assert "no file for 'svc\\xff\\x1b[2j'" in shown


@pytest.mark.parametrize(
    ("args", "quoted"),
    [
        (["call", "--bogus\x1b]0;t\x07", "svc", "alice", "authenticate"], "--bogus\\x1b]0;t\\x07"),
        (["call", "svc", "alice", "authenticate\x1b[2J"], "'authenticate\\x1b[2J'"),
        (["call", "-I", "tty\x1b[2J=x", "svc", "alice", "authenticate"], "'tty\\x1b[2J'"),
        (
            ["call", "-I", "tty=\x1b[2J", "-I", "nope\x9b=1", "svc", "alice", "authenticate"],
            "'nope\\x9b'",
        ),
        (["no-such-command\x1b[2J"], "'no-such-command\\x1b[2J'"),
        (["codes", "\x1b[2J"], "'\\x1b[2J'"),
    ],
)
def test_usage_errors_quote_argv_escaped(args: list[str], quoted: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert (
        "\x1b" not in result.stderr and "\x07" not in result.stderr and "\x9b" not in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert quoted in result.stderr  # the argument, escaped
