"""The one table of Linux-PAM's return codes, item types, message styles and flags.

Everything that prints a code goes through :func:`describe`, so the number, the ``PAM_`` name,
the ``pam_strerror`` text and the explanation always agree. Pure data: importing it never
loads libpam (front ends print codes without it).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass


class Code(enum.IntEnum):
    """Return codes of libpam 1.5.2 (``security/_pam_types.h``)."""

    PAM_SUCCESS = 0
    PAM_OPEN_ERR = 1
    PAM_SYMBOL_ERR = 2
    PAM_SERVICE_ERR = 3
    PAM_SYSTEM_ERR = 4
    PAM_BUF_ERR = 5
    PAM_PERM_DENIED = 6
    PAM_AUTH_ERR = 7
    PAM_CRED_INSUFFICIENT = 8
    PAM_AUTHINFO_UNAVAIL = 9
    PAM_USER_UNKNOWN = 10
    PAM_MAXTRIES = 11
    PAM_NEW_AUTHTOK_REQD = 12
    PAM_ACCT_EXPIRED = 13
    PAM_SESSION_ERR = 14
    PAM_CRED_UNAVAIL = 15
    PAM_CRED_EXPIRED = 16
    PAM_CRED_ERR = 17
    PAM_NO_MODULE_DATA = 18
    PAM_CONV_ERR = 19
    PAM_AUTHTOK_ERR = 20
    PAM_AUTHTOK_RECOVERY_ERR = 21
    PAM_AUTHTOK_LOCK_BUSY = 22
    PAM_AUTHTOK_DISABLE_AGING = 23
    PAM_TRY_AGAIN = 24
    PAM_IGNORE = 25
    PAM_ABORT = 26
    PAM_AUTHTOK_EXPIRED = 27
    PAM_MODULE_UNKNOWN = 28
    PAM_BAD_ITEM = 29
    PAM_CONV_AGAIN = 30
    PAM_INCOMPLETE = 31


class Item(enum.IntEnum):
    """Item types for ``pam_set_item`` / ``pam_get_item``."""

    PAM_SERVICE = 1
    PAM_USER = 2
    PAM_TTY = 3
    PAM_RHOST = 4
    PAM_CONV = 5
    PAM_AUTHTOK = 6
    PAM_OLDAUTHTOK = 7
    PAM_RUSER = 8
    PAM_USER_PROMPT = 9
    PAM_FAIL_DELAY = 10
    PAM_XDISPLAY = 11
    PAM_XAUTHDATA = 12
    PAM_AUTHTOK_TYPE = 13

    @property
    def short(self) -> str:
        """The lowercase name used on command lines and in profiles: ``tty``, ``rhost``."""
        return self.name.removeprefix("PAM_").lower()


#: Items held as plain strings, which a person may set and read back. ``service`` is set by
#: pam_start and readable; the tokens are never read back (they are secrets).
STRING_ITEMS: tuple[Item, ...] = (
    Item.PAM_SERVICE,
    Item.PAM_USER,
    Item.PAM_TTY,
    Item.PAM_RHOST,
    Item.PAM_RUSER,
    Item.PAM_USER_PROMPT,
    Item.PAM_XDISPLAY,
    Item.PAM_AUTHTOK_TYPE,
)
SETTABLE_ITEMS: tuple[Item, ...] = tuple(i for i in STRING_ITEMS if i is not Item.PAM_SERVICE)


def item_by_name(name: str) -> Item:
    """``tty``, ``TTY``, ``PAM_TTY`` -> ``Item.PAM_TTY``; raises ``KeyError``."""
    key = name.strip().upper()
    if not key.startswith("PAM_"):
        key = "PAM_" + key
    return Item[key]


class MessageStyle(enum.IntEnum):
    PAM_PROMPT_ECHO_OFF = 1
    PAM_PROMPT_ECHO_ON = 2
    PAM_ERROR_MSG = 3
    PAM_TEXT_INFO = 4

    @property
    def is_prompt(self) -> bool:
        return self in (MessageStyle.PAM_PROMPT_ECHO_OFF, MessageStyle.PAM_PROMPT_ECHO_ON)


class Flag(enum.IntFlag):
    PAM_DISALLOW_NULL_AUTHTOK = 0x0001
    PAM_ESTABLISH_CRED = 0x0002
    PAM_DELETE_CRED = 0x0004
    PAM_REINITIALIZE_CRED = 0x0008
    PAM_REFRESH_CRED = 0x0010
    PAM_CHANGE_EXPIRED_AUTHTOK = 0x0020
    PAM_SILENT = 0x8000


def flag_by_name(name: str) -> Flag:
    """``PAM_SILENT`` or ``silent`` -> ``Flag.PAM_SILENT``; raises ``KeyError``."""
    key = name.strip().upper()
    if not key.startswith("PAM_"):
        key = "PAM_" + key
    return Flag[key]


def flag_names(flags: int) -> list[str]:
    """Names of the flags set in ``flags``, in numeric order; unknown bits as hex."""
    names = [f.name or "" for f in Flag if flags & f.value]
    rest = flags & ~sum(f.value for f in Flag)
    if rest:
        names.append(hex(rest))
    return names


class Function(enum.Enum):
    """The six libpam calls a module stack answers, with the flags each one accepts."""

    AUTHENTICATE = "pam_authenticate"
    SETCRED = "pam_setcred"
    ACCT_MGMT = "pam_acct_mgmt"
    OPEN_SESSION = "pam_open_session"
    CLOSE_SESSION = "pam_close_session"
    CHAUTHTOK = "pam_chauthtok"

    @property
    def short(self) -> str:
        """pamtester's word for the call: ``authenticate``, ``setcred``, ..."""
        return self.value.removeprefix("pam_")

    @property
    def module_type(self) -> str:
        """The service-file type whose stack the call runs."""
        return _MODULE_TYPE[self]

    @property
    def flags(self) -> Flag:
        """The flags an application may pass to this call."""
        return _FUNCTION_FLAGS[self]

    @classmethod
    def from_name(cls, name: str) -> Function:
        """``authenticate`` or ``pam_authenticate`` -> ``Function.AUTHENTICATE``."""
        key = name.strip().lower()
        if not key.startswith("pam_"):
            key = "pam_" + key
        return cls(key)


#: The four types of a service file, in the order libpam's documentation lists them.
MODULE_TYPES: tuple[str, ...] = ("auth", "account", "session", "password")

_MODULE_TYPE = {
    Function.AUTHENTICATE: "auth",
    Function.SETCRED: "auth",
    Function.ACCT_MGMT: "account",
    Function.OPEN_SESSION: "session",
    Function.CLOSE_SESSION: "session",
    Function.CHAUTHTOK: "password",
}
_CRED = (
    Flag.PAM_ESTABLISH_CRED
    | Flag.PAM_DELETE_CRED
    | Flag.PAM_REINITIALIZE_CRED
    | Flag.PAM_REFRESH_CRED
)
_FUNCTION_FLAGS = {
    Function.AUTHENTICATE: Flag.PAM_SILENT | Flag.PAM_DISALLOW_NULL_AUTHTOK,
    Function.SETCRED: Flag.PAM_SILENT | _CRED,
    Function.ACCT_MGMT: Flag.PAM_SILENT | Flag.PAM_DISALLOW_NULL_AUTHTOK,
    Function.OPEN_SESSION: Flag.PAM_SILENT,
    Function.CLOSE_SESSION: Flag.PAM_SILENT,
    Function.CHAUTHTOK: Flag.PAM_SILENT | Flag.PAM_CHANGE_EXPIRED_AUTHTOK,
}


@dataclass(frozen=True)
class CodeInfo:
    """Everything known about one return code (see :func:`describe`)."""

    code: int
    name: str
    text: str
    explanation: str
    causes: tuple[str, ...]


# (explanation, usual causes) per code, written for an admin reading a failed login.
_EXPLAIN: dict[Code, tuple[str, tuple[str, ...]]] = {
    Code.PAM_SUCCESS: (
        "The call succeeded: the stack reached a positive verdict.",
        ("every required module agreed, or a sufficient one succeeded first",),
    ),
    Code.PAM_OPEN_ERR: (
        "libpam could not load a module (dlopen failed).",
        ("module path wrong", "module built for another architecture", "missing library"),
    ),
    Code.PAM_SYMBOL_ERR: (
        "A symbol libpam needed was not found in a module.",
        ("module lacks the pam_sm_* function for this type",),
    ),
    Code.PAM_SERVICE_ERR: (
        "A module reported an internal error in its service.",
        ("bad module arguments", "module configuration file unreadable"),
    ),
    Code.PAM_SYSTEM_ERR: (
        "A system error: libpam or a module hit a failure outside PAM, or the application "
        "misused the API.",
        (
            "NULL handle",
            "flags given that the call does not accept",
            "module could not read a system file",
        ),
    ),
    Code.PAM_BUF_ERR: (
        "Memory could not be allocated.",
        ("out of memory", "absurd sizes passed to a module"),
    ),
    Code.PAM_PERM_DENIED: (
        "Permission denied. Also libpam's verdict when no module decided anything.",
        (
            "an empty stack for this type and no 'other'",
            "every module returned PAM_IGNORE",
            "a broken configuration line (unknown type, missing control)",
            "a jump past the end of the stack",
        ),
    ),
    Code.PAM_AUTH_ERR: (
        "Authentication failed: the user did not prove who they are.",
        ("wrong password", "pam_deny in the auth stack", "a requisite check failed"),
    ),
    Code.PAM_CRED_INSUFFICIENT: (
        "The application lacks the credentials to authenticate the user.",
        ("service not running with enough privilege (e.g. cannot read /etc/shadow)",),
    ),
    Code.PAM_AUTHINFO_UNAVAIL: (
        "The authentication information could not be reached.",
        ("LDAP/SSSD/Kerberos server down", "network failure", "database file missing"),
    ),
    Code.PAM_USER_UNKNOWN: (
        "The user is not known to the authentication service.",
        ("typo in the user name", "user absent from passwd/LDAP", "pam_unix can't find them"),
    ),
    Code.PAM_MAXTRIES: (
        "The module's limit of retries was reached; the application should stop asking.",
        ("too many wrong passwords", "pam_faillock or retry= limits"),
    ),
    Code.PAM_NEW_AUTHTOK_REQD: (
        "The account is valid but the password must be changed now.",
        ("password expired (shadow aging)", "admin forced a change (chage -d 0)"),
    ),
    Code.PAM_ACCT_EXPIRED: (
        "The user account has expired.",
        ("account expiry date passed (chage -E)",),
    ),
    Code.PAM_SESSION_ERR: (
        "A session module failed to open or close the session.",
        (
            "home directory creation failed",
            "limits could not be set",
            "pam_systemd could not register",
        ),
    ),
    Code.PAM_CRED_UNAVAIL: (
        "The user's credentials could not be retrieved.",
        ("Kerberos ticket unavailable", "credential store unreachable"),
    ),
    Code.PAM_CRED_EXPIRED: (
        "The user's credentials have expired.",
        ("expired Kerberos ticket", "expired certificate"),
    ),
    Code.PAM_CRED_ERR: (
        "Setting the user's credentials failed.",
        ("pam_deny in the auth stack when pam_setcred runs", "group setup failed"),
    ),
    Code.PAM_NO_MODULE_DATA: (
        "A module asked for data another module should have stored, and found none.",
        ("modules called in an unexpected order", "a module relying on one that did not run"),
    ),
    Code.PAM_CONV_ERR: (
        "The conversation with the application failed.",
        ("the user cancelled a prompt", "no terminal to ask on", "the conversation aborted"),
    ),
    Code.PAM_AUTHTOK_ERR: (
        "The new password could not be obtained or was rejected.",
        ("passwords did not match", "password quality check failed", "pam_deny in password"),
    ),
    Code.PAM_AUTHTOK_RECOVERY_ERR: (
        "The old password could not be recovered or checked during a change.",
        ("wrong current password given to passwd",),
    ),
    Code.PAM_AUTHTOK_LOCK_BUSY: (
        "The password database is locked by someone else.",
        ("another passwd running", "a stale lock file"),
    ),
    Code.PAM_AUTHTOK_DISABLE_AGING: (
        "Password aging is disabled, so the password cannot be changed now.",
        ("minimum password age not reached",),
    ),
    Code.PAM_TRY_AGAIN: (
        "The preliminary check of a password change failed; nothing was changed.",
        ("a password module refused during PAM_PRELIM_CHECK", "server unreachable"),
    ),
    Code.PAM_IGNORE: (
        "The module asks to be ignored; libpam never returns it from a whole stack.",
        ("module has nothing to say for this user or call",),
    ),
    Code.PAM_ABORT: (
        "Critical error: the transaction must end. pam_start returns it when the "
        "configuration cannot be read.",
        (
            "service file unreadable or malformed",
            "a '\\' at the end of a service file",
            "a failing @include",
            "a call resumed after PAM_INCOMPLETE by another function",
        ),
    ),
    Code.PAM_AUTHTOK_EXPIRED: (
        "The user's password (authentication token) has expired.",
        ("password older than its maximum age",),
    ),
    Code.PAM_MODULE_UNKNOWN: (
        "The module named in the configuration could not be loaded or lacks this function.",
        ("module file missing", "typo in the module name", "module has no pam_sm_* for the type"),
    ),
    Code.PAM_BAD_ITEM: (
        "An item type was invalid or could not be set or read.",
        ("application asked for an item that does not exist", "setting a read-only item"),
    ),
    Code.PAM_CONV_AGAIN: (
        "The conversation is waiting for an event (non-blocking applications).",
        ("an event-driven application has not answered yet",),
    ),
    Code.PAM_INCOMPLETE: (
        "The stack stopped to wait for the application; call the same function again.",
        ("a module returned PAM_INCOMPLETE after PAM_CONV_AGAIN",),
    ),
}


#: ``pam_strerror`` of libpam 1.5.2, snapshotted so front ends never load libpam to print a
#: code; engine children read the live text (``pam.libpam.strerror``) into every record, and a
#: test checks this table against the installed library.
STRERROR: dict[int, str] = {
    0: "Success",
    1: "Failed to load module",
    2: "Symbol not found",
    3: "Error in service module",
    4: "System error",
    5: "Memory buffer error",
    6: "Permission denied",
    7: "Authentication failure",
    8: "Insufficient credentials to access authentication data",
    9: "Authentication service cannot retrieve authentication info",
    10: "User not known to the underlying authentication module",
    11: "Have exhausted maximum number of retries for service",
    12: "Authentication token is no longer valid; new one required",
    13: "User account has expired",
    14: "Cannot make/remove an entry for the specified session",
    15: "Authentication service cannot retrieve user credentials",
    16: "User credentials expired",
    17: "Failure setting user credentials",
    18: "No module specific data is present",
    19: "Conversation error",
    20: "Authentication token manipulation error",
    21: "Authentication information cannot be recovered",
    22: "Authentication token lock busy",
    23: "Authentication token aging disabled",
    24: "Failed preliminary check by password service",
    25: "The return value should be ignored by PAM dispatch",
    26: "Critical error - immediate abort",
    27: "Authentication token expired",
    28: "Module is unknown",
    29: "Bad item passed to pam_*_item()",
    30: "Conversation is waiting for event",
    31: "Application needs to call libpam again",
}
#: What ``pam_strerror`` says for a number it does not know.
UNKNOWN_ERROR = "Unknown PAM error"
#: code -> ``PAM_`` name (an enum lookup costs several times a dict's, on every traced rule)
_CODE_NAMES: dict[int, str] = {int(c): c.name for c in Code}


def strerror(code: int) -> str:
    """``pam_strerror``'s text for ``code``, from the snapshot above (no libpam loaded)."""
    return STRERROR.get(int(code), UNKNOWN_ERROR)


def code_name(code: int) -> str:
    """``PAM_AUTH_ERR`` for 7; a number outside the table names itself: ``PAM_<99>``."""
    name = _CODE_NAMES.get(code)
    return f"PAM_<{code}>" if name is None else name


@functools.cache
def describe(code: int) -> CodeInfo:
    """Everything known about one return code (``pam_strerror`` text from the snapshot)."""
    try:
        explanation, causes = _EXPLAIN[Code(code)]
    except ValueError:
        explanation, causes = "Not a code libpam defines.", ()
    return CodeInfo(int(code), code_name(code), strerror(code), explanation, causes)


def all_codes() -> list[CodeInfo]:
    return [describe(c) for c in Code]


def code_by_name(name: str) -> Code:
    """``PAM_AUTH_ERR``, ``auth_err`` or ``7`` -> ``Code.PAM_AUTH_ERR``; raises ``KeyError``."""
    key = name.strip()
    if key.isdigit():
        try:
            return Code(int(key))
        except ValueError as err:
            raise KeyError(name) from err
    key = key.upper()
    if not key.startswith("PAM_"):
        key = "PAM_" + key
    if key == "PAM_AUTHTOK_RECOVER_ERR":  # python-pam and Linux-PAM's header spelling
        key = "PAM_AUTHTOK_RECOVERY_ERR"
    return Code[key]
