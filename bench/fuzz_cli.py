"""A long fuzz run over ``pamexplorer`` argument lists (the test runs a short one).

    python3 bench/fuzz_cli.py [RUNS] [SEED]

Prints each problem found (hang, traceback, exit status outside 0..3, a usage error that is
not one line, a raw escape sequence) and a summary line: inputs tried, tracebacks, hangs.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz.cli_fuzz import generate, run


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    problems: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(runs):
            argv = generate(rng, Path(scratch))
            outcome = run(argv)
            problem = outcome.problem()
            if problem is not None:
                problems[problem.split(":")[0]] += 1
                print(f"{problem}: {argv!r}\n  {outcome.stderr.strip()[-300:]!r}", flush=True)
    print(
        f"inputs tried {runs}, tracebacks {problems['traceback']}, hangs {problems['hang']}, "
        f"other problems {sum(problems.values()) - problems['traceback'] - problems['hang']}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
