"""The long fuzz of ``pamexplorer run`` (tests/profiles/test_fuzz.py runs a short one).

Usage: python3 bench/fuzz_profiles.py [EXAMPLES] [SEED]   (default 2000 of each kind, seed 1)

Generates profile files (dumped, mutated, deeply nested YAML and plain noise) and ``run``
argument lists, runs each in-process and prints the inputs tried, the exit statuses, and every
traceback, hang or malformed error output found (none is the expected figure).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.profiles.fuzzing import Tally, argument_lists, profile_texts, run_cli  # noqa: E402


def fuzz(examples: int, base_seed: int) -> Tally:
    tally = Tally()
    config = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @seed(base_seed)
    @config
    @given(text=profile_texts())
    def files(text: str) -> None:
        problem = run_cli(["@0"], [text], tally)
        if problem is not None:
            tally.failures.append(problem)

    @seed(base_seed + 1)
    @config
    @given(case=argument_lists())
    def arguments(case: tuple[list[str], list[str]]) -> None:
        problem = run_cli(case[0], case[1], tally)
        if problem is not None:
            tally.failures.append(problem)

    files()
    arguments()
    return tally


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    examples = int(args[0]) if args else 2000
    base_seed = int(args[1]) if len(args) > 1 else 1
    started = time.monotonic()
    tally = fuzz(examples, base_seed)
    elapsed = time.monotonic() - started
    kinds = {"traceback": 0, "hang": 0}
    for failure in tally.failures:
        for kind in kinds:
            kinds[kind] += failure.startswith(kind)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items(), key=str))
    print(f"inputs tried: {tally.inputs} in {elapsed:.0f} s")
    print(f"exit statuses: {statuses}")
    print(f"tracebacks: {kinds['traceback']}, hangs: {kinds['hang']}")
    print(f"other findings: {len(tally.failures) - sum(kinds.values())}")
    for failure in tally.failures[:20]:
        print(f"  {failure[:300]!r}")
    return 1 if tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
