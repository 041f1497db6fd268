"""Resolve + lint every service in /etc/pam.d in-process, beside libpam's own pam_start.

Both sides run in this one process, on the same services, in the same run:
- stack: ``resolve`` + ``lint`` for every service (cold: empty file and ELF caches; warm:
  caches filled, as in a long-running TUI); target < 50 ms for all of them;
- libpam: ``pam_start`` (which parses the same files and dlopens every module) + ``pam_end``
  through ``pamexplorer.pam.transaction.Transaction``.
"""

from __future__ import annotations

import statistics
import time

from pamexplorer.pam.transaction import Transaction
from pamexplorer.stack.lint import lint
from pamexplorer.stack.resolve import clear_caches, list_services, resolve

ROUNDS = 7
TARGET_MS = 50.0


def _stack_once(names: list[str], cold: bool) -> float:
    if cold:
        clear_caches()
    began = time.perf_counter()
    for name in names:
        lint(resolve(name))
    return (time.perf_counter() - began) * 1000


def _pam_start_once(names: list[str]) -> float:
    total = 0.0
    for name in names:
        transaction = Transaction(name, "nobody")
        record = transaction.start()
        total += record.duration_ms
        transaction.end()
    return total


def main() -> None:
    names = [name for name, _ in list_services()]
    cold = [_stack_once(names, cold=True) for _ in range(ROUNDS)]
    warm = [_stack_once(names, cold=False) for _ in range(ROUNDS)]
    first_start = _pam_start_once(names)
    starts = [_pam_start_once(names) for _ in range(ROUNDS)]
    cold_ms, warm_ms, start_ms = (statistics.median(x) for x in (cold, warm, starts))
    print(f"services: {len(names)} ({', '.join(names)})")
    print(
        f"stack resolve+lint, all services, cold caches : {cold_ms:8.2f} ms (median of "
        f"{ROUNDS}; target < {TARGET_MS:.0f} ms: {'ok' if cold_ms < TARGET_MS else 'MISSED'})"
    )
    print(f"stack resolve+lint, all services, warm caches : {warm_ms:8.2f} ms")
    print(f"libpam pam_start, all services, first round   : {first_start:8.2f} ms")
    print(
        f"libpam pam_start, all services                : {start_ms:8.2f} ms (median of {ROUNDS})"
    )
    print(f"ratio pam_start / stack (cold)                : {start_ms / cold_ms:8.2f}x")


if __name__ == "__main__":
    main()
