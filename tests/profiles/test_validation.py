"""Every class of profile error reads FILE:LINE: field: what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pamexplorer.profile import ProfileError, load

GOOD_HEAD = "name: t\nservice: lab-login\nconfig: lab\nuser: alice\n"

# (case id, profile text, line, field)
CASES = [
    ("bad-timestamp", "service: 2020-13-45\nsteps: [authenticate]\n", 1, "service"),
    ("bad-int-tag", 'service: x\nuser: !!int "abc"\nsteps: [authenticate]\n', 2, "user"),
    (
        "python-tag",
        "service: x\nuser: !!python/object:os.system x\nsteps: [authenticate]\n",
        2,
        "user",
    ),
    ("timeout-nan", "service: x\ntimeout: .nan\nsteps: [authenticate]\n", 2, "timeout"),
    ("timeout-inf", "service: x\ntimeout: .inf\nsteps: [authenticate]\n", 2, "timeout"),
    ("yaml-syntax", "service: x\nsteps: [authenticate\nuser: a\n", 3, "yaml"),
    ("yaml-tab", "service: x\nsteps:\n\t- authenticate\n", 3, "yaml"),
    ("empty-file", "", 1, "profile"),
    ("not-a-mapping", "- authenticate\n", 1, "profile"),
    ("unknown-key", GOOD_HEAD + "stpes: [authenticate]\n", 5, "stpes"),
    ("duplicate-key", GOOD_HEAD + "user: bob\nsteps: [authenticate]\n", 5, "user"),
    ("missing-service", "config: lab\nsteps: [authenticate]\n", 1, "service"),
    ("missing-steps", GOOD_HEAD, 1, "steps"),
    ("service-slash", "service: ../x\nsteps: [authenticate]\n", 1, "service"),
    ("unknown-function", GOOD_HEAD + "steps:\n  - acct_mgmt\n  - authentikate\n", 7, "steps[1]"),
    (
        "unknown-flag",
        GOOD_HEAD + "steps:\n  - setcred:\n      flags: [PAM_ESTABLISH]\n",
        7,
        "steps[0].setcred.flags",
    ),
    (
        "flag-of-other-function",
        GOOD_HEAD + "steps:\n  - authenticate:\n      flags: [PAM_SILENT, PAM_DELETE_CRED]\n",
        7,
        "steps[0].authenticate.flags",
    ),
    (
        "unknown-code",
        GOOD_HEAD + "steps:\n  - authenticate:\n      expect: PAM_AUTH_ER\n",
        7,
        "steps[0].authenticate.expect",
    ),
    (
        "unknown-code-in-list",
        GOOD_HEAD + "steps:\n  - authenticate:\n      expect:\n        - PAM_SUCCESS\n"
        "        - PAM_NOPE\n",
        9,
        "steps[0].authenticate.expect",
    ),
    (
        "unknown-step-key",
        GOOD_HEAD + "steps:\n  - authenticate:\n      expected: PAM_SUCCESS\n",
        7,
        "steps[0].authenticate.expected",
    ),
    (
        "step-two-keys",
        GOOD_HEAD + "steps:\n  - {authenticate: null, acct_mgmt: null}\n",
        6,
        "steps[0]",
    ),
    ("items-not-mapping", GOOD_HEAD + "items: [tty]\nsteps: [authenticate]\n", 5, "items"),
    (
        "unknown-item",
        GOOD_HEAD + "items:\n  tty: /dev/pts/0\n  rhots: x\nsteps: [acct_mgmt]\n",
        7,
        "items.rhots",
    ),
    ("user-as-item", GOOD_HEAD + "items: {user: bob}\nsteps: [acct_mgmt]\n", 5, "items.user"),
    ("bad-env-name", GOOD_HEAD + "env:\n  A-B: x\nsteps: [acct_mgmt]\n", 6, "env.A-B"),
    (
        "secret-from-an-inherited-variable",
        GOOD_HEAD + "answers:\n  - answer: {env: LC_TOKEN}\nsteps: [acct_mgmt]\n",
        6,
        "answers[0].answer.env",
    ),
    ("answers-not-list", GOOD_HEAD + "answers: {match: x}\nsteps: [acct_mgmt]\n", 5, "answers"),
    (
        "bad-regex",
        GOOD_HEAD + "answers:\n  - match: '(unclosed'\n    answer: x\nsteps: [acct_mgmt]\n",
        6,
        "answers[0].match",
    ),
    (
        "answer-missing",
        GOOD_HEAD + "answers:\n  - match: x\nsteps: [acct_mgmt]\n",
        6,
        "answers[0].answer",
    ),
    (
        "answer-bad-source",
        GOOD_HEAD + "answers:\n  - answer: {file: /etc/shadow}\nsteps: [acct_mgmt]\n",
        6,
        "answers[0].answer.file",
    ),
    (
        "ask-false",
        GOOD_HEAD + "answers:\n  - answer: {ask: false}\nsteps: [acct_mgmt]\n",
        6,
        "answers[0].answer.ask",
    ),
    ("config-missing-dir", "service: x\nconfig: ./no-such-dir\nsteps: [acct_mgmt]\n", 2, "config"),
    (
        "config-bad-file-name",
        "service: x\nconfig:\n  ../x: 'auth required pam_permit.so'\nsteps: [acct_mgmt]\n",
        3,
        "config.../x",
    ),
    ("timeout-negative", GOOD_HEAD + "timeout: -1\nsteps: [acct_mgmt]\n", 5, "timeout"),
    (
        "messages-not-list",
        GOOD_HEAD + "steps:\n  - authenticate:\n      expect_messages: x\n",
        7,
        "steps[0].authenticate.expect_messages",
    ),
    (
        "bad-fail-delay",
        GOOD_HEAD + "steps:\n  - authenticate:\n      expect_fail_delay: [5, 1]\n",
        7,
        "steps[0].authenticate.expect_fail_delay",
    ),
    ("empty-steps", GOOD_HEAD + "steps: []\n", 5, "steps"),
    (
        "lesson-no-question",
        GOOD_HEAD + "steps: [acct_mgmt]\nlesson:\n  hints: [a]\n",
        7,
        "lesson.question",
    ),
    (
        "hint-is-mapping",
        GOOD_HEAD + "steps: [acct_mgmt]\nlesson:\n  question: q\n  hints:\n    - look: here\n",
        9,
        "lesson.hints[0]",
    ),
    (
        "set-item-unknown",
        GOOD_HEAD + "steps:\n  - set_item: {tty: x, color: red}\n",
        6,
        "steps[0].set_item.color",
    ),
    ("putenv-bad", GOOD_HEAD + "steps:\n  - putenv: '=x'\n", 6, "steps[0].putenv"),
    (
        "requires-unknown",
        GOOD_HEAD + "requires: {group: wheel}\nsteps: [acct_mgmt]\n",
        5,
        "requires.group",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_names_file_line_and_field(tmp_path: Path, text: str, line: int, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {field}: expected"), message
    assert "\n" not in message


def test_cli_bad_profile_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD_HEAD + "steps:\n  - authenticate:\n      flags: [PAM_SILNT]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "run", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"pamexplorer: {path}:7: steps[0].authenticate.flags: expected "
        f"{proc.stderr.split(': expected ', 1)[1].strip()}"
    ]
    assert "PAM_SILENT" in proc.stderr  # the suggestion


def test_unknown_profile_name_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "run", "no-such-profile"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("pamexplorer: no-such-profile:1: profile: expected")
