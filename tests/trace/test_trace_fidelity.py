"""Three-way fidelity on the differential corpus (tests/stack/test_stack_differential.py).

For every generated service directory and call sequence, in a forked child: the code of every
call with the trace equals the code without it, the stack dispatcher fed with the traced
module codes reaches libpam's code (no "trace and simulator disagree"), every module rule is
matched (never "unreliable"), and every traced code is what the probe module was told to
return (pam_debug by its arguments, pam_permit, pam_deny).
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stack"))

import test_stack_differential as corpus

from pamexplorer.engine.tracer import TracedTransaction
from pamexplorer.pam.codes import Function
from pamexplorer.pam.operation import parse_operation
from pamexplorer.pam.transaction import Transaction
from pamexplorer.stack.simulate import _DEBUG_EVENT, _DENY, debug_code

#: A seeded half of the corpus by default (about 30 s on a busy 2-core machine); the full 600
#: with PAMEXPLORER_TRACE_CASES=600 (``python3 bench/run.py trace`` runs it).
CASES = min(int(os.environ.get("PAMEXPLORER_TRACE_CASES", "300")), corpus.CASES)


def _run(traced: bool, confdir: Path, ops: Sequence[tuple[str, int]]) -> dict[str, Any]:
    kind = TracedTransaction if traced else Transaction
    txn = kind("svc", "nobody", confdir=str(confdir))
    start = txn.start()
    out: dict[str, Any] = {"start": start.code, "calls": [], "traces": []}
    if start.code != 0:
        return out
    for name, flags in ops:
        record = txn.call(Function(name), flags)
        out["calls"].append(record.code)
        if traced:
            assert record.trace is not None
            out["traces"].append(record.trace.to_dict())
    txn.end()
    return out


def run_child(confdir: Path, ops: Sequence[tuple[str, int]]) -> dict[str, Any] | None:
    """Both runs in one forked child (libpam itself may crash on a corpus case: None)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            faulthandler.disable()
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            data = {"plain": _run(False, confdir, ops), "traced": _run(True, confdir, ops)}
            os.write(write_fd, json.dumps(data).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not chunks:
        return None
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


def told(module: dict[str, Any], function: str) -> int | None:
    """The code a probe module was told to return (None: not a probe)."""
    name = module["module"].rsplit("/", 1)[-1]
    fn = Function(function)
    if name == "pam_permit.so":
        return 0
    if name == "pam_deny.so":
        return _DENY[fn]
    if name == "pam_debug.so":
        flags = module["flags_value"]
        event = _DEBUG_EVENT.get(fn) or ("prechauthtok" if flags & 0x4000 else "chauthtok")
        return debug_code(event, module["args"])
    return None


def test_trace_agrees_with_libpam_and_the_dispatcher(tmp_path: Path) -> None:
    rng = random.Random(corpus.SEED)
    chosen = set(random.Random(1).sample(range(corpus.CASES), CASES))
    checked = modules_checked = 0
    for number in range(corpus.CASES):
        confdir = tmp_path / f"case{number}"
        confdir.mkdir()
        sequence, _service = corpus._case(rng, confdir)  # keeps the corpus's random stream
        if number not in chosen:
            continue
        ops = [parse_operation(op) for op in sequence]
        pairs = [(op.function.value, op.flags) for op in ops]
        result = run_child(confdir, pairs)
        if result is None:
            continue  # libpam crashes on this configuration, traced or not
        where = f"case {number} (seed {corpus.SEED}) {sequence}\n{corpus._describe(confdir)}"
        plain, traced = result["plain"], result["traced"]
        assert (plain["start"], plain["calls"]) == (traced["start"], traced["calls"]), where
        assert len(traced["calls"]) == len(traced["traces"])
        done = pairs[: len(traced["calls"])]
        for (name, _flags), code, trace in zip(
            done, traced["calls"], traced["traces"], strict=True
        ):
            assert trace["status"] == "traced", f"{trace['reason']}\n{where}"
            assert trace["disagreement"] == "", (
                f"{name} -> {code}: {trace['disagreement']}\n{where}"
            )
            for module in trace["modules"]:
                if not (module["ran"] and module["called"]):
                    continue
                expected = told(module, name)
                if expected is not None:
                    assert module["code"] == expected, f"{name} {module}\n{where}"
                    modules_checked += 1
        checked += 1
    assert checked > CASES * 0.9 and modules_checked > checked
