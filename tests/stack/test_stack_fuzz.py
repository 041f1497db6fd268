"""Seeded fuzzing of service files and ``show``/``lint``/``services`` argument lists (a short
budget here; ``bench/fuzz_stack.py`` runs the same generator for as long as asked)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.cli.conftest import run_cli
from tests.stack.stack_fuzzgen import fuzz


def test_fuzzed_service_files_and_arguments(tmp_path: Path) -> None:
    runs, bad = fuzz(tmp_path, seed=20261201, count=120)
    assert runs == 360
    assert not bad, "\n".join(f"{b.argv!r}: {b.problem}: {b.stderr}" for b in bad[:5])


def test_non_utf8_names_on_a_strict_utf8_stdout(tmp_path: Path) -> None:
    """A file name and a rule that are not UTF-8, printed to a stdout that refuses surrogates."""
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    (confdir / "svc").write_bytes(b"auth required pam_\xff\xfe.so arg=\xc3(\n")
    with open(os.path.join(os.fsencode(confdir), b"\xffname"), "wb") as f:
        f.write(b"auth required pam_permit.so\n")
    (confdir / "plain\xe9").write_text("auth required pam_permit.so\n")
    env = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    commands = (["show", "svc"], ["lint"], ["services"], ["show", "--wide", "svc"])
    for command, status in zip(commands, (0, 1, 0, 0), strict=True):  # lint: pam_\xff\xfe.so
        done = run_cli(command[0], "--confdir", str(confdir), *command[1:], stdin=b"", env=env)
        assert done.returncode == status, (command, done.stderr)
        shown = done.stdout + done.stderr
        assert b"Traceback" not in done.stderr
        assert b"\\xff" in shown and b"\\udcff" not in shown  # the byte, escaped as a byte
