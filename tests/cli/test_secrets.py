"""A typed echo-off answer never shows in ``call``'s text or JSON (issue 9 §3), whatever
channel a module echoes it back through: its output, a message, an item, the PAM environment,
a later prompt, the output it printed before crashing. One scrubber (``pam.secrets``) for all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.pam.conversation import ConversationAborted, ScriptedConversation
from pamexplorer.pam.records import REDACTED, CallRecord, Exchange, Message
from pamexplorer.pam.secrets import RememberingConversation, Secrets
from tests.cli.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Pa55"

ECHO_BACK = """
#include <stdio.h>
#include <string.h>
static char kept[256];  /* libpam clears PAM_AUTHTOK after pam_authenticate; we do not */
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    char *pw = NULL, *again = NULL, buf[512];
    if (converse_one(h, PAM_PROMPT_ECHO_OFF, "Password: ", &pw) != PAM_SUCCESS || !pw) return 7;
    snprintf(kept, sizeof kept, "%s", pw);
    printf("stdout: you typed %s\\n", pw); fflush(stdout);                   /* output */
    fprintf(stderr, "stderr:%s:\\n", pw); fflush(stderr);
    snprintf(buf, sizeof buf, "info: your password is %s", pw);
    converse_one(h, PAM_TEXT_INFO, buf, NULL);                                       /* message */
    snprintf(buf, sizeof buf, "error: %s is wrong\\nsecond line %s", pw, pw);
    converse_one(h, PAM_ERROR_MSG, buf, NULL);
    pam_set_item(h, 4, pw);                                                 /* PAM_RHOST */
    pam_set_item(h, 8, pw);                                                 /* PAM_RUSER */
    snprintf(buf, sizeof buf, "ECHOED=%s", pw); pam_putenv(h, buf);       /* environment */
    snprintf(buf, sizeof buf, "PW_%s=1", pw); pam_putenv(h, buf);
    snprintf(buf, sizeof buf, "Was it %s? ", pw);
    converse_one(h, PAM_PROMPT_ECHO_ON, buf, &again);                                /* a prompt */
    return 0;
}
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *h, int f, int c, const char **v) {
    printf("about to crash with %s\\n", kept); fflush(stdout);             /* a crash */
    *(volatile int *)0 = 1; return 0;
}
"""


@pytest.fixture
def echo_back(service_dir, c_module) -> Path:
    module = c_module("echo-back", ECHO_BACK)
    return service_dir(
        {
            "echo": f"auth required {module}\naccount required {module}\n",
            "echo-ok": f"auth required {module}\naccount required pam_permit.so\n",
        }
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize(("service", "status"), [("echo-ok", 0), ("echo", 3)])
def test_an_echoed_password_never_shows(
    echo_back: Path, fmt: str, service: str, status: int
) -> None:
    result = run_cli(
        "call",
        "-v",
        "--format",
        fmt,
        "--confdir",
        str(echo_back),
        service,
        "alice",
        "authenticate",
        "acct_mgmt",
        stdin=f"{SECRET}\nyes\n",
    )
    assert result.returncode == status, result.stderr
    assert SECRET not in result.stdout + result.stderr
    shown = result.stdout
    # each channel was there, scrubbed rather than dropped
    for needle in (
        f"you typed {REDACTED}",
        f"stderr:{REDACTED}:",
        f"your password is {REDACTED}",
        f"Was it {REDACTED}? ",
    ):
        assert needle in (shown if fmt == "text" else json.dumps(json.loads(shown))), needle
    if fmt == "json":
        data = json.loads(shown)
        auth = data["calls"][0]
        assert auth["items"]["rhost"] == REDACTED and auth["items"]["ruser"] == REDACTED
        assert auth["env"]["ECHOED"] == REDACTED and f"PW_{REDACTED}" in auth["env"]
        assert auth["messages"][0]["answer"] == REDACTED
        assert auth["messages"][-1]["answer"] == "yes"  # echo-on answers are no secret
        if status == 3:
            assert data["error"]["output"] == [f"about to crash with {REDACTED}"]
    else:
        assert f"item rhost = {REDACTED}" in shown and f"env ECHOED={REDACTED}" in shown
        if status == 3:
            assert f"    output: about to crash with {REDACTED}" in shown.splitlines()


def record_with(text: str) -> CallRecord:
    return CallRecord(
        function="pam_authenticate",
        flags=0,
        code=0,
        name="PAM_SUCCESS",
        text=f"Success {text}",
        duration_ms=1.0,
        messages=(
            Exchange(MessageStyle.PAM_PROMPT_ECHO_OFF, "Password: ", REDACTED),
            Exchange(MessageStyle.PAM_TEXT_INFO, f"hello {text}", None),
            Exchange(MessageStyle.PAM_PROMPT_ECHO_ON, f"again {text}?", text),
        ),
        items={"rhost": text, "tty": None, "user": "alice"},
        env={"A": f"x{text}x", text: "1"},
        fail_delay_us=5,
        output=(f"out {text}", "clean"),
    )


def test_scrub_record_reaches_every_field() -> None:
    secrets = Secrets(["pw", "pwpw"])
    scrubbed = secrets.scrub_record(record_with("pwpw"))
    assert "pw" not in json.dumps(scrubbed.to_dict()).replace("Password", "")
    assert scrubbed.messages[2].answer == REDACTED
    assert scrubbed.items == {"rhost": REDACTED, "tty": None, "user": "alice"}
    assert scrubbed.env == {"A": f"x{REDACTED}x", REDACTED: "1"}
    assert scrubbed.output == (f"out {REDACTED}", "clean")
    assert scrubbed.fail_delay_us == 5 and scrubbed.duration_ms == 1.0
    assert secrets.scrub_record(record_with("pwpw")) == scrubbed
    assert secrets.scrub("a pwpw b pw") == f"a {REDACTED} b {REDACTED}"  # longest first
    plain = record_with("nothing")
    assert Secrets().scrub_record(plain) is plain


def test_remembering_conversation_learns_echo_off_answers_only() -> None:
    secrets = Secrets()
    inner: ScriptedConversation[str] = ScriptedConversation(ordered=["typed-pw", "visible"])
    conversation = RememberingConversation(inner, secrets)
    answers = conversation.respond(
        [
            Message(MessageStyle.PAM_PROMPT_ECHO_OFF, "Password: "),
            Message(MessageStyle.PAM_TEXT_INFO, "hi"),
            Message(MessageStyle.PAM_PROMPT_ECHO_ON, "Login: "),
        ]
    )
    assert answers == ["typed-pw", None, "visible"]
    assert secrets.values == {"typed-pw"}

    seen: list[str] = []

    class Recorder:
        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            seen.extend(m.text for m in messages)
            raise ConversationAborted("enough")

    with pytest.raises(ConversationAborted):
        RememberingConversation(Recorder(), secrets).respond(
            [Message(MessageStyle.PAM_TEXT_INFO, "you typed typed-pw")]
        )
    assert seen == [f"you typed {REDACTED}"]  # what a person is shown is scrubbed too
