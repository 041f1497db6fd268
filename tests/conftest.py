"""Fixtures shared by every test: sandbox service directories and C fault modules.

Nothing here fakes libpam. Service directories are real files read by the real libpam through
``pam_start_confdir``; fault modules are real shared objects compiled with the system ``cc``.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.engine.trace.build import SHIM, build_shim, shim_current

SECURITY_DIR = Path("/lib/x86_64-linux-gnu/security")

#: Declarations a test module needs, so the tests do not depend on libpam0g-dev headers.
PAM_MODULE_PRELUDE = textwrap.dedent(
    """
    #include <stddef.h>
    typedef struct pam_handle pam_handle_t;
    struct pam_message { int msg_style; const char *msg; };
    struct pam_response { char *resp; int resp_retcode; };
    struct pam_conv {
        int (*conv)(int, const struct pam_message **, struct pam_response **, void *);
        void *appdata_ptr;
    };
    extern int pam_get_item(const pam_handle_t *, int, const void **);
    extern int pam_set_item(pam_handle_t *, int, const void *);
    extern int pam_get_user(pam_handle_t *, const char **, const char *);
    extern int pam_putenv(pam_handle_t *, const char *);
    extern int pam_fail_delay(pam_handle_t *, unsigned int);
    #define PAM_SUCCESS 0
    #define PAM_CONV 5
    #define PAM_USER 2
    #define PAM_PROMPT_ECHO_OFF 1
    #define PAM_PROMPT_ECHO_ON 2
    #define PAM_ERROR_MSG 3
    #define PAM_TEXT_INFO 4
    #define PAM_EXTERN __attribute__((visibility("default")))
    /* One message through the application's conversation; *answer gets its response. */
    static inline int converse_one(pam_handle_t *h, int style, const char *text, char **answer) {
        const struct pam_conv *conv; struct pam_message m = { style, text };
        const struct pam_message *mp = &m; struct pam_response *r = NULL;
        if (pam_get_item(h, PAM_CONV, (const void **)&conv) != PAM_SUCCESS) return 19;
        int rc = conv->conv(1, &mp, &r, conv->appdata_ptr);
        if (rc == PAM_SUCCESS && answer && r) *answer = r->resp;
        return rc;
    }
    """
)

#: A module that prints a line, then crashes in pam_authenticate (SIGSEGV).
SEGV_SOURCE = r"""
#include <stdio.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    printf("about to crash\n"); fflush(stdout);
    *(volatile int *)0 = 1; return 0;
}
"""

#: A module whose pam_authenticate never returns.
HANG_SOURCE = r"""
#include <unistd.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    for (;;) pause();
    return 0;
}
"""

ServiceDirFactory = Callable[[dict[str, str]], Path]
ModuleFactory = Callable[[str, str], Path]


@pytest.fixture(scope="session", autouse=True)
def trace_shim() -> Path:
    """The trace shim of this tree, built with the install hook's own function when stale,
    before any test starts an engine (a fork server that started without it traces nothing
    for the rest of the session), so that every call is traced."""
    if not shim_current():
        problem = build_shim()
        if problem:
            pytest.fail(f"cannot build the trace shim: {problem}")
    return Path(SHIM)


@pytest.fixture
def service_dir(tmp_path: Path) -> ServiceDirFactory:
    """``service_dir({"svc": "auth required pam_permit.so\\n"})`` -> a confdir holding them."""
    counter = iter(range(1_000_000))

    def make(services: dict[str, str]) -> Path:
        confdir = tmp_path / f"pam.d-{next(counter)}"
        confdir.mkdir()
        for name, text in services.items():
            (confdir / name).write_text(textwrap.dedent(text))
        return confdir

    return make


@pytest.fixture(scope="session")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pam-modules")


def compile_module(cache: Path, name: str, source: str, cflags: Sequence[str] = ("-O1",)) -> Path:
    """``source`` with :data:`PAM_MODULE_PRELUDE` in front, compiled with ``cflags`` into
    ``cache`` (once per source and flags) -> path of the .so."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("a C compiler (cc) is needed to build the test modules")
    full = PAM_MODULE_PRELUDE + textwrap.dedent(source)
    digest = hashlib.sha256((full + " ".join(cflags)).encode()).hexdigest()[:12]
    out = cache / f"{name}-{digest}.so"
    if not out.exists():
        src = cache / f"{name}-{digest}.c"
        src.write_text(full)
        subprocess.run(
            [cc, "-shared", "-fPIC", *cflags, "-o", str(out), str(src)],
            check=True,
            capture_output=True,
        )
    return out


@pytest.fixture(scope="session")
def c_module(module_cache: Path) -> ModuleFactory:
    """``c_module("segv", "int pam_sm_authenticate(...) {...}")`` -> path of a compiled .so.

    The source gets :data:`PAM_MODULE_PRELUDE` in front. Results are cached per session by
    source hash, so the same module is compiled once.
    """
    return functools.partial(compile_module, module_cache)
