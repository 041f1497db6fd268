"""Fuzzed argument lists: every run ends with 0, 1, 2 or 3, a usage error is one line, and no
traceback, hang or raw escape sequence ever reaches the terminal. A short seeded budget runs
here; ``bench/fuzz_cli.py`` runs a long one."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.fuzz.cli_fuzz import generate, run

RUNS = int(os.environ.get("PAMEXPLORER_FUZZ_RUNS", "40"))


@pytest.mark.parametrize("seed", range(4))
def test_fuzzed_arguments_end_cleanly(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    problems = []
    assert RUNS // 4 > 0, f"PAMEXPLORER_FUZZ_RUNS={RUNS}: no run per seed"
    for _ in range(RUNS // 4):
        argv = generate(rng, tmp_path)
        outcome = run(argv)
        problem = outcome.problem()
        if problem is not None:
            problems.append(f"{problem}: {argv!r}\n{outcome.stderr[-600:]}")
    assert problems == []
