"""Compile the trace shim (``pamtrace.c`` -> ``_pamtrace.so`` next to it).

Used by the install's build hook (``hatch_build.py``, which loads this file by its path: it
imports nothing from the package) and by the tests. Without a C compiler nothing is built and
every face says :data:`NO_COMPILER`. An engine child reads :data:`SHIM` from here: what only
building needs (a compiler run, temporary files) is imported by the functions that build.
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "pamtrace.c")
#: Where the engine looks for the compiled shim.
SHIM = os.path.join(HERE, "_pamtrace.so")
NO_COMPILER = "built without a C compiler"
Place = str | os.PathLike[str]
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
    import shutil

    for name in (os.environ.get("CC", ""), "cc", "gcc", "clang"):
        if name and (found := shutil.which(name)):
            return found
    return None


def build_shim(dest: Place = SHIM, source: Place = SOURCE) -> str | None:
    """Compile ``source`` into ``dest`` (atomically); None when done, else why not."""
    import subprocess
    import tempfile

    cc = find_compiler()
    if cc is None:
        return NO_COMPILER
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pamtrace-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run(
            [cc, *CFLAGS, "-o", tmp, os.fspath(source), "-ldl", "-lpthread"],
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


def shim_current(dest: Place = SHIM, source: Place = SOURCE) -> bool:
    """The shim exists and is not older than its source."""
    try:
        return os.stat(dest).st_mtime_ns >= os.stat(source).st_mtime_ns
    except OSError:
        return False
