"""A seeded generator of ``pamexplorer`` argument lists, shared by the test and bench/.

Every list names a subcommand (never the interactive explorer) and mixes real words (services,
operations, options, codes) with hostile ones: control characters and escape sequences,
non-UTF-8 bytes, huge and negative numbers, paths to FIFOs, devices and directories. Nothing it
generates changes the system: system services only get ``authenticate`` and ``acct_mgmt``
(with no input, so nothing is answered); every other call runs against the lab.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HOSTILE = (
    "",
    " ",
    "-",
    "--",
    "\x1b]52;c;SGVsbG8=\x07",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x9b31m",
    "a\nb",
    "tab\there",
    "x" * 5000,
    "../../../../etc/shadow",
    "/dev/zero",
    "/dev/null",
    "/proc/self/mem",
    "/",
    "%s%n%x",
    "{}[]:,",
    "é",
    "\u202e",
    "1e309",
    "-1",
    "0",
    "99999999999999999999999",
    "nan",
    "inf",
    os.fsdecode(b"\xff\xfe\x80"),
)
SERVICES = ("login", "sshd", "su", "other", "lab-login", "lab-jumps", "lab-missing", "nosuch")
OPERATIONS = (
    "authenticate",
    "acct_mgmt",
    "open_session",
    "close_session",
    "setcred",
    "chauthtok",
    "authenticate(PAM_SILENT)",
    "authenticate(PAM_BOGUS)",
    "setcred(PAM_ESTABLISH_CRED|PAM_SILENT)",
    "authenticate(",
)
CODES = ("PAM_AUTH_ERR", "auth_err", "7", "31", "99", "-3", "PAM_NOPE", "authtok_recover_err")
PROFILES = ("lab-required", "lab-jumps", "nosuch-profile", "/dev/null", "/", "/etc/passwd")
SAFE_SYSTEM_OPS = ("authenticate", "acct_mgmt")


@dataclass(frozen=True)
class Outcome:
    argv: tuple[str, ...]
    status: int | None  # None: it hung (killed after the timeout)
    stderr: str
    stdout: str

    def inputs(self) -> int:
        """How many inputs may each earn their own error line: ``run`` reads several profiles
        and names every bad one; everything else stops at its first problem."""
        if not self.argv or self.argv[0] != "run":
            return 1
        args = list(self.argv[1:])
        if "--format" in args:
            at = args.index("--format")
            del args[at : at + 2]
        return max(1, len(args))

    def problem(self) -> str | None:
        """What is wrong with this run, or None."""
        if self.status is None:
            return "hang"
        if self.status not in (0, 1, 2, 3):
            return f"exit status {self.status}"
        if "Traceback" in self.stderr or "Traceback" in self.stdout:
            return "traceback"
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        if self.status == 2 and not 1 <= len(lines) <= self.inputs():
            return f"{len(lines)} lines on stderr for a usage error"
        for name, text in (("stderr", self.stderr), ("stdout", self.stdout)):
            if "\x1b" in text or "\x9b" in text:
                return f"raw escape sequence on {name}"
        return None


def _word(rng: random.Random, pool: tuple[str, ...]) -> str:
    return rng.choice(pool) if rng.random() < 0.75 else rng.choice(HOSTILE)


def generate(rng: random.Random, scratch: Path) -> list[str]:
    """One argument list."""
    fifo = scratch / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    hostile_paths = (str(fifo), str(scratch), "/dev/zero", "/nonexistent/dir")
    command = rng.choice(("call", "codes", "services", "show", "lint", "simulate", "run"))
    args: list[str] = [command]
    if command == "call":
        lab = rng.random() < 0.7
        if lab:
            args.append("--lab")
        service = _word(rng, SERVICES)
        if not lab and not service.startswith("lab-") and rng.random() < 0.3:
            args += ["--confdir", rng.choice(hostile_paths)]
        if rng.random() < 0.3:
            args += ["--timeout", rng.choice(("5", "0", "-1", "1e300", "nan", "inf", "x"))]
        if rng.random() < 0.3:
            args += ["--format", rng.choice(("json", "text", "xml"))]
        args += [service, _word(rng, ("alice", "bob", "root", "nobody"))]
        pool = OPERATIONS if lab else SAFE_SYSTEM_OPS
        args += [_word(rng, pool) if lab else rng.choice(pool) for _ in range(rng.randint(0, 3))]
    elif command == "codes":
        args += [_word(rng, CODES) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            args += ["--format", rng.choice(("json", "text", "csv"))]
    elif command in ("services", "show", "lint"):
        choice = rng.random()
        if choice < 0.4:
            args.append("--lab")
        elif choice < 0.6:
            args += ["--confdir", rng.choice(hostile_paths)]
        if command != "services":
            args += [_word(rng, SERVICES) for _ in range(rng.randint(0, 2) + (command == "show"))]
        if command == "show" and rng.random() < 0.3:
            args += ["--type", rng.choice(("auth", "account", "AUTH", "x"))]
    elif command == "simulate":
        if rng.random() < 0.6:
            args.append("--lab")
        for _ in range(rng.randint(0, 2)):
            spec = f"{_word(rng, ('lab-jumps', 'x'))}:{rng.choice(('3', '0', '-1', '9' * 30))}"
            args += ["--result", f"{spec}={_word(rng, CODES)}"]
        args += [_word(rng, SERVICES)]
        args += [_word(rng, OPERATIONS) for _ in range(rng.randint(0, 3))]
    else:
        args += [_word(rng, PROFILES) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            args += ["--format", rng.choice(("json", "junit", "text", "yaml"))]
    if rng.random() < 0.1:
        args.insert(rng.randrange(len(args) + 1), rng.choice(HOSTILE))
    return args


def run(argv: list[str], timeout: float = 30.0) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR",)}
    env.setdefault("LANG", "C.UTF-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pamexplorer", *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        return Outcome(tuple(argv), None, (err.stderr or b"").decode("utf-8", "replace"), "")
    return Outcome(
        tuple(argv),
        done.returncode,
        done.stderr.decode("utf-8", "replace"),
        done.stdout.decode("utf-8", "replace"),
    )
