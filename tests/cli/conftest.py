"""What the CLI tests share: running ``pamexplorer`` as a user does, in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, overload

import pytest

ROOT = Path(__file__).resolve().parents[2]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(extra: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    """This environment without colour or encoding overrides (nor the ``drop`` names), with
    this tree's pamexplorer first on the path, then ``extra``."""
    gone = {"NO_COLOR", "PYTHONIOENCODING", *drop}
    env = {k: v for k, v in os.environ.items() if k not in gone}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


@overload
def run_cli(
    *args: str,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_cli(
    *args: str | bytes,
    stdin: bytes,
    env: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]: ...


def run_cli(
    *args: str | bytes,
    stdin: str | bytes = "",
    env: Mapping[str, str] | None = None,
    drop: Iterable[str] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[Any]:
    """``python -m pamexplorer ARGS`` to the end, ``stdin`` its whole input (text mode unless
    ``stdin`` is bytes); ``env``/``drop`` as in :func:`cli_env`."""
    return subprocess.run(
        [sys.executable, "-m", "pamexplorer", *args],
        input=stdin,
        capture_output=True,
        text=isinstance(stdin, str),
        timeout=60,
        env=cli_env(env, drop),
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def cli() -> CliRunner:
    """``cli("call", "--lab", ..., stdin="...")`` -> the finished process (text mode)."""
    return run_cli
