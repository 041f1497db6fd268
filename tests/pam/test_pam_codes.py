"""The code table against the installed libpam, and pamtester-style operation parsing."""

from __future__ import annotations

import ctypes

import pytest

from pamexplorer.pam.codes import (
    SETTABLE_ITEMS,
    STRING_ITEMS,
    Code,
    Flag,
    Function,
    Item,
    MessageStyle,
    all_codes,
    code_by_name,
    code_name,
    describe,
    flag_names,
    item_by_name,
)
from pamexplorer.pam.operation import Operation, OperationError, parse_flags, parse_operation

# The header names, in order 0..31, as Linux-PAM 1.5.2's _pam_types.h spells them.
HEADER_NAMES = [
    "SUCCESS",
    "OPEN_ERR",
    "SYMBOL_ERR",
    "SERVICE_ERR",
    "SYSTEM_ERR",
    "BUF_ERR",
    "PERM_DENIED",
    "AUTH_ERR",
    "CRED_INSUFFICIENT",
    "AUTHINFO_UNAVAIL",
    "USER_UNKNOWN",
    "MAXTRIES",
    "NEW_AUTHTOK_REQD",
    "ACCT_EXPIRED",
    "SESSION_ERR",
    "CRED_UNAVAIL",
    "CRED_EXPIRED",
    "CRED_ERR",
    "NO_MODULE_DATA",
    "CONV_ERR",
    "AUTHTOK_ERR",
    "AUTHTOK_RECOVERY_ERR",
    "AUTHTOK_LOCK_BUSY",
    "AUTHTOK_DISABLE_AGING",
    "TRY_AGAIN",
    "IGNORE",
    "ABORT",
    "AUTHTOK_EXPIRED",
    "MODULE_UNKNOWN",
    "BAD_ITEM",
    "CONV_AGAIN",
    "INCOMPLETE",
]


def libpam_strerror(code: int) -> str:
    """pam_strerror read independently of the project's binding."""
    dll = ctypes.CDLL("libpam.so.0")
    dll.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
    dll.pam_strerror.restype = ctypes.c_char_p
    raw = dll.pam_strerror(None, code)
    assert raw is not None
    return str(raw.decode())


def test_thirty_two_codes_numbered_and_named_like_the_header() -> None:
    assert len(Code) == 32
    assert [int(c) for c in Code] == list(range(32))
    assert [c.name for c in Code] == ["PAM_" + n for n in HEADER_NAMES]


@pytest.mark.parametrize("code", list(range(32)))
def test_each_code_text_is_live_pam_strerror(code: int) -> None:
    info = describe(code)
    assert info.code == code
    assert info.name == Code(code).name
    assert info.text == libpam_strerror(code)
    assert info.text and info.text != "Unknown PAM error"
    assert info.explanation.strip()
    assert info.causes and all(c.strip() for c in info.causes)


def test_all_codes_in_order() -> None:
    assert [i.code for i in all_codes()] == list(range(32))


@pytest.mark.parametrize("code", [32, 40, 255])
def test_code_outside_the_table(code: int) -> None:
    info = describe(code)
    assert info.text == "Unknown PAM error" == libpam_strerror(code)
    assert info.name == code_name(code) == f"PAM_<{code}>"


def test_enums_print_as_names() -> None:
    assert str(Code(7).name) == "PAM_AUTH_ERR"
    assert f"{Code.PAM_AUTH_ERR!r}".startswith("<Code.PAM_AUTH_ERR")
    assert int(Code.PAM_AUTH_ERR) == 7


def test_code_by_name_accepts_the_usual_spellings() -> None:
    assert code_by_name("PAM_AUTH_ERR") is Code.PAM_AUTH_ERR
    assert code_by_name("auth_err") is Code.PAM_AUTH_ERR
    assert code_by_name("7") is Code.PAM_AUTH_ERR
    assert code_by_name("authtok_recover_err") is Code.PAM_AUTHTOK_RECOVERY_ERR
    for bad in ("nonsense", "32", "-1", ""):
        with pytest.raises(KeyError):
            code_by_name(bad)


def test_items() -> None:
    expected = {
        "SERVICE": 1,
        "USER": 2,
        "TTY": 3,
        "RHOST": 4,
        "CONV": 5,
        "AUTHTOK": 6,
        "OLDAUTHTOK": 7,
        "RUSER": 8,
        "USER_PROMPT": 9,
        "FAIL_DELAY": 10,
        "XDISPLAY": 11,
        "XAUTHDATA": 12,
        "AUTHTOK_TYPE": 13,
    }
    assert {i.name: int(i) for i in Item} == {"PAM_" + k: v for k, v in expected.items()}
    assert item_by_name("tty") is item_by_name("PAM_TTY") is item_by_name(" Tty ") is Item.PAM_TTY
    with pytest.raises(KeyError):
        item_by_name("nope")
    assert {i.short for i in SETTABLE_ITEMS} == {
        "user",
        "tty",
        "rhost",
        "ruser",
        "user_prompt",
        "xdisplay",
        "authtok_type",
    }
    # Tokens are secrets: never among the readable string items.
    assert Item.PAM_AUTHTOK not in STRING_ITEMS and Item.PAM_OLDAUTHTOK not in STRING_ITEMS


def test_message_styles() -> None:
    assert [int(s) for s in MessageStyle] == [1, 2, 3, 4]
    assert [s.is_prompt for s in MessageStyle] == [True, True, False, False]


def test_flags_values_and_functions() -> None:
    assert {f.name: f.value for f in Flag} == {
        "PAM_SILENT": 0x8000,
        "PAM_DISALLOW_NULL_AUTHTOK": 0x1,
        "PAM_ESTABLISH_CRED": 0x2,
        "PAM_DELETE_CRED": 0x4,
        "PAM_REINITIALIZE_CRED": 0x8,
        "PAM_REFRESH_CRED": 0x10,
        "PAM_CHANGE_EXPIRED_AUTHTOK": 0x20,
    }
    for function in Function:
        assert Flag.PAM_SILENT in function.flags
    assert Flag.PAM_DELETE_CRED in Function.SETCRED.flags
    assert Flag.PAM_DELETE_CRED not in Function.AUTHENTICATE.flags
    assert Flag.PAM_CHANGE_EXPIRED_AUTHTOK in Function.CHAUTHTOK.flags
    assert Flag.PAM_DISALLOW_NULL_AUTHTOK in Function.AUTHENTICATE.flags
    assert flag_names(0x8001) == ["PAM_DISALLOW_NULL_AUTHTOK", "PAM_SILENT"]
    assert flag_names(0x8100) == ["PAM_SILENT", "0x100"]
    assert flag_names(0) == []


def test_function_names_and_types() -> None:
    assert [f.value for f in Function] == [
        "pam_authenticate",
        "pam_setcred",
        "pam_acct_mgmt",
        "pam_open_session",
        "pam_close_session",
        "pam_chauthtok",
    ]
    assert [f.module_type for f in Function] == [
        "auth",
        "auth",
        "account",
        "session",
        "session",
        "password",
    ]
    assert Function.from_name("authenticate") is Function.from_name("pam_authenticate")


@pytest.mark.parametrize(
    ("text", "function", "flags"),
    [
        ("authenticate", Function.AUTHENTICATE, 0),
        ("acct_mgmt", Function.ACCT_MGMT, 0),
        ("open_session", Function.OPEN_SESSION, 0),
        ("close_session", Function.CLOSE_SESSION, 0),
        ("chauthtok", Function.CHAUTHTOK, 0),
        ("setcred(PAM_ESTABLISH_CRED)", Function.SETCRED, 0x2),
        ("setcred(PAM_DELETE_CRED)", Function.SETCRED, 0x4),
        ("setcred(PAM_REINITIALIZE_CRED)", Function.SETCRED, 0x8),
        ("setcred(PAM_REFRESH_CRED|PAM_SILENT)", Function.SETCRED, 0x8010),
        ("chauthtok(PAM_SILENT|PAM_CHANGE_EXPIRED_AUTHTOK)", Function.CHAUTHTOK, 0x8020),
        ("authenticate(PAM_DISALLOW_NULL_AUTHTOK)", Function.AUTHENTICATE, 0x1),
        ("authenticate()", Function.AUTHENTICATE, 0),
        (" pam_acct_mgmt ( PAM_SILENT ) ", Function.ACCT_MGMT, 0x8000),
        ("setcred(silent|establish_cred)", Function.SETCRED, 0x8002),
    ],
)
def test_parse_operation(text: str, function: Function, flags: int) -> None:
    assert parse_operation(text) == Operation(function, flags)


def test_operation_round_trips_through_str() -> None:
    for text in ("authenticate", "setcred(PAM_ESTABLISH_CRED|PAM_SILENT)", "chauthtok"):
        op = parse_operation(text)
        assert parse_operation(str(op)) == op
    assert str(Operation(Function.SETCRED, 0x8002)) == "setcred(PAM_ESTABLISH_CRED|PAM_SILENT)"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("login", "unknown operation 'login'"),
        ("setcred(PAM_BOGUS)", "unknown flag 'PAM_BOGUS'"),
        ("setcred(PAM_SILENT", "malformed operation"),
        ("authenticate(PAM_SILENT))", "'PAM_SILENT)'"),
        ("", "malformed operation"),
        ("auth enticate", "malformed operation"),
    ],
)
def test_parse_operation_errors_name_the_problem(text: str, needle: str) -> None:
    with pytest.raises(OperationError) as caught:
        parse_operation(text)
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message


def test_parse_flags_list_and_string() -> None:
    assert parse_flags(["PAM_SILENT", "PAM_DELETE_CRED"]) == 0x8004
    assert parse_flags("PAM_SILENT|PAM_DELETE_CRED") == 0x8004
    assert parse_flags("") == 0


def test_python_pam_public_constants_agree_with_the_table() -> None:
    """python-pam (a named dependency) exports the PAM_ constants publicly; ours must agree
    with every code and message style it names."""
    import pam as python_pam

    from pamexplorer.pam.codes import Code, MessageStyle

    checked = 0
    for member in (*Code, *MessageStyle):
        name = (
            "PAM_AUTHTOK_RECOVER_ERR" if member.name == "PAM_AUTHTOK_RECOVERY_ERR" else member.name
        )
        if hasattr(python_pam, name):
            assert getattr(python_pam, name) == int(member), name
            checked += 1
    assert checked >= 30
