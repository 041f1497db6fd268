"""Hostile profile input: one line naming file, line and field, exit 2, never a traceback or a
hang. Each class found by the adversarial pass of issue 9 has a case here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pamexplorer.profile import ProfileError, load, loads, resolve
from pamexplorer.profile.source import MAX_FILE_BYTES

ROOT = Path(__file__).parents[2]
HEAD = "service: svc\nconfig: {svc: 'auth required pam_permit.so'}\n"

# (case id, text, line, field, a phrase the message must hold)
CASES = [
    (
        "deep-flow-sequence",
        "service: x\nsteps: " + "[" * 5000 + "]" * 5000 + "\n",
        2,
        "yaml",
        "nested at most",
    ),
    (
        "deep-block-mapping",
        "service: x\nsteps:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)),
        34,
        "yaml",
        "nested at most",
    ),
    (
        "deep-flow-mapping",
        "service: x\nsteps: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        2,
        "yaml",
        "nested at most",
    ),
    ("nul-escape", 'service: x\nuser: "a\\0b"\nsteps: [acct_mgmt]\n', 2, "user", "NUL"),
    ("nul-in-key", 'service: x\nenv: {"A\\0": b}\nsteps: [acct_mgmt]\n', 2, "env", "NUL"),
    (
        "nul-in-answer",
        HEAD + 'answers:\n  - answer: "pw\\0"\nsteps: [authenticate]\n',
        4,
        "answers[0].answer",
        "NUL",
    ),
    ("raw-nul", "service: x\n\nuser: a\x00b\nsteps: [acct_mgmt]\n", 3, "yaml", "U+0000"),
    ("raw-escape", "service: x\nuser: a\x1b]52;c;x\x07\nsteps: [a]\n", 2, "yaml", "U+001B"),
    (
        "regex-too-long",
        HEAD + "answers:\n  - match: '" + "a" * 2000 + "'\n    answer: x\nsteps: [acct_mgmt]\n",
        4,
        "answers[0].match",
        "at most 1000 characters",
    ),
    (
        "regex-nested",
        HEAD + "answers:\n  - match: '" + "(" * 400 + ")" * 400 + "'\n    answer: x\n"
        "steps: [acct_mgmt]\n",
        4,
        "answers[0].match",
        "groups deep",
    ),
    (
        "regex-catastrophic",  # a module's message could make it backtrack for hours
        HEAD + "steps:\n  - authenticate:\n      expect_messages: ['^(\\w+\\s?)*$']\n",
        5,
        "steps[0].authenticate.expect_messages[0]",
        "a repeat inside a repeat",
    ),
    (
        "regex-catastrophic-match",
        HEAD + "answers:\n  - {match: '(a|b+)*c', answer: x}\nsteps: [acct_mgmt]\n",
        4,
        "answers[0].match",
        "exponential",
    ),
    (
        "regex-huge-repeat",
        HEAD + "steps:\n  - authenticate:\n      expect_messages: ['a{99999999999}']\n",
        5,
        "steps[0].authenticate.expect_messages[0]",
        "too large",
    ),
    (
        "regex-bad-name",
        HEAD + "steps:\n  - authenticate:\n      expect_messages: ['\\N{NOPE}']\n",
        5,
        "steps[0].authenticate.expect_messages[0]",
        "character name",
    ),
    (
        "yaml-key-without-colon",  # noticed on line 4 (end of file), the key is on line 2
        "service: x\nsteps\n  - authenticate\n",
        2,
        "yaml",
        "simple key",
    ),
    (
        "yaml-key-without-colon-mid-file",
        "service: x\nuser\nname: y\nsteps: [a]\n",
        2,
        "yaml",
        "could not find expected ':'",
    ),
    (
        "yaml-unclosed-quote",  # noticed at the end of the file, opened on line 1
        'service: "x\nsteps: [a]\nuser: b\n',
        1,
        "yaml",
        "end of the file",
    ),
    ("yaml-unclosed-flow-mapping", "service: x\nconfig: {a: b\n", 2, "yaml", "flow mapping"),
    ("yaml-two-documents", "service: x\n---\nsteps: [a]\n", 2, "yaml", "another document"),
    (
        "yaml-line-separator",  # PyYAML counts U+2028 as a line break; editors do not
        'service: x\nname: "a\u2028b\u2029c"\nbogus: 1\nsteps: [a]\n',
        3,
        "bogus",
        "known key",
    ),
    ("service-too-long", "service: " + "s" * 256 + "\nsteps: [a]\n", 1, "service", "255 bytes"),
    (
        "inline-file-name-too-long",
        "service: x\nconfig:\n  x: ''\n  " + "é" * 128 + ": ''\nsteps: [a]\n",
        4,
        "config." + "é" * 128,
        "255 bytes",
    ),
    (
        "huge-unknown-step",  # the value is cut, the line stays readable
        "service: x\nsteps: [" + "a" * 900_000 + "]\n",
        2,
        "steps[0]",
        "... (900000 characters)",
    ),
    (
        "huge-key",
        "service: x\nenv:\n  ? " + "K-" * 100_000 + "\n  : v\nsteps: [a]\n",
        4,
        "env." + "K-" * 100_000,
        "expected a variable name",
    ),
    ("timeout-huge", "service: x\ntimeout: 1e300\nsteps: [a]\n", 2, "timeout", "at most"),
    ("int-too-long", "service: x\ntimeout: " + "9" * 5000 + "\nsteps: [a]\n", 2, "timeout", ""),
    ("alias-loop", "service: x\nsteps: &a [*a]\n", 2, "steps[0]", ""),
    (
        "config-dir-name-too-long",
        "service: x\nconfig: " + "d" * 5000 + "\nsteps: [a]\n",
        2,
        "config",
        "not a directory",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_text_is_one_line(
    tmp_path: Path, text: str, line: int, field: str, phrase: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load(path)
    message = str(caught.value)
    field = field if len(field) <= 120 else field[:117] + "..."  # a huge key is cut
    assert message.startswith(f"{path}:{line}: {field}: expected"), message
    assert phrase in message
    assert "\n" not in message and "\0" not in message
    assert len(message) < 1000 + len(str(path))


def test_nesting_just_below_the_bound_is_fine() -> None:
    nested = "[" * 30 + "]" * 30
    with pytest.raises(ProfileError) as caught:
        loads(f"service: x\nsteps: [acct_mgmt]\nlesson: {{question: q, hints: {nested}}}\n")
    assert "hints" in str(caught.value) and "nested" not in str(caught.value)


def test_valid_unusual_regex_warns_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    profile = loads(HEAD + "answers:\n  - {match: '[[a]', answer: x}\nsteps: [authenticate]\n")
    assert profile.answers[0].match == "[[a]"
    assert capfd.readouterr().err == ""


def test_parentheses_in_classes_and_escapes_are_not_groups() -> None:
    pattern = r"[(]\(" * 100
    answers = f"answers:\n  - {{match: '{pattern}', answer: x}}\n"
    profile = loads(HEAD + answers + "steps: [authenticate]\n")
    assert profile.answers[0].match == pattern


def _special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    sparse = tmp_path / "sparse.yaml"
    with sparse.open("wb") as handle:
        handle.truncate(4 << 30)  # 4 GiB, no blocks
    big = tmp_path / "big.yaml"
    big.write_text("service: x\nsteps: [a]\n" + "#" * MAX_FILE_BYTES)
    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"service: caf\xe9\nsteps: [a]\n")
    return {
        "fifo": (fifo, "expected a regular file, not a FIFO"),
        "directory": (directory, "expected a regular file, not a directory"),
        "sparse": (sparse, "at most 1024 KiB"),
        "big": (big, "at most 1024 KiB"),
        "dev-zero": (zero, "expected a regular file, not a character device"),
        "latin1": (latin1, "expected UTF-8 text"),
        "missing": (tmp_path / "missing.yaml", "cannot read (No such file"),
    }


def test_special_files_are_refused(tmp_path: Path) -> None:
    for case, (path, phrase) in _special_files(tmp_path).items():
        with pytest.raises(ProfileError) as caught:
            load(path)
        assert str(caught.value).startswith(f"{path}:1: file: expected") or "cannot" in str(
            caught.value
        ), case
        assert phrase in str(caught.value), case


def test_special_files_through_the_cli(tmp_path: Path) -> None:
    """The whole command, with a timeout that a hang would hit: one line each, exit 2."""
    files = _special_files(tmp_path)
    for case, (path, phrase) in files.items():
        if case == "missing":  # a name that is no file is looked up as a profile name
            phrase = "expected a profile file or the name of a bundled or user profile"
        proc = subprocess.run(
            [sys.executable, "-m", "pamexplorer", "run", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode == 2, case
        assert "Traceback" not in proc.stderr, case
        assert len(proc.stderr.splitlines()) == 1 and phrase in proc.stderr, (case, proc.stderr)


@pytest.mark.parametrize(
    "reference", ["a\0b", "x" * 5000, "~no-such-user-here/p.yaml", "", ".", "..", "/"]
)
def test_odd_references_are_one_error(reference: str) -> None:
    with pytest.raises(ProfileError) as caught:
        load(resolve(reference))
    assert "\n" not in str(caught.value) and "\0" not in str(caught.value)


def test_discovery_survives_unreadable_and_odd_directories(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    (tmp_path / "ok.yaml").write_text("service: login\nsteps: [acct_mgmt]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "profiles", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            PAMEXPLORER_PROFILES=os.pathsep.join(
                [str(tmp_path / "missing"), str(tmp_path / "ok.yaml"), "x" * 5000, str(tmp_path)]
            ),
        ),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"name": "ok"' in proc.stdout and "fifo" not in proc.stdout


HOSTILE = r"""
name: "title \e]0;owned\a \e[2J \u009b31m"
service: svc
config:
  svc: "auth required pam_echo.so bell\a csi\e[31m c1\u009b31m"
user: "alice\e[5m"
steps:
  - set_item: {tty: "/dev/\e[2J"}
  - authenticate: {expect_messages: ["nothing-like-this"]}
"""


def test_reports_never_carry_raw_control_characters(tmp_path: Path) -> None:
    """Titles, users, step labels and module messages: escaped in text, escaped in JSON,
    and only characters XML allows in JUnit (which parses)."""
    path = tmp_path / "hostile\udcff.yaml"
    with open(os.fsencode(str(path)), "w") as handle:
        handle.write(HOSTILE)
    raw = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) != "\n"]
    for fmt in ("text", "json", "junit"):
        argv = [sys.executable, "-m", "pamexplorer", "run", "--format", fmt, str(path)]
        proc = subprocess.run(
            [os.fsencode(arg) for arg in argv],
            capture_output=True,
            cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        out = proc.stdout.decode("utf-8")  # strict: the report is valid UTF-8
        assert not [c for c in raw if c in out], (fmt, out)
        assert "bell" in out and "csi" in out
        if fmt == "junit":
            import xml.etree.ElementTree as ET

            ET.fromstring(proc.stdout)
        if fmt == "text":
            assert "\\x1b[31m" in out and "\\x07" in out
            assert "\\udcff" in out or "\\xff" in out  # the undecodable byte of the name


def test_profiles_listing_escapes_names_and_titles(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "good.yaml").write_text('name: "t\\e]0;owned\\a"\nservice: login\nsteps: [acct_mgmt]\n')
    (mine / "bad\x1b[2J.yaml").write_text("service: x\nsteps: [\x1b]\n")
    raw = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if chr(c) != "\n"]
    for fmt in ("text", "json"):
        proc = subprocess.run(
            [sys.executable, "-m", "pamexplorer", "profiles", "--format", fmt],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=dict(os.environ, PYTHONPATH=str(ROOT), PAMEXPLORER_PROFILES=str(mine)),
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert not [c for c in raw if c in proc.stdout], (fmt, proc.stdout)
        assert "owned" in proc.stdout and "bad" in proc.stdout
