"""Run every benchmark section in one process and print the measured ratios side by side.

Usage: python3 bench/run.py [core|stack|tui|trace ...]
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

SECTIONS = ("core", "stack", "tui", "trace")


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    chosen = argv or list(SECTIONS)
    for name in chosen:
        try:
            module = importlib.import_module(f"bench_{name}")
        except ModuleNotFoundError as err:
            print(f"== {name}: not available ({err})")
            continue
        print(f"== {name}")
        module.main()
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
