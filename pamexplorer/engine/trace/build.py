"""Compile the trace shim (``pamtrace.c`` -> ``_pamtrace.so`` next to it).

Used by the install's build hook (``hatch_build.py``) and by the tests; needs no hatchling.
Without a C compiler nothing is built and every face says :data:`NO_COMPILER`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "pamtrace.c"
#: Where the engine looks for the compiled shim.
SHIM = HERE / "_pamtrace.so"
NO_COMPILER = "built without a C compiler"
CFLAGS = (
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-U_FORTIFY_SOURCE",
    "-fvisibility=hidden",
    "-Wl,-z,now",
)


def find_compiler() -> str | None:
    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and (found := shutil.which(name)):
            return found
    return None


def build_shim(dest: Path = SHIM, source: Path = SOURCE) -> str | None:
    """Compile ``source`` into ``dest`` (atomically); None when done, else why not."""
    cc = find_compiler()
    if cc is None:
        return NO_COMPILER
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pamtrace-", suffix=".so", dir=dest.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [cc, *CFLAGS, "-o", tmp, str(source), "-ldl", "-lpthread"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return f"the C compiler failed: {done.stderr.strip()[:500]}"
        os.chmod(tmp, 0o755)
        os.replace(tmp, dest)
        return None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def shim_current(dest: Path = SHIM, source: Path = SOURCE) -> bool:
    """The shim exists and is not older than its source."""
    try:
        return dest.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except OSError:
        return False
