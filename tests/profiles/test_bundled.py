"""Every bundled profile runs through the runner, against the real libpam."""

from __future__ import annotations

from pathlib import Path

import pytest

from pamexplorer.profile import CONFIG_LAB, CONFIG_SYSTEM, bundled_dir, load
from pamexplorer.runner import PASSED, SKIPPED, run_profile

BUNDLED = sorted(bundled_dir().glob("*.yaml")) if bundled_dir() else []  # type: ignore[union-attr]


def test_curriculum_size() -> None:
    profiles = [load(p) for p in BUNDLED]
    lab = [p for p in profiles if p.config == CONFIG_LAB]
    admin = [p for p in profiles if p.config == CONFIG_SYSTEM]
    assert len(lab) >= 12
    assert len(admin) >= 2
    for profile in lab:
        assert profile.lesson is not None, profile.name
        assert profile.lesson.question and profile.lesson.hints and profile.lesson.explanation


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_profile_runs(path: Path) -> None:
    profile = load(path)
    result = run_profile(profile)
    details = [(s.step, s.name, s.problems) for s in result.steps if not s.ok]
    if profile.config == CONFIG_LAB:
        assert result.status == PASSED, details
    else:
        assert result.status in (PASSED, SKIPPED), (result.reason, details)
    if result.status == PASSED:
        assert len(result.steps) == len(profile.steps) + 1  # pam_start comes first
        assert result.steps[0].function == "pam_start"
