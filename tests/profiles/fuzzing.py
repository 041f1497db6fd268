"""Fuzzing ``pamexplorer run``: generated profile files and argument lists, run in-process.

Shared by tests/profiles/test_fuzz.py (a short, seeded budget) and bench/fuzz_profiles.py (a
long one). Every input must end with exit status 0, 1, 2 or 3, at most one stderr line per
profile named, no traceback, no raw control character on either stream, and no hang.
"""

from __future__ import annotations

import contextlib
import io
import signal
import string
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from hypothesis import strategies as st

from pamexplorer.cli import main
from pamexplorer.profile.reader import STEP_KEYS, TOP_KEYS

#: Seconds one input may take before it counts as a hang.
HANG_SECONDS = 30

MODULE_LINES = (
    "auth required pam_permit.so",
    "auth requisite pam_deny.so",
    "auth optional pam_echo.so hello %u",
    "auth sufficient pam_permit.so",
    "auth [success=1 default=ignore] pam_deny.so",
    "auth required pam_env.so readenv=0",
    "account required pam_permit.so",
    "account required pam_deny.so",
    "password required pam_permit.so",
    "session optional pam_echo.so \x1b[2Jcleared",
    "session required pam_permit.so",
    "auth include nowhere",
    "auth required pam_nonexistent.so",
    "auth required pam_debug.so auth=perm_denied",
    "bogus line here",
)
STEP_WORDS = (
    "authenticate",
    "setcred",
    "acct_mgmt",
    "open_session",
    "close_session",
    "chauthtok",
    "set_item",
    "putenv",
    "authentikate",
    "setcred(PAM_ESTABLISH_CRED)",
    "authenticate(PAM_SILENT|PAM_DISALLOW_NULL_AUTHTOK)",
)
CODES = ("PAM_SUCCESS", "PAM_AUTH_ERR", "PAM_PERM_DENIED", "any", "PAM_NOPE", 7, -1)
WEIRD = "\x00\x07\x1b\x7f\x85\x9b\u2028\ufeff\udcff:{}[]&*!|>'\"%@`#-?,\t\n\r\\"

#: Text with the characters that broke things before: NUL, escapes, separators, surrogates.
texts = st.text(alphabet=st.sampled_from(string.ascii_letters + string.digits + WEIRD), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
    st.sampled_from(CODES),
    st.sampled_from(STEP_WORDS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(texts, st.sampled_from(STEP_KEYS)), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def steps(draw: st.DrawFn) -> Any:
    word = draw(st.sampled_from(STEP_WORDS))
    if word == "set_item":
        return {"set_item": draw(st.dictionaries(st.sampled_from(("tty", "rhost", "x")), texts))}
    if word == "putenv":
        return {"putenv": draw(st.one_of(texts, st.just("NAME=value"), st.just("NAME")))}
    options = draw(
        st.dictionaries(
            st.sampled_from(STEP_KEYS),
            st.one_of(
                st.sampled_from(CODES),
                st.lists(st.sampled_from(CODES), max_size=3),
                st.lists(texts, max_size=3),
                values,
            ),
            max_size=3,
        )
    )
    return {word: options} if options else word


@st.composite
def sane_steps(draw: st.DrawFn) -> Any:
    """Steps as a person writes them, with expectations that may or may not hold."""
    word = draw(st.sampled_from(STEP_WORDS[:6]))
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["expect"] = draw(st.sampled_from(("PAM_SUCCESS", "PAM_AUTH_ERR", "any")))
    if draw(st.booleans()):
        options["expect_messages"] = draw(
            st.lists(st.sampled_from(("hello", "^$", ".")), max_size=2)
        )
    if draw(st.booleans()):
        options["expect_env"] = {"A": draw(st.sampled_from(("1", None)))}
    if draw(st.booleans()):  # the per-module trace: the deciding rule, the log lines
        options["expect_decided_by"] = draw(
            st.sampled_from(("svc:1", "svc:2", "pam_permit.so", "/x/svc:1", "svc", "svc:0"))
        )
    if draw(st.booleans()):
        options["expect_log"] = draw(st.lists(st.sampled_from(("x", "^$", "(a+)+")), max_size=2))
    if word == "setcred" and draw(st.booleans()):
        options["flags"] = ["PAM_ESTABLISH_CRED"]
    sets = draw(st.sampled_from((None, None, None, "set_item", "putenv")))
    if sets == "set_item":
        return {"set_item": {"tty": draw(texts) or "tty1"}}
    if sets == "putenv":
        return {"putenv": draw(st.sampled_from(("A=1", "A", "B=\x1b[2J")))}
    return {word: options} if options else word


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly the right shape (so the runner and libpam get to work), sometimes not."""
    sane = draw(st.sampled_from((True, True, True, False)))
    long_name = st.sampled_from(("s" * 255, "s" * 256, "é" * 128))
    data: dict[str, Any] = {"service": "svc" if sane else draw(st.one_of(texts, long_name))}
    if sane or draw(st.booleans()):
        lines = draw(st.lists(st.sampled_from(MODULE_LINES), min_size=1, max_size=4))
        data["config"] = {"svc": "\n".join(lines) + "\n"}
        if not sane and draw(st.booleans()):
            data["config"][draw(long_name)] = ""
    else:
        data["config"] = draw(st.one_of(st.just("lab"), st.just("system"), texts, values))
    data["user"] = "alice" if sane else draw(st.one_of(texts, st.none()))
    data["steps"] = draw(st.lists(sane_steps(), min_size=1, max_size=4) if sane else values)
    if draw(st.booleans()):
        answers = st.fixed_dictionaries(
            {"answer": st.one_of(texts, st.just({"ask": True}), st.just({"env": "NOPE_X"}))},
            optional={
                "match": st.sampled_from(("Password", "(?i)login", "[[x]"))
                if sane
                else st.one_of(texts, st.just("(a+)+b"))
            },
        )
        data["answers"] = draw(st.lists(answers, max_size=3) if sane else values)
    if not sane:
        for key in draw(st.lists(st.sampled_from((*TOP_KEYS, "stpes", "\x1b")), max_size=3)):
            data[key] = draw(values)
    return data


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, cut, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut :]
    return text


@st.composite
def profile_texts(draw: st.DrawFn) -> str:
    """YAML text: a dumped profile, perhaps mutated, perhaps deeply nested, or plain noise."""
    kind = draw(st.sampled_from(("dumped", "mutated", "nested", "noise")))
    if kind == "noise":
        return draw(st.text(max_size=200))
    text = yaml.safe_dump(draw(profiles()), allow_unicode=True, sort_keys=False, width=60)
    if kind == "mutated":
        edit = st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 8),
            st.text(alphabet=st.sampled_from(WEIRD + " -"), max_size=4),
        )
        text = _mutate(text, draw(st.lists(edit, min_size=1, max_size=4)))
    elif kind == "nested":
        depth = draw(st.integers(1, 3000))
        text += "lesson: " + "[" * depth + "]" * depth + "\n"
    return text


#: Paths that are not profiles at all: special files and odd names.
SPECIAL_PATHS = (
    "/dev/zero",
    "/dev/null",
    "/",
    "/proc/self/mem",
    "/proc/self/status",
    "/etc/shadow",
    "",
    "-",
    "--",
    "~nobody-here/x.yaml",
    "lab-requisite",
    "lab-items",
    "no-such-profile",
    "x" * 5000,
    "\udcff.yaml",
    "\x1b]0;title\x07",
)


@st.composite
def argument_lists(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """``run`` arguments (options and profile references), and the profile texts to write as
    the files named ``@0``, ``@1``, ... in them."""
    files = draw(st.lists(profile_texts(), max_size=3))
    refs = st.one_of(
        st.sampled_from([f"@{i}" for i in range(len(files))] or ["@none"]),
        st.sampled_from(SPECIAL_PATHS),
        st.text(alphabet=st.sampled_from(string.printable + "\udcfe\u202e"), max_size=10),
    )
    options = st.sampled_from(
        (
            ["--format", "text"],
            ["--format", "json"],
            ["--format", "junit"],
            ["--format", "xml"],
            ["--format"],
            ["--timeout", "1e400"],
            ["-h"],
            ["--"],
        )
    )
    argv: list[str] = []
    for part in draw(st.lists(st.one_of(refs.map(lambda r: [r]), options), max_size=5)):
        argv.extend(part)
    return argv, files


# --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


class Hang(Exception):
    pass


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


_RAW = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))} - {"\n"}


def run_cli(argv: list[str], files: list[str], tally: Tally) -> str | None:
    """Run ``pamexplorer run ARGV`` in-process; what went wrong, or None."""
    with tempfile.TemporaryDirectory(prefix="pamexplorer-fuzz-") as tmp:
        paths = []
        for i, text in enumerate(files):
            path = Path(tmp) / f"p{i}.yaml"
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            paths.append(str(path))
        argv = [paths[int(a[1:])] if a[:1] == "@" and a[1:].isdigit() else a for a in argv]
        out, err = io.StringIO(), io.StringIO()
        status: Any = None
        tally.inputs += 1
        stdin, sys.stdin = sys.stdin, io.StringIO()  # nobody to ask: {ask: true} cannot ask
        try:
            with (
                _alarm(HANG_SECONDS),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                contextlib.chdir(tmp),
            ):
                try:
                    status = main(["run", *argv])
                except SystemExit as done:  # argparse: usage errors and --help
                    status = done.code if done.code is not None else 0
        except Hang as hang:
            return f"hang: {hang} for run {argv!r}"
        except BaseException as exc:  # a traceback is the finding
            return f"traceback: {type(exc).__name__}: {exc} for run {argv!r}"
        finally:
            sys.stdin = stdin
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        stderr, stdout = err.getvalue(), out.getvalue()
        lines = stderr.splitlines()
        named = len(argv) or 1  # at most one line per argument ("-" and "--" may be names)
        if status not in (0, 1, 2, 3):
            return f"exit status {status!r} for run {argv!r}: {stderr!r}"
        if "Traceback" in stderr + stdout:
            return f"traceback in the output of run {argv!r}: {stderr!r}"
        if len(lines) > named or any(not line.startswith("pamexplorer") for line in lines):
            return f"stderr is not one line per profile for run {argv!r}: {stderr!r}"
        raw = sorted(_RAW & set(stdout + stderr))
        if raw:
            return f"raw control characters {raw!r} in the output of run {argv!r}"
        return None
