"""The conversation bridge against C modules that talk through the real libpam."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.pam.codes import Code, MessageStyle
from pamexplorer.pam.conversation import (
    REDACTED,
    ConversationAborted,
    Message,
    NoConversation,
    ScriptedConversation,
)
from pamexplorer.pam.records import CallRecord
from pamexplorer.pam.transaction import Transaction
from tests.pam.pam_csrc import CONVERSE

ServiceDir = Callable[[dict[str, str]], Path]
ModuleFactory = Callable[[str, str], Path]

# One call, four messages, one per style; PAM_SUCCESS only if both prompts got argv[0], argv[1].
FOUR_STYLES = (
    CONVERSE
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    if (argc < 2) return 4;
    struct pam_message m[4] = {
        { PAM_PROMPT_ECHO_OFF, "Password: " },
        { PAM_PROMPT_ECHO_ON, "Login: " },
        { PAM_ERROR_MSG, "something is wrong" },
        { PAM_TEXT_INFO, "just so you know" },
    };
    const struct pam_message *mp[4] = { &m[0], &m[1], &m[2], &m[3] };
    struct pam_response *resp = NULL;
    int rc = converse(pamh, 4, mp, &resp);
    if (rc != PAM_SUCCESS) return rc;
    if (!resp) return 5;
    int ok = resp[0].resp && strcmp(resp[0].resp, argv[0]) == 0
          && resp[1].resp && strcmp(resp[1].resp, argv[1]) == 0
          && resp[2].resp == NULL && resp[3].resp == NULL;
    drop(resp, 4);
    return ok ? PAM_SUCCESS : 7;
}
"""
)

# argv[0] = N echo-on prompts in one call; answer i must be "a<i>".
MANY = (
    CONVERSE
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    int n = argc > 0 ? atoi(argv[0]) : 0;
    struct pam_message *m = calloc(n, sizeof *m);
    const struct pam_message **mp = calloc(n, sizeof *mp);
    char (*texts)[32] = calloc(n, 32);
    for (int i = 0; i < n; i++) {
        snprintf(texts[i], 32, "prompt %d: ", i);
        m[i].msg_style = i % 3 == 2 ? PAM_TEXT_INFO : PAM_PROMPT_ECHO_ON;
        m[i].msg = texts[i];
        mp[i] = &m[i];
    }
    struct pam_response *resp = NULL;
    int rc = converse(pamh, n, mp, &resp);
    int ok = rc == PAM_SUCCESS && resp != NULL;
    for (int i = 0; ok && i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "a%d", i);
        if (m[i].msg_style == PAM_TEXT_INFO) ok = resp[i].resp == NULL;
        else ok = resp[i].resp && strcmp(resp[i].resp, want) == 0;
    }
    if (resp) drop(resp, n);
    free(m); free(mp); free(texts);
    return rc != PAM_SUCCESS ? rc : ok ? PAM_SUCCESS : 7;
}
"""
)

# Bytes that are not UTF-8, and a 64 KiB prompt whose answer must be "big".
ODD_TEXT = (
    CONVERSE
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags; (void)argc; (void)argv;
    int rc = say(pamh, PAM_TEXT_INFO, "caf\xe9 \xff\xfe ok");
    if (rc != PAM_SUCCESS) return rc;
    size_t size = 64 * 1024;
    char *big = malloc(size + 1);
    for (size_t i = 0; i < size; i++) big[i] = 'a' + (i % 26);
    big[size] = 0;
    struct pam_message m = { PAM_PROMPT_ECHO_ON, big };
    const struct pam_message *mp = &m;
    struct pam_response *resp = NULL;
    rc = converse(pamh, 1, &mp, &resp);
    free(big);
    if (rc != PAM_SUCCESS) return rc;
    int ok = resp && resp[0].resp && strcmp(resp[0].resp, "big") == 0;
    drop(resp, 1);
    return ok ? PAM_SUCCESS : 7;
}
"""
)

# Two rounds: an echo-off prompt, then an info; returns whatever the conversation returned.
TWO_ROUNDS = (
    CONVERSE
    + r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags; (void)argc; (void)argv;
    struct pam_message m = { PAM_PROMPT_ECHO_OFF, "Secret: " };
    const struct pam_message *mp = &m;
    struct pam_response *resp = NULL;
    int rc = converse(pamh, 1, &mp, &resp);
    if (rc != PAM_SUCCESS) return rc;
    drop(resp, 1);
    return say(pamh, PAM_TEXT_INFO, "thanks");
}
"""
)


def authenticate(confdir: Path, conversation: object) -> CallRecord:
    with Transaction("svc", "alice", confdir=str(confdir), conversation=conversation) as txn:  # type: ignore[arg-type]
        return txn.authenticate()


def auth_service(service_dir: ServiceDir, module: Path, args: str = "") -> Path:
    return service_dir({"svc": f"auth required {module} {args}\n"})


class Recording:
    """A conversation that answers from a function and keeps every batch it was shown."""

    def __init__(self, answer: Callable[[Message], str | None]) -> None:
        self.answer = answer
        self.batches: list[list[Message]] = []

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        self.batches.append(list(messages))
        return [self.answer(m) if m.style.is_prompt else None for m in messages]


def test_all_four_styles_in_one_call(service_dir: ServiceDir, c_module: ModuleFactory) -> None:
    confdir = auth_service(service_dir, c_module("four", FOUR_STYLES), "s3cret-pw bob")
    conv = ScriptedConversation(
        patterns=[(re.compile("^Password"), "s3cret-pw"), (re.compile("^Login"), "bob")]
    )
    record = authenticate(confdir, conv)
    assert record.code == Code.PAM_SUCCESS
    assert [(m.style, m.text, m.answer) for m in record.messages] == [
        (MessageStyle.PAM_PROMPT_ECHO_OFF, "Password: ", REDACTED),
        (MessageStyle.PAM_PROMPT_ECHO_ON, "Login: ", "bob"),
        (MessageStyle.PAM_ERROR_MSG, "something is wrong", None),
        (MessageStyle.PAM_TEXT_INFO, "just so you know", None),
    ]
    assert "s3cret-pw" not in repr(record) and "s3cret-pw" not in str(record.to_dict())


def test_wrong_answers_are_what_the_module_sees(
    service_dir: ServiceDir, c_module: ModuleFactory
) -> None:
    confdir = auth_service(service_dir, c_module("four", FOUR_STYLES), "s3cret-pw bob")
    record = authenticate(confdir, Recording(lambda m: "wrong"))
    assert record.code == Code.PAM_AUTH_ERR
    assert [m.answer for m in record.messages] == [REDACTED, "wrong", None, None]


def test_the_conversation_sees_one_batch(service_dir: ServiceDir, c_module: ModuleFactory) -> None:
    confdir = auth_service(service_dir, c_module("four", FOUR_STYLES), "x y")
    conv = Recording(lambda m: "x" if m.style is MessageStyle.PAM_PROMPT_ECHO_OFF else "y")
    assert authenticate(confdir, conv).code == Code.PAM_SUCCESS
    assert [[m.style for m in b] for b in conv.batches] == [list(MessageStyle)]


@pytest.mark.parametrize("count", [3, 5, 300])
def test_many_messages_in_one_call(
    service_dir: ServiceDir, c_module: ModuleFactory, count: int
) -> None:
    confdir = auth_service(service_dir, c_module("many", MANY), str(count))
    conv = Recording(lambda m: "a" + m.text.split()[1].rstrip(":"))
    record = authenticate(confdir, conv)
    assert record.code == Code.PAM_SUCCESS
    assert len(conv.batches) == 1 and len(conv.batches[0]) == count
    assert len(record.messages) == count
    assert record.messages[-1].text == f"prompt {count - 1}: "
    info = [m for m in record.messages if m.style is MessageStyle.PAM_TEXT_INFO]
    assert info and all(m.answer is None for m in info)


def test_non_utf8_and_64k_prompt(service_dir: ServiceDir, c_module: ModuleFactory) -> None:
    confdir = auth_service(service_dir, c_module("odd", ODD_TEXT))
    record = authenticate(confdir, Recording(lambda m: "big"))
    assert record.code == Code.PAM_SUCCESS
    first, big = record.messages
    assert first.text == "caf\ufffd \ufffd\ufffd ok"
    assert len(big.text) == 64 * 1024
    assert big.text.startswith("abcdefghijklmnopqrstuvwxyzabc")
    assert big.answer == "big"


def test_two_rounds_recorded_in_order(service_dir: ServiceDir, c_module: ModuleFactory) -> None:
    confdir = auth_service(service_dir, c_module("rounds", TWO_ROUNDS))
    conv = Recording(lambda m: "hunter2")
    record = authenticate(confdir, conv)
    assert record.code == Code.PAM_SUCCESS
    assert len(conv.batches) == 2
    assert [(m.text, m.answer) for m in record.messages] == [
        ("Secret: ", REDACTED),
        ("thanks", None),
    ]


class Aborting:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        raise self.error


@pytest.mark.parametrize(
    "conversation",
    [
        Aborting(ConversationAborted("user pressed Escape")),
        Aborting(ValueError("bug")),
        NoConversation(),
        ScriptedConversation(),
    ],
    ids=["aborted", "exception", "no-conversation", "script-exhausted"],
)
def test_abort_gives_the_module_conv_err(
    service_dir: ServiceDir, c_module: ModuleFactory, conversation: object
) -> None:
    # The module returns what its conversation call returned, so the code is the module's view.
    confdir = auth_service(service_dir, c_module("rounds", TWO_ROUNDS))
    record = authenticate(confdir, conversation)
    assert record.code == Code.PAM_CONV_ERR
    if not isinstance(conversation, Aborting) or isinstance(
        conversation.error, ConversationAborted
    ):
        # The prompt that was refused is still shown, with no answer.
        assert [(m.text, m.answer) for m in record.messages] == [("Secret: ", None)]


def test_too_few_answers_are_padded(service_dir: ServiceDir, c_module: ModuleFactory) -> None:
    class Short:
        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            return ["x"]

    confdir = auth_service(service_dir, c_module("four", FOUR_STYLES), "x y")
    record = authenticate(confdir, Short())
    assert record.code == Code.PAM_AUTH_ERR  # the echo-on prompt got no answer
    assert [m.answer for m in record.messages] == [REDACTED, None, None, None]


def test_pam_echo_text_with_user_substituted(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {"svc": "auth optional pam_echo.so Hello %u on %s\nauth required pam_permit.so\n"}
    )
    record = authenticate(confdir, NoConversation())
    assert record.code == Code.PAM_SUCCESS
    assert [(m.style, m.text) for m in record.messages] == [
        (MessageStyle.PAM_TEXT_INFO, "Hello alice on svc")
    ]


def test_pam_exec_stdout_goes_to_the_conversation(service_dir: ServiceDir, tmp_path: Path) -> None:
    script = tmp_path / "hello.sh"
    script.write_text('#!/bin/sh\necho "from pam_exec for $PAM_USER"\n')
    script.chmod(0o755)
    confdir = service_dir({"svc": f"auth required pam_exec.so stdout {script}\n"})
    record = authenticate(confdir, NoConversation())
    assert record.code == Code.PAM_SUCCESS
    assert [m.text for m in record.messages] == ["from pam_exec for alice"]
