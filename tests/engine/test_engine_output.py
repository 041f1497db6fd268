"""Module output (issue 9): bounded per call, always read, and a closed pipe costs nothing."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from pamexplorer.engine import OUTPUT_LIMIT, Engine
from pamexplorer.pam.codes import Code, Function

ServiceDir = Callable[[dict[str, str]], Path]
ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_a_module_that_closes_its_output_does_not_make_the_front_end_spin(
    engine: Engine, service_dir: ServiceDir, hostile: Path
) -> None:
    confdir = service_dir({"svc": f"auth optional {hostile} close-output\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        before = cpu_seconds()
        record = session.call(Function.AUTHENTICATE)  # the module sleeps 2 s, output closed
        spent = cpu_seconds() - before
        assert record.code == Code.PAM_SUCCESS and record.output == ()
        # The session still works with the pipe gone.
        assert session.get_item("user") == "alice"
    assert spent < 1.0  # a spin on POLLHUP burns the whole 2 s


def test_output_is_capped_per_call_and_says_so(
    engine: Engine, service_dir: ServiceDir, hostile: Path
) -> None:
    confdir = service_dir({"svc": f"auth optional {hostile} flood 24\n"})
    with engine.start("svc", "alice", confdir=str(confdir)) as session:
        record = session.call(Function.AUTHENTICATE)  # 24 MiB written: the module never blocks
        again = session.call(Function.AUTHENTICATE)  # and each call has its own budget
    for rec in (record, again):
        assert rec.code == Code.PAM_SUCCESS
        *lines, last = rec.output
        kept = sum(len(line) + 1 for line in lines)
        assert kept <= OUTPUT_LIMIT and kept > OUTPUT_LIMIT - 128
        assert set(lines[0]) == {"x"}
        dropped = 24 * 1024 * 1024 - OUTPUT_LIMIT
        assert last == f"[output truncated after 256 KiB: {dropped} more bytes not kept]"


MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from pamexplorer.engine import Engine
    from pamexplorer.pam.codes import Function
    def rss_kib():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine = Engine(timeout=120, direct=True)
    with engine.start("small", "alice", confdir=sys.argv[1]) as session:
        session.call(Function.AUTHENTICATE)
    before = rss_kib()
    with engine.start("flood", "alice", confdir=sys.argv[1]) as session:
        record = session.call(Function.AUTHENTICATE)
    print(json.dumps({"before": before, "after": rss_kib(), "lines": len(record.output)}))
    """
)


def test_a_hundred_megabytes_of_output_cost_little_memory(
    service_dir: ServiceDir, hostile: Path
) -> None:
    confdir = service_dir(
        {
            "small": f"auth optional {hostile} flood 1\n",
            "flood": f"auth optional {hostile} flood 100\n",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(confdir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe["lines"] == OUTPUT_LIMIT // 64 + 1
    assert probe["after"] - probe["before"] < 32 * 1024  # KiB: not the 449 MB it once took
