"""Every route a module logs by lands on the invocation that logged, and on no other.

The modules are compiled twice: plainly (they import ``syslog``/``vsyslog``) and with
``-O2 -D_FORTIFY_SOURCE=2`` (they import ``__syslog_chk``/``__vsyslog_chk``); ``pam_syslog`` and
``pam_vsyslog`` go through libpam's own ``__syslog_chk``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from trace_csrc import LOGGER

from pamexplorer.engine import Engine
from pamexplorer.engine.tracer import TracedTransaction
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.records import ModuleCall, Trace

ServiceDir = Callable[[dict[str, str]], Path]
FlaggedModule = Callable[[str, str, Sequence[str]], Path]

PLAIN = ("-O0",)
FORTIFIED = ("-O2", "-D_FORTIFY_SOURCE=2")
LOG_AUTHPRIV = 10 << 3


def _imports(module: Path) -> set[str]:
    out = subprocess.run(
        ["nm", "-D", "--undefined-only", str(module)], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def expected_log(module: Path, marker: str) -> list[tuple[int, str]]:
    name = module.name.removesuffix(".so")
    return [
        (LOG_AUTHPRIV | 5, f"syslog {marker} 1"),
        (6, f"vsyslog {marker} 2"),
        (LOG_AUTHPRIV | 3, f"{name}(svc:auth): pam_syslog {marker} 3"),
        (LOG_AUTHPRIV | 4, f"{name}(svc:auth): pam_vsyslog {marker} 4"),
        (7, f"errno {marker} No such file or directory"),  # %m with the errno at the call
    ]


def logged(entry: ModuleCall) -> list[tuple[int, str]]:
    return [(line.priority, line.text) for line in entry.log]


@pytest.mark.parametrize("cflags", [PLAIN, FORTIFIED], ids=["plain", "fortified"])
def test_each_route_lands_on_the_module_that_logged(
    cflags: Sequence[str], flagged_module: FlaggedModule, service_dir: ServiceDir
) -> None:
    logger = flagged_module("logger", LOGGER, cflags)
    wanted = {"__syslog_chk", "__vsyslog_chk"} if cflags == FORTIFIED else {"syslog", "vsyslog"}
    assert wanted <= _imports(logger), "the compiler did not produce the route under test"
    confdir = service_dir(
        {"svc": f"auth optional {logger} first 7\nauth required {logger} second 0\n"}
    )
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    start = txn.start()
    assert start.code == 0 and start.trace is not None
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert record.code == Code.PAM_SUCCESS
    trace = record.trace
    assert trace is not None and trace.status == "traced", trace
    first, second = trace.modules
    assert (first.line, first.code, first.action) == (1, 7, "ignore")
    assert (second.line, second.code, second.action) == (2, 0, "ok")
    assert logged(first) == expected_log(logger, "first")
    assert logged(second) == expected_log(logger, "second")
    assert trace.log == ()  # nothing logged outside the modules
    assert trace.decided_by_text == f"svc:2 {logger.name} (ok)"
    assert trace.disagreement == ""


def test_logs_travel_from_an_engine_child(
    flagged_module: FlaggedModule, service_dir: ServiceDir
) -> None:
    logger = flagged_module("logger", LOGGER, FORTIFIED)
    confdir = service_dir({"svc": f"auth required {logger} engine 0\n"})
    for direct in (True, False):
        with Engine(timeout=30, direct=direct).start("svc", "alice", str(confdir)) as session:
            record = session.call(Function.AUTHENTICATE)
        trace = record.trace
        assert isinstance(trace, Trace) and trace.status == "traced"
        (entry,) = trace.modules
        assert logged(entry) == expected_log(logger, "engine")
        assert entry.function == "pam_sm_authenticate" and entry.duration_ms >= 0


def test_a_missing_module_shows_libpams_own_line(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {"svc": "auth required pam_trace_missing.so\nauth required pam_permit.so\n"}
    )
    txn = TracedTransaction("svc", "alice", confdir=str(confdir))
    start = txn.start()
    assert start.trace is not None
    texts = [line.text for line in start.trace.log]
    assert any("PAM unable to dlopen(pam_trace_missing.so)" in t for t in texts), texts
    record = txn.call(Function.AUTHENTICATE)
    txn.end()
    assert record.code == Code.PAM_MODULE_UNKNOWN
    assert record.trace is not None
    missing, permit = record.trace.modules
    assert (missing.called, missing.code, missing.action) == (False, 28, "bad")
    assert "did not load" in missing.note
    assert (permit.called, permit.code) == (True, 0)
    assert record.trace.decided_by_text == "svc:1 pam_trace_missing.so (bad)"


def test_pam_unix_says_why_for_an_unknown_user(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_unix.so\naccount required pam_unix.so\n"})

    class Answer:
        def respond(self, messages: Sequence[object]) -> list[str | None]:
            return ["wrong-password" for _ in messages]

    user = "pamexplorer-no-such-user"
    txn = TracedTransaction("svc", user, confdir=str(confdir), conversation=Answer())
    txn.start()
    auth = txn.call(Function.AUTHENTICATE)
    acct = txn.call(Function.ACCT_MGMT)
    txn.end()
    assert auth.code != 0 and acct.code != 0
    assert auth.trace is not None and acct.trace is not None
    auth_log = " | ".join(x.text for x in auth.trace.modules[0].log)
    acct_log = " | ".join(x.text for x in acct.trace.modules[0].log)
    assert "pam_unix(svc:auth): check pass; user unknown" in auth_log
    assert f"pam_unix(svc:account): could not identify user (from getpwnam({user}))" in acct_log
    # the password typed never shows in the trace
    assert "wrong-password" not in repr(auth.trace.to_dict())
