"""Fuzz ``show``/``lint``/``services`` for a while: hostile service directories and argument
lists from the seeded generator the tests use (``tests/stack/stack_fuzzgen.py``).

    PYTHONPATH=$PWD python3 bench/fuzz_stack.py --seconds 300 --seed 1

Prints the inputs tried, the tracebacks, hangs and other faults found (each with its argv),
and exits 1 when there was any. Every run is in-process with a 10 s alarm as the hang check.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stack.stack_fuzzgen import Outcome, fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run")
    parser.add_argument("--seed", type=int, default=1, help="first seed (one per batch)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    runs = directories = 0
    bad: list[Outcome] = []
    seed = args.seed
    with tempfile.TemporaryDirectory(prefix="pamexplorer-fuzz-") as tmp:
        while time.monotonic() < deadline:
            batch = Path(tmp) / f"seed{seed}"
            batch.mkdir()
            count, found = fuzz(batch, seed, 50)
            runs += count
            directories += 50
            bad += found
            seed += 1
    kinds: dict[str, int] = {}
    for outcome in bad:
        kind = outcome.problem.split(":", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"seeds {args.seed}..{seed - 1}: {directories} service directories, {runs} runs")
    print(f"tracebacks {kinds.get('traceback', 0)}, hangs {kinds.get('hang', 0)}, ", end="")
    print(f"other faults {sum(kinds.values()) - kinds.get('traceback', 0) - kinds.get('hang', 0)}")
    for outcome in bad[:20]:
        print(f"  {outcome.argv!r}: {outcome.problem.splitlines()[-1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
