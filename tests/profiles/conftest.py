"""Profile test setup: the trace shim compiled from this tree (no pip install needed), so
steps carry the per-module trace their ``expect_decided_by``/``expect_log`` are judged by."""

from __future__ import annotations

from pathlib import Path

import pytest

from pamexplorer.engine.trace.build import SHIM, build_shim, shim_current


@pytest.fixture(scope="session", autouse=True)
def trace_shim() -> Path:
    """The shim of this tree, built with the install hook's own function when stale."""
    if not shim_current():
        problem = build_shim()
        if problem:
            pytest.fail(f"cannot build the trace shim: {problem}")
    return Path(SHIM)
