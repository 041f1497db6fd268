"""What the CLI tests share: running ``pamexplorer`` as a user does, in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PYTHONIOENCODING")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


@pytest.fixture
def cli() -> CliRunner:
    """``cli("call", "--lab", ..., stdin="...")`` -> the finished process (text mode)."""

    def run(
        *args: str, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pamexplorer", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(env),
            check=False,
        )

    return run
