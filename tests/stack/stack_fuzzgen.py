"""A seeded generator of hostile service directories and argument lists, and one run of the
``show``/``lint``/``services`` commands checked the way issue 9 asks: exit status 0, 1 or 2, at
most one line on stderr, no traceback, no hang. Shared by the test suite (a short budget) and
``bench/fuzz_stack.py`` (a long run)."""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import signal
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pamexplorer.cli import main
from pamexplorer.stack.resolve import clear_caches

TYPES = ["auth", "account", "session", "password", "-auth", "-session", "Auth", "@include",
         "-@include", "bogus", "auth\r", ""]  # fmt: skip
CONTROLS = ["required", "requisite", "sufficient", "optional", "include", "substack",
            "[success=1 default=ignore]", "[success=2 new_authtok_reqd=done default=ignore]",
            "[default=die]", "[success=99]", "[success=0]", "[success=ok", "[]", "[=]",
            "[success=reset default=bad]", "[default=1]", "requird", "[success\\]=1]",
            "[success=99999999999999]", ""]  # fmt: skip
MODULES = ["pam_permit.so", "pam_deny.so", "pam_debug.so", "pam_warn.so", "pam_rootok.so",
           "pam_unix.so", "pam_nothere.so", "pam_stack.so", "/lib/x86_64-linux-gnu/security/"
           "pam_permit.so", "/dev/zero", "?", ".so", "", "pam_x.so\r", "/etc/passwd"]  # fmt: skip
ARGS = ["nullok", "auth=auth_err", "service=system-auth", "[a b]", "x=\x1b[2J", "\x00",
        "#comment", "\\", "é", "a" * 300]  # fmt: skip
NAMES = ["svc", "other", "inc1", "inc2", "inc3"]


def _word(rng: random.Random, words: list[str]) -> str:
    return rng.choice(words)


def _line(rng: random.Random, confdir: Path) -> bytes:
    typ = _word(rng, TYPES)
    if typ.lstrip("-") == "@include" or rng.random() < 0.15:
        target = str(confdir / _word(rng, NAMES)) if rng.random() < 0.8 else _word(rng, NAMES)
        control = typ if typ.lstrip("-") == "@include" else f"{typ} {_word(rng, CONTROLS[4:6])}"
        text = f"{control} {target}"
    else:
        parts = [typ, _word(rng, CONTROLS), _word(rng, MODULES)]
        parts += [_word(rng, ARGS) for _ in range(rng.randrange(3))]
        text = " ".join(parts)
    data = text.encode("utf-8", "surrogateescape")
    roll = rng.random()
    if roll < 0.05:
        data += b" \\"  # continuation
    elif roll < 0.08:
        data = data.replace(b" ", b"\t")
    elif roll < 0.11:
        cut = rng.randrange(len(data) + 1)
        data = data[:cut] + bytes([rng.randrange(256)]) + data[cut:]
    elif roll < 0.12:
        data = b"x" * rng.randrange(1000, 1100)
    elif roll < 0.14:
        data = b"# " + data
    return data


def service_files(rng: random.Random, confdir: Path) -> None:
    """Fill ``confdir`` with a few hostile service files (and now and then a FIFO, a
    directory, a symlink to a device or a loop)."""
    for name in NAMES:
        path = confdir / name
        roll = rng.random()
        if roll < 0.1:
            continue
        if roll < 0.12:
            os.mkfifo(path)
        elif roll < 0.14:
            path.mkdir()
        elif roll < 0.16:
            path.symlink_to(rng.choice(["/dev/null", "/dev/zero", str(path)]))
        else:
            lines = [_line(rng, confdir) for _ in range(rng.randrange(1, 9))]
            end = b"" if rng.random() < 0.1 else b"\n"
            path.write_bytes(b"\n".join(lines) + end)


def argv(rng: random.Random, confdir: Path) -> list[str]:
    command = rng.choice(["show", "lint", "services"])
    options = ["--confdir", str(confdir), "--type", rng.choice(["auth", "bogus", ""]), "--wide",
               "--width", rng.choice(["40", "80", "-1", "x", "99999"]), "--lab", "--", "-x",
               "--confdir", "/nonexistent", "--confdir", "/dev/null"]  # fmt: skip
    words = [command]
    if rng.random() < 0.85:
        words += ["--confdir", str(confdir)]
    for _ in range(rng.randrange(3)):
        words.append(rng.choice(options))
    services = [*NAMES, "nosuch", "", "s\x1b[31m", "../../etc/passwd", "Other", "a" * 300]
    count = rng.randrange(0, 3) if command == "lint" else (1 if command == "show" else 0)
    words += [rng.choice(services) for _ in range(count)]
    return words


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    status: int | None
    stderr: str
    problem: str  # "" when the run was clean


class _Hung(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hung


def run_once(words: list[str], timeout: int = 10) -> Outcome:
    """``pamexplorer WORDS`` in this process; what went wrong, if anything."""
    out, err = io.StringIO(), io.StringIO()
    before = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    status: int | None = None
    problem = ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(words)
            except SystemExit as exit_:  # argparse: usage errors and --help
                status = exit_.code if isinstance(exit_.code, int) else 2
    except _Hung:
        problem = "hang"
    except Exception:
        problem = "traceback: " + traceback.format_exc(limit=-3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    text = err.getvalue()
    if not problem:
        if status not in (0, 1, 2):
            problem = f"exit status {status}"
        elif len(text.strip().splitlines()) > 1:
            problem = "more than one line on stderr"
        elif "Traceback" in text + out.getvalue():
            problem = "traceback in the output"
        elif any(ch in out.getvalue() + text for ch in "\x1b\x07\x00"):
            problem = "a control character reached the terminal"
    return Outcome(tuple(words), status, text, problem)


@contextlib.contextmanager
def scratch(root: Path, index: int) -> Iterator[Path]:
    confdir = root / f"case{index}"
    confdir.mkdir()
    try:
        yield confdir
    finally:
        clear_caches()
        shutil.rmtree(confdir, ignore_errors=True)


def fuzz(root: Path, seed: int, count: int) -> tuple[int, list[Outcome]]:
    """``count`` directories of ``seed``, three commands each; (runs, bad outcomes)."""
    rng = random.Random(seed)
    bad: list[Outcome] = []
    runs = 0
    for index in range(count):
        with scratch(root, index) as confdir:
            service_files(rng, confdir)
            for _ in range(3):
                runs += 1
                outcome = run_once(argv(rng, confdir))
                if outcome.problem:
                    bad.append(outcome)
    return runs, bad
