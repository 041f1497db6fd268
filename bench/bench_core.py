"""Core benchmark: the cost pamexplorer adds on top of libpam, measured side by side.

    python3 bench/bench_core.py [--transactions 2000] [--starts 200] [--processes 20]

1. In-process ``Transaction`` vs raw ctypes calls, same 2,000 transactions
   (pam_start_confdir + pam_authenticate + pam_acct_mgmt + pam_end, pam_permit service in a
   temporary confdir), interleaved in rounds so both see the same machine.   target <= 1.25x
2. Warm transaction start through the engine (fork + pam_start), median.    target <= 5 ms
3. ``pamexplorer call`` as a whole process vs a bare Python script making the same calls with
   ctypes: CPU time (user + system, the process and every descendant, engine child included),
   same interpreter, both sides from warm compiled bytecode (the bare script runs as a module,
   PYTHONDONTWRITEBYTECODE unset). Measured as installed, and with ``-S`` (no site hooks: what a
   clean machine's interpreter start costs, site-packages on PYTHONPATH). Target <= 2x.
   Wall time vs ``pamtester`` when it is installed.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pamexplorer.engine import Engine  # noqa: E402
from pamexplorer.pam.codes import Function  # noqa: E402
from pamexplorer.pam.transaction import Transaction  # noqa: E402

SERVICE = "bench"
USER = "benchuser"
RULES = "auth required pam_permit.so\naccount required pam_permit.so\n"

# The bare script: what any Python program calling libpam through ctypes must do at least.
RAW_SCRIPT = textwrap.dedent(
    """
    import ctypes, sys

    class PamMessage(ctypes.Structure):
        _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]

    class PamResponse(ctypes.Structure):
        _fields_ = [("resp", ctypes.c_char_p), ("resp_retcode", ctypes.c_int)]

    CONV = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(PamMessage)),
        ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p,
    )

    class PamConv(ctypes.Structure):
        _fields_ = [("conv", CONV), ("appdata_ptr", ctypes.c_void_p)]

    pam = ctypes.CDLL("libpam.so.0", mode=ctypes.RTLD_GLOBAL)
    pam.pam_start_confdir.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(PamConv), ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    for name in ("pam_authenticate", "pam_acct_mgmt", "pam_end"):
        getattr(pam, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    conv_func = CONV(lambda n, msgs, resp, data: 19)

    def transaction(service, user, confdir):
        conv = PamConv(conv_func, None)
        handle = ctypes.c_void_p()
        rc = pam.pam_start_confdir(service, user, ctypes.byref(conv), confdir,
                                   ctypes.byref(handle))
        if rc != 0:
            return rc
        rc = pam.pam_authenticate(handle, 0) or pam.pam_acct_mgmt(handle, 0)
        pam.pam_end(handle, rc)
        return rc

    if __name__ == "__main__":
        service, user, confdir = (a.encode() for a in sys.argv[1:4])
        sys.exit(1 if transaction(service, user, confdir) else 0)
    """
)


def load_raw(script: Path) -> Callable[[bytes, bytes, bytes], int]:
    namespace: dict[str, object] = {"__name__": "raw_bench"}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    transaction = namespace["transaction"]
    assert callable(transaction)
    return transaction


def bench_in_process(confdir: Path, script: Path, count: int) -> tuple[float, float]:
    """Seconds per transaction: (Transaction, raw ctypes), interleaved rounds."""
    raw = load_raw(script)
    service, user, where = SERVICE.encode(), USER.encode(), str(confdir).encode()

    def ours(n: int) -> float:
        began = time.perf_counter()
        for _ in range(n):
            with Transaction(SERVICE, USER, confdir=str(confdir)) as txn:
                if not (txn.authenticate().ok and txn.acct_mgmt().ok):
                    raise SystemExit("pam_permit refused: the benchmark service is broken")
        return time.perf_counter() - began

    def theirs(n: int) -> float:
        began = time.perf_counter()
        for _ in range(n):
            if raw(service, user, where) != 0:
                raise SystemExit("raw ctypes transaction failed")
        return time.perf_counter() - began

    ours(100)
    theirs(100)
    rounds = 10
    per_round = max(1, count // rounds)
    t_ours = t_raw = 0.0
    for _ in range(rounds):
        t_raw += theirs(per_round)
        t_ours += ours(per_round)
    return t_ours / (per_round * rounds), t_raw / (per_round * rounds)


def bench_engine_start(confdir: Path, count: int, direct: bool = False) -> tuple[float, float]:
    """(median, p90) seconds for a warm Engine.start (fork + pam_start), then its end.

    ``direct``: fork from this process (the CLI's way) instead of the fork server's.
    """
    Engine.prestart()
    engine = Engine(timeout=30, direct=direct)
    samples = []
    for i in range(count + 20):
        began = time.perf_counter()
        session = engine.start(SERVICE, USER, confdir=str(confdir))
        elapsed = time.perf_counter() - began
        session.call(Function.AUTHENTICATE)
        session.end()
        if i >= 20:  # warm-up
            samples.append(elapsed)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def bench_round_trip(confdir: Path, count: int) -> float:
    """Median seconds for one request and its reply through a warm engine child
    (``pam_get_item``: two signed frames, no module runs)."""
    Engine.prestart()
    with Engine(timeout=30).start(SERVICE, USER, confdir=str(confdir)) as session:
        samples = []
        for i in range(count + 50):
            began = time.perf_counter()
            session.get_item("user")
            if i >= 50:
                samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def time_process(argv: list[str], count: int, env: dict[str, str]) -> float | None:
    """Median wall time of a whole process; None if it does not succeed."""
    samples = []
    subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)  # warm caches
    for _ in range(count):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        samples.append(time.perf_counter() - began)
        if done.returncode != 0:
            return None
    return statistics.median(samples)


def become_subreaper() -> bool:
    """Orphans of the processes we start (an engine child its parent did not wait for) are
    reparented to us, so their CPU time is counted too."""
    try:
        pr_set_child_subreaper = 36
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def cpu_of(argv: list[str], env: dict[str, str]) -> float | None:
    """CPU seconds (user + system) of one process and all its descendants."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, cwd="/")
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return None
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_side_by_side(
    commands: dict[str, list[str]], env: dict[str, str], count: int
) -> dict[str, float | None]:
    """Median CPU of each command, interleaved run by run so all see the same machine."""
    for argv in commands.values():  # warm: page cache, and compiled bytecode written
        cpu_of(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    failed: set[str] = set()
    for _ in range(count):
        for name, argv in commands.items():
            cost = cpu_of(argv, env)
            if cost is None:
                failed.add(name)
            else:
                samples[name].append(cost)
    return {
        name: None if name in failed else statistics.median(values)
        for name, values in samples.items()
    }


def call_available(env: dict[str, str]) -> bool:
    probe = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "call", "--help"],
        env=env,
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and "OPERATION" in probe.stdout


def bench_environment(script: Path) -> dict[str, str]:
    """Bytecode caches allowed on both sides, as after a pip install (a process that compiles
    its imports on every run measures the compiler, not the program); our tree, the bare
    script's directory and site-packages (for ``-S`` runs) on the path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    packages = [*site.getsitepackages(), site.getusersitepackages()]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(script.parent), *packages])
    return env


def bench_whole_process(
    confdir: Path, script: Path, count: int, env: dict[str, str]
) -> float | None:
    """Section 3: CPU of ``pamexplorer call`` vs the bare script; returns the wall time of
    ``pamexplorer call`` (for the pamtester comparison)."""
    if not call_available(env):
        print("   pamexplorer call            not available (skipped)")
        return None
    # Section 2 left this process a fork server: stop it, or reaping orphans would wait on it.
    from pamexplorer.engine.spawning import stop_fork_server

    stop_fork_server()
    subreaper = become_subreaper()
    where = [SERVICE, USER, str(confdir)]
    call = ["-m", "pamexplorer", "call", "--confdir", str(confdir), SERVICE, USER]
    call += ["authenticate", "acct_mgmt"]
    print(f"3. whole process, CPU time (user+sys, with descendants), median of {count} runs")
    if not subreaper:
        print("   (not a subreaper here: an engine child left unreaped would not be counted)")
    for label, flags in (("as installed", []), ("-S, no site hooks", ["-S"])):
        costs = cpu_side_by_side(
            {
                "python": [sys.executable, *flags, "-c", "pass"],
                "bare": [sys.executable, *flags, "-m", script.stem, *where],
                "call": [sys.executable, *flags, *call],
            },
            env,
            count,
        )
        bare, ours, empty = costs["bare"], costs["call"], costs["python"]
        if bare is None or ours is None or empty is None:
            raise SystemExit(f"a process failed ({label}): {costs}")
        ratio = ours / bare
        print(f"   {label}:")
        print(f"     empty interpreter          {empty * 1e3:8.1f} ms")
        print(f"     bare python+ctypes module  {bare * 1e3:8.1f} ms")
        print(f"     pamexplorer call           {ours * 1e3:8.1f} ms")
        print(
            f"     ratio vs bare              {ratio:8.2f}x   (target <= 2x) {verdict(ratio <= 2)}"
        )
    return time_process([sys.executable, *call], count, env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--processes", type=int, default=20)
    args, _ = parser.parse_known_args(argv)  # bench/run.py's own arguments are not ours

    with tempfile.TemporaryDirectory(prefix="pamexplorer-bench-") as tmp:
        confdir = Path(tmp) / "pam.d"
        confdir.mkdir()
        (confdir / SERVICE).write_text(RULES)
        script = Path(tmp) / "raw_pam.py"  # run as a module, so it too is compiled once
        script.write_text(RAW_SCRIPT)
        print(f"pamexplorer core benchmark (service {SERVICE!r}: pam_permit, confdir {confdir})")
        print()
        ours, raw = bench_in_process(confdir, script, args.transactions)
        ratio = ours / raw
        print(
            f"1. {args.transactions} transactions in-process "
            "(pam_start_confdir + authenticate + acct_mgmt + pam_end)"
        )
        print(f"   Transaction   {ours * 1e6:8.1f} us/transaction")
        print(f"   raw ctypes    {raw * 1e6:8.1f} us/transaction")
        print(f"   ratio         {ratio:8.2f}x   (target <= 1.25x) {verdict(ratio <= 1.25)}")
        print()

        median, p90 = bench_engine_start(confdir, args.starts)
        print(f"2. warm transaction start through the engine (fork + pam_start), {args.starts}")
        ok = verdict(median <= 5e-3)
        print(
            f"   fork server   median {median * 1e3:6.2f} ms, p90 {p90 * 1e3:6.2f} ms"
            f"   (target <= 5 ms) {ok}"
        )
        direct, direct_p90 = bench_engine_start(confdir, args.starts, direct=True)
        print(
            f"   direct fork   median {direct * 1e3:6.2f} ms, p90 {direct_p90 * 1e3:6.2f} ms"
            "   (single-threaded front ends: CLI, runner)"
        )
        trip = bench_round_trip(confdir, args.starts * 5)
        print(f"   request round trip (pam_get_item, signed frames)  median {trip * 1e6:6.0f} us")
        fresh = time_process(
            [sys.executable, "-c", "import pamexplorer.engine.child"],
            10,
            {**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if fresh is not None:
            print(
                f"   a fresh interpreter per transaction would cost {fresh * 1e3:6.1f} ms "
                "before pam_start"
            )
        print()

        env = bench_environment(script)
        whole = bench_whole_process(confdir, script, args.processes, env)
        bare = time_process(
            [sys.executable, "-m", script.stem, SERVICE, USER, str(confdir)], args.processes, env
        )
        if bare is None:
            raise SystemExit("the bare ctypes script failed")
        print("   wall time, median:")
        print(f"     bare python+ctypes script  {bare * 1e3:8.1f} ms")
        if whole is not None:
            print(f"     pamexplorer call           {whole * 1e3:8.1f} ms")
        pamtester = shutil.which("pamtester")
        if pamtester is None:
            print("   pamtester                   not installed (skipped)")
        else:
            # pamtester has no confdir option: it reads /etc/pam.d, so give it the same rules.
            system_file = Path("/etc/pam.d") / f"pamexplorer-bench-{os.getpid()}"
            try:
                system_file.write_text(RULES)
            except OSError:
                print("   pamtester                   cannot write /etc/pam.d (skipped)")
            else:
                try:
                    tester = time_process(
                        [pamtester, system_file.name, USER, "authenticate", "acct_mgmt"],
                        args.processes,
                        env,
                    )
                finally:
                    system_file.unlink()
                if tester is None:
                    print("   pamtester                   failed (skipped)")
                else:
                    print(f"   pamtester                   {tester * 1e3:8.1f} ms")
                    print(f"   bare script / pamtester     {bare / tester:8.2f}x")
                    if whole is not None:
                        print(f"   pamexplorer call / pamtester {whole / tester:7.2f}x")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    main()
