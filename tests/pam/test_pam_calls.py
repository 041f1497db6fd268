"""Every libpam call with every flag, against real modules through pam_start_confdir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.pam.codes import Code, Flag, Function
from pamexplorer.pam.records import CallRecord
from pamexplorer.pam.transaction import Transaction, TransactionError

ServiceDir = Callable[[dict[str, str]], Path]
ModuleFactory = Callable[[str, str], Path]

ALL_TYPES = "auth {m}\naccount {m}\nsession {m}\npassword {m}\n"

# pam_debug argument per function, and a code for each that no other function would return.
DEBUG_CASES = [
    (Function.AUTHENTICATE, "auth", Code.PAM_AUTH_ERR),
    (Function.AUTHENTICATE, "auth", Code.PAM_USER_UNKNOWN),
    (Function.AUTHENTICATE, "auth", Code.PAM_AUTHINFO_UNAVAIL),
    (Function.AUTHENTICATE, "auth", Code.PAM_MAXTRIES),
    (Function.SETCRED, "cred", Code.PAM_CRED_ERR),
    (Function.SETCRED, "cred", Code.PAM_CRED_UNAVAIL),
    (Function.SETCRED, "cred", Code.PAM_CRED_EXPIRED),
    (Function.ACCT_MGMT, "acct", Code.PAM_ACCT_EXPIRED),
    (Function.ACCT_MGMT, "acct", Code.PAM_NEW_AUTHTOK_REQD),
    (Function.OPEN_SESSION, "open_session", Code.PAM_SESSION_ERR),
    (Function.CLOSE_SESSION, "close_session", Code.PAM_SESSION_ERR),
    (Function.CHAUTHTOK, "chauthtok", Code.PAM_AUTHTOK_ERR),
    (Function.CHAUTHTOK, "chauthtok", Code.PAM_AUTHTOK_LOCK_BUSY),
    (Function.CHAUTHTOK, "prechauthtok", Code.PAM_TRY_AGAIN),
]


def run_one(confdir: Path, function: Function, flags: int = 0) -> CallRecord:
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        return txn.call(function, flags)


@pytest.mark.parametrize(("function", "arg", "code"), DEBUG_CASES)
def test_pam_debug_code_per_function(
    service_dir: ServiceDir, function: Function, arg: str, code: Code
) -> None:
    value = code.name.removeprefix("PAM_").lower()
    if code is Code.PAM_AUTHTOK_RECOVERY_ERR:
        value = "authtok_recover_err"
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required pam_debug.so {arg}={value}")})
    record = run_one(confdir, function)
    assert record.function == function.value
    assert record.code == code
    assert record.name == code.name
    assert record.text and record.duration_ms >= 0
    # pam_debug announces what it returns through the conversation.
    assert [m.text for m in record.messages] == [f"{arg}={value}"]


@pytest.mark.parametrize("function", list(Function))
def test_same_stack_returns_success_when_pam_debug_says_so(
    service_dir: ServiceDir, function: Function
) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m="required pam_debug.so")})
    record = run_one(confdir, function)
    assert record.code == Code.PAM_SUCCESS and record.ok


@pytest.mark.parametrize(
    ("function", "denied"),
    [
        (Function.AUTHENTICATE, Code.PAM_AUTH_ERR),
        (Function.SETCRED, Code.PAM_CRED_ERR),
        (Function.ACCT_MGMT, Code.PAM_AUTH_ERR),
        (Function.OPEN_SESSION, Code.PAM_SESSION_ERR),
        (Function.CLOSE_SESSION, Code.PAM_SESSION_ERR),
        (Function.CHAUTHTOK, Code.PAM_AUTHTOK_ERR),
    ],
)
def test_permit_and_deny(service_dir: ServiceDir, function: Function, denied: Code) -> None:
    permit = service_dir({"svc": ALL_TYPES.format(m="required pam_permit.so")})
    deny = service_dir({"svc": ALL_TYPES.format(m="required pam_deny.so")})
    assert run_one(permit, function).code == Code.PAM_SUCCESS
    record = run_one(deny, function)
    assert record.code == denied
    assert record.to_dict()["name"] == denied.name


def test_setcred_frozen_chain_follows_the_last_authenticate(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {"svc": "auth required pam_debug.so auth=perm_denied\nauth required pam_permit.so\n"}
    )
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        assert txn.authenticate().code == Code.PAM_PERM_DENIED
        # pam_debug's setcred returns 0, but it acts under the code auth returned (bad).
        assert txn.setcred(Flag.PAM_ESTABLISH_CRED).code == Code.PAM_PERM_DENIED


def flags_seen(record: CallRecord) -> list[str]:
    return [m.text for m in record.messages]


SETCRED_FLAGS = [
    Flag.PAM_ESTABLISH_CRED,
    Flag.PAM_DELETE_CRED,
    Flag.PAM_REINITIALIZE_CRED,
    Flag.PAM_REFRESH_CRED,
]


@pytest.mark.parametrize("cred", SETCRED_FLAGS)
@pytest.mark.parametrize("silent", [0, Flag.PAM_SILENT])
def test_setcred_flags_reach_the_module(
    service_dir: ServiceDir, flag_spy: Path, cred: Flag, silent: int
) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required {flag_spy}")})
    record = run_one(confdir, Function.SETCRED, cred | silent)
    assert record.code == Code.PAM_SUCCESS
    assert record.flags == cred | silent
    assert flags_seen(record) == [f"setcred flags={hex(cred | silent)}"]
    assert record.to_dict()["flags"] == [f.name for f in Flag if (cred | silent) & f]


def test_setcred_without_flags_is_sent_as_establish(
    service_dir: ServiceDir, flag_spy: Path
) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required {flag_spy}")})
    assert flags_seen(run_one(confdir, Function.SETCRED)) == ["setcred flags=0x2"]


def test_chauthtok_runs_prelim_then_update(service_dir: ServiceDir, flag_spy: Path) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required {flag_spy}")})
    plain = run_one(confdir, Function.CHAUTHTOK)
    assert flags_seen(plain) == ["chauthtok flags=0x4000", "chauthtok flags=0x2000"]
    expired = run_one(
        confdir, Function.CHAUTHTOK, Flag.PAM_CHANGE_EXPIRED_AUTHTOK | Flag.PAM_SILENT
    )
    assert expired.code == Code.PAM_SUCCESS
    assert flags_seen(expired) == ["chauthtok flags=0xc020", "chauthtok flags=0xa020"]


@pytest.mark.parametrize("bad", [0x4000, 0x2000])
def test_chauthtok_refuses_internal_flags(
    service_dir: ServiceDir, flag_spy: Path, bad: int
) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required {flag_spy}")})
    record = run_one(confdir, Function.CHAUTHTOK, bad)
    assert record.code == Code.PAM_SYSTEM_ERR
    assert record.messages == ()  # the stack never ran


@pytest.mark.parametrize(
    ("function", "flags"),
    [
        (Function.AUTHENTICATE, Flag.PAM_DISALLOW_NULL_AUTHTOK),
        (Function.AUTHENTICATE, Flag.PAM_SILENT | Flag.PAM_DISALLOW_NULL_AUTHTOK),
        (Function.ACCT_MGMT, Flag.PAM_DISALLOW_NULL_AUTHTOK),
        (Function.ACCT_MGMT, Flag.PAM_SILENT),
        (Function.OPEN_SESSION, Flag.PAM_SILENT),
        (Function.CLOSE_SESSION, Flag.PAM_SILENT),
        (Function.OPEN_SESSION, 0),
    ],
)
def test_other_flags_reach_the_module(
    service_dir: ServiceDir, flag_spy: Path, function: Function, flags: int
) -> None:
    confdir = service_dir({"svc": ALL_TYPES.format(m=f"required {flag_spy}")})
    record = run_one(confdir, function, flags)
    assert record.code == Code.PAM_SUCCESS
    assert flags_seen(record) == [f"{function.short} flags={hex(flags)}"]


# -- lifecycle ----------------------------------------------------------------------------------

CLEANUP_MARKER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern int pam_set_data(pam_handle_t *, const char *, void *,
                        void (*)(pam_handle_t *, void *, int));
static void cleanup(pam_handle_t *pamh, void *data, int status) {
    (void)pamh;
    FILE *f = fopen((const char *)data, "w");
    if (f) { fprintf(f, "%d", status); fclose(f); }
    free(data);
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    if (argc < 1) return 4;
    pam_set_data(pamh, "marker", strdup(argv[0]), cleanup);
    return argc > 1 ? atoi(argv[1]) : PAM_SUCCESS;
}
"""


@pytest.fixture
def marker_module(c_module: ModuleFactory) -> Path:
    return c_module("marker", CLEANUP_MARKER)


def test_context_manager_reaches_pam_end_with_the_last_code(
    service_dir: ServiceDir, marker_module: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ended"
    confdir = service_dir({"svc": f"auth required {marker_module} {marker} 7\n"})
    with pytest.raises(RuntimeError), Transaction("svc", "alice", confdir=str(confdir)) as txn:
        assert txn.authenticate().code == Code.PAM_AUTH_ERR
        assert not marker.exists()
        raise RuntimeError("the caller fails half way")
    # pam_end ran the module's cleanup, passing the last call's code.
    assert marker.read_text() == "7"
    assert txn.ended


def test_misuse_raises_transaction_error(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    txn = Transaction("svc", "alice", confdir=str(confdir))
    with pytest.raises(TransactionError, match="before pam_start"):
        txn.authenticate()
    assert txn.start().code == Code.PAM_SUCCESS
    with pytest.raises(TransactionError, match="already"):
        txn.start()
    assert txn.end().code == Code.PAM_SUCCESS
    with pytest.raises(TransactionError, match="after pam_end"):
        txn.acct_mgmt()
    # A second end is a harmless no-op.
    assert txn.end().code == Code.PAM_SUCCESS
    with pytest.raises(TransactionError, match="unknown item"):
        Transaction("svc", "alice", items={"colour": "red"})


def test_start_record(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    txn = Transaction("svc", "alice", confdir=str(confdir))
    record = txn.start()
    try:
        assert record.function == "pam_start"
        assert record.code == 0 and record.name == "PAM_SUCCESS"
        assert record.items["service"] == "svc"
        assert record.items["user"] == "alice"
    finally:
        txn.end()


def test_service_name_lowercased_by_libpam(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_deny.so\n"})
    with Transaction("SVC", "alice", confdir=str(confdir)) as txn:
        assert txn.authenticate().code == Code.PAM_AUTH_ERR
        assert txn.get_item("service") == "svc"


@pytest.mark.parametrize(
    "files",
    [
        {},  # no service file and no other
        {"svc": "auth required pam_permit.so \\"},  # a backslash at end of file
        {"svc": "auth required pam_permit.so\n", "other": "auth required pam_permit.so \\"},
        {"svc": "auth required ?\n"},
    ],
    ids=["missing", "backslash-eof", "broken-other", "module-name-question-mark"],
)
def test_pam_start_fails_with_abort(service_dir: ServiceDir, files: dict[str, str]) -> None:
    confdir = service_dir(files)
    txn = Transaction("svc", "alice", confdir=str(confdir))
    record = txn.start()
    assert record.function == "pam_start"
    assert record.code == 26 and Code(26) is Code.PAM_ABORT
    assert record.name == "PAM_ABORT"
    assert txn.ended  # libpam released the handle; pam_end must not run
    assert txn.end().duration_ms == 0
    with pytest.raises(TransactionError):
        txn.authenticate()
