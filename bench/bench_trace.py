"""Trace benchmark: what the per-module trace costs, measured side by side in one run.

    python3 bench/bench_trace.py [--transactions 2000] [--engine 600] [--split] [--fidelity]

1. Through the engine (fork server), as every face runs a transaction: a traced vs an
   untraced session, same calls (pam_start_confdir + pam_authenticate + pam_acct_mgmt +
   pam_end on a pam_permit service), interleaved in rounds so both see the same machine;
   the child's recording (events written to the flight recorder) and the front end's reading
   and assembly included. target <= 1.10x
2. In-process, for the record: ``TracedTransaction`` vs ``Transaction``. There the trace's
   Python assembly (rules, dispatcher, records: ~0.1 ms) is not hidden behind a fork, so the
   ratio is far above the engine's; no target.
3. ``--split``: of the engine's difference, the part spent in the front end's assembly
   (``TraceCollector.attach`` and ``prepare``, timed in this process); the rest is the child's
   recording, the flight recorder's reads and what the machine adds.
4. ``--fidelity``: the three-way fidelity test on all 600 cases of the differential corpus
   (CI runs a seeded subset).
A process that never loads the shim pays nothing: libpam's GOT is untouched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pamexplorer.engine import Engine  # noqa: E402
from pamexplorer.engine.trace.build import build_shim, shim_current  # noqa: E402
from pamexplorer.engine.tracer import TracedTransaction, load  # noqa: E402
from pamexplorer.pam.codes import Function  # noqa: E402
from pamexplorer.pam.transaction import Transaction  # noqa: E402

SERVICE = "bench"
USER = "benchuser"
RULES = "auth required pam_permit.so\naccount required pam_permit.so\n"


def interleaved(
    first: Callable[[int], float], second: Callable[[int], float], count: int, rounds: int = 20
) -> tuple[float, float, list[float]]:
    """(seconds per unit of ``first``, of ``second``, the per-round ratios), run in alternating
    rounds, each pair in the other order than the last (ABBA: a load that grows or fades during
    a pair does not always favour the same side); their median shrugs off a burst of load from
    other processes, their quartiles show how much the machine moved the estimate."""
    first(max(1, count // 20))
    second(max(1, count // 20))
    per_round = max(1, count // rounds)
    a = b = 0.0
    ratios = []
    for n in range(rounds):
        if n % 2:
            y = second(per_round)
            x = first(per_round)
        else:
            x, y = first(per_round), second(per_round)
        a, b = a + x, b + y
        ratios.append(x / y)
    return a / (per_round * rounds), b / (per_round * rounds), ratios


def bench_in_process(confdir: Path, count: int) -> tuple[float, float, list[float]]:
    def run(kind: type[Transaction]) -> Callable[[int], float]:
        def timed(n: int) -> float:
            began = time.perf_counter()
            for _ in range(n):
                txn = kind(SERVICE, USER, confdir=str(confdir))
                if txn.start().code or txn.authenticate().code or txn.acct_mgmt().code:
                    raise SystemExit("pam_permit refused: the benchmark service is broken")
                txn.end()
            return time.perf_counter() - began

        return timed

    return interleaved(run(TracedTransaction), run(Transaction), count)


def bench_engine(confdir: Path, count: int) -> tuple[float, float, list[float]]:
    Engine.prestart()
    engine = Engine(timeout=30)

    def run(trace: bool) -> Callable[[int], float]:
        def timed(n: int) -> float:
            began = time.perf_counter()
            for _ in range(n):
                session = engine.start(SERVICE, USER, confdir=str(confdir), trace=trace)
                session.call(Function.AUTHENTICATE)
                record = session.call(Function.ACCT_MGMT)
                session.end()
                if (record.trace is not None) is not trace:
                    raise SystemExit("the engine did not trace as asked")
            return time.perf_counter() - began

        return timed

    return interleaved(run(True), run(False), count)


def bench_split(confdir: Path, count: int) -> tuple[float, float, float]:
    """(median traced transaction, median untraced one, median time in the front end's
    assembly per traced transaction), in seconds, transactions alternating one by one."""
    from pamexplorer.engine.trace.collect import TraceCollector

    spent = [0.0]

    def timed(method: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object) -> object:
            began = time.perf_counter()
            try:
                return method(*args)
            finally:
                spent[0] += time.perf_counter() - began

        return wrapper

    originals = TraceCollector.attach, TraceCollector.prepare
    TraceCollector.attach = timed(TraceCollector.attach)  # type: ignore[method-assign]
    TraceCollector.prepare = timed(TraceCollector.prepare)  # type: ignore[method-assign]
    engine = Engine(timeout=30)
    times: dict[bool, list[float]] = {True: [], False: []}
    assembly: list[float] = []
    try:
        for n in range(2 * count):
            trace = n % 2 == 0
            spent[0] = 0.0
            began = time.perf_counter()
            session = engine.start(SERVICE, USER, confdir=str(confdir), trace=trace)
            session.call(Function.AUTHENTICATE)
            session.call(Function.ACCT_MGMT)
            session.end()
            times[trace].append(time.perf_counter() - began)
            if trace:
                assembly.append(spent[0])
    finally:
        TraceCollector.attach, TraceCollector.prepare = originals  # type: ignore[method-assign]
    median = statistics.median
    return median(times[True]), median(times[False]), median(assembly)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--engine", type=int, default=600)
    parser.add_argument("--split", action="store_true", help="also time the front end's part")
    parser.add_argument("--fidelity", action="store_true", help="also run all 600 corpus cases")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if not shim_current() and build_shim() is not None:
        print("trace shim: cannot be built here (no C compiler); nothing to measure")
        return
    if load() is None:
        print("trace shim: does not load; nothing to measure")
        return
    with tempfile.TemporaryDirectory(prefix="pamexplorer-bench-") as tmp:
        confdir = Path(tmp) / "pam.d"
        confdir.mkdir()
        (confdir / SERVICE).write_text(RULES)
        print(f"pamexplorer trace benchmark (service {SERVICE!r}: pam_permit, confdir {confdir})")
        print()
        traced, plain, ratios = bench_engine(confdir, args.engine)
        ratio = statistics.median(ratios)
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f"1. {args.engine} transactions through the engine (fork server), traced vs not")
        print(f"   traced session    {traced * 1e3:8.2f} ms/transaction")
        print(f"   untraced session  {plain * 1e3:8.2f} ms/transaction")
        print(f"   difference        {(traced - plain) * 1e6:8.0f} us/transaction")
        print(
            f"   ratio (median of rounds) {ratio:5.2f}x   (target <= 1.10x) "
            f"{verdict(ratio <= 1.10)}   rounds' quartiles {low:.2f}-{high:.2f}"
        )
        print()
        traced, plain, _ = bench_in_process(confdir, args.transactions)
        print(f"2. {args.transactions} transactions in-process, traced vs untraced (no target)")
        print(f"   TracedTransaction {traced * 1e6:8.1f} us/transaction")
        print(f"   Transaction       {plain * 1e6:8.1f} us/transaction")
        print(f"   difference        {(traced - plain) * 1e6:8.1f} us ({traced / plain:.2f}x)")
        if args.split:
            traced, plain, assembly = bench_split(confdir, args.engine)
            print()
            print(f"3. {args.engine} transaction pairs, one by one: where the difference goes")
            print(f"   difference (medians)    {(traced - plain) * 1e6:8.0f} us/transaction")
            print(f"   front end's assembly    {assembly * 1e6:8.0f} us/transaction")
            print(f"   the rest                {(traced - plain - assembly) * 1e6:8.0f} us")
        if args.fidelity:
            print()
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 str(ROOT / "tests/trace/test_trace_fidelity.py")],
                env={**os.environ, "PYTHONPATH": str(ROOT), "PAMEXPLORER_TRACE_CASES": "600"},
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            took = time.perf_counter() - began
            tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
            print(f"4. fidelity, all 600 corpus cases: {tail[0]} ({took:.0f} s)")


if __name__ == "__main__":
    main()
