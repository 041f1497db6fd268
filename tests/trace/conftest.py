"""Trace test setup: C modules built with the flags a test asks for (``-D_FORTIFY_SOURCE=2``
gives ``__syslog_chk``); the shim of this tree comes from ``tests/conftest.py``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.conftest import compile_module

FlaggedModule = Callable[[str, str, Sequence[str]], Path]


@pytest.fixture(scope="session")
def flagged_module(module_cache: Path) -> FlaggedModule:
    """``flagged_module(name, source, cflags)``: ``c_module`` with the C flags a test asks for
    (the sources in trace_csrc)."""
    return functools.partial(compile_module, module_cache)
