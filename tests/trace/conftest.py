"""Trace test setup: C modules built with the flags a test asks for (``-D_FORTIFY_SOURCE=2``
gives ``__syslog_chk``); the shim of this tree comes from ``tests/conftest.py``."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

FlaggedModule = Callable[[str, str, Sequence[str]], Path]


@pytest.fixture(scope="session")
def flagged_module(module_cache: Path) -> FlaggedModule:
    """``flagged_module(name, source, cflags)`` -> a module compiled with those flags (the
    sources in trace_csrc carry their own declarations; cached by source and flags)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler (cc) is needed to build the test modules")

    def build(name: str, source: str, cflags: Sequence[str] = ("-O1",)) -> Path:
        full = textwrap.dedent(source)
        digest = hashlib.sha256((full + " ".join(cflags)).encode()).hexdigest()[:12]
        out = module_cache / f"{name}-{digest}.so"
        if not out.exists():
            src = module_cache / f"{name}-{digest}.c"
            src.write_text(full)
            subprocess.run(
                [cc, "-shared", "-fPIC", *cflags, "-o", str(out), str(src)],
                check=True,
                capture_output=True,
            )
        return out

    return build
