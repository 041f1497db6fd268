"""A seeded fuzz of ``pamexplorer run``: generated profile files and argument lists must end
with exit status 0-3, one stderr line per profile, no traceback and no hang. A short budget
here; bench/fuzz_profiles.py runs a long one."""

from __future__ import annotations

from hypothesis import HealthCheck, given, seed, settings

from tests.profiles.fuzzing import Tally, argument_lists, profile_texts, run_cli

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@seed(20261201)
@FUZZ
@given(text=profile_texts())
def test_fuzzed_profile_files(text: str) -> None:
    tally = Tally()
    problem = run_cli(["@0"], [text], tally)
    assert problem is None, problem


@seed(9)
@FUZZ
@given(case=argument_lists())
def test_fuzzed_run_arguments(case: tuple[list[str], list[str]]) -> None:
    argv, files = case
    problem = run_cli(argv, files, Tally())
    assert problem is None, problem
