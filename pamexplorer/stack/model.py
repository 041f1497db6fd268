"""Records the stack layer hands out: rules, resolved stacks, findings.

Actions are encoded as libpam encodes them (``pam_tokens.h``): a jump of N rules is N > 0,
the keywords are 0 and below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

RETURN_VALUES = 32  # _PAM_RETURN_VALUES: codes 0..31 each have an action

ACTION_IGNORE = 0
ACTION_OK = -1
ACTION_DONE = -2
ACTION_BAD = -3
ACTION_DIE = -4
ACTION_RESET = -5
ACTION_UNDEF = -6

ACTION_NAMES = {
    ACTION_IGNORE: "ignore",
    ACTION_OK: "ok",
    ACTION_DONE: "done",
    ACTION_BAD: "bad",
    ACTION_DIE: "die",
    ACTION_RESET: "reset",
}

#: libpam's lowercase names of the 32 codes, in order, then ``default`` (``_pam_token_returns``).
TOKEN_RETURNS = (
    "success", "open_err", "symbol_err", "service_err", "system_err", "buf_err",
    "perm_denied", "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown",
    "maxtries", "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail",
    "cred_expired", "cred_err", "no_module_data", "conv_err", "authtok_err",
    "authtok_recover_err", "authtok_lock_busy", "authtok_disable_aging", "try_again",
    "ignore", "abort", "authtok_expired", "module_unknown", "bad_item", "conv_again",
    "incomplete", "default",
)  # fmt: skip

#: Module types in the order libpam knows them.

#: The ``pam_sm_*`` symbols libpam looks up for each type.
TYPE_SYMBOLS = {
    "auth": ("pam_sm_authenticate", "pam_sm_setcred"),
    "account": ("pam_sm_acct_mgmt",),
    "session": ("pam_sm_open_session", "pam_sm_close_session"),
    "password": ("pam_sm_chauthtok",),
}

Severity = Literal["error", "warning", "info"]
RuleKind = Literal["module", "always_fail", "substack"]


def action_name(action: int) -> str:
    """``ok``, ``die``, ``jump 2``..."""
    if action > 0:
        return f"jump {action}"
    return ACTION_NAMES.get(action, "undef")


@dataclass(frozen=True)
class Finding:
    """A problem lint or resolve found at file:line, with why it matters."""

    severity: Severity
    file: str
    line: int
    message: str
    why: str = ""
    #: The services the finding is about when it depends on the service (an unreachable rule
    #: of a shared file); empty when it is about the file alone.
    services: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The message, naming the services it holds in."""
        if not self.services:
            return self.message
        names = ", ".join(self.services)
        return f"{self.message} in service{'s' if len(self.services) > 1 else ''} {names}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.text}"


@dataclass(frozen=True)
class Include:
    """One ``include``/``substack``/``@include`` line that brought a rule in."""

    file: str
    line: int
    kind: Literal["include", "substack", "@include"]
    target: str

    @property
    def label(self) -> str:
        """``include common-auth (sshd:3)``."""
        return f"{self.kind} {self.target} ({self.file.rsplit('/', 1)[-1]}:{self.line})"


@dataclass(frozen=True)
class IncludeUse:
    """What one include line did: the path libpam tried, whether it loaded, and how many rules
    of ``type`` (every type for ``@include``) it added, starting at index ``position`` of the
    service's (or ``other``'s) rule list."""

    include: Include
    type: str | None
    path: str
    origin: tuple[Include, ...]
    other: bool
    ok: bool
    added: int
    position: int
    level: int = 0


@dataclass(frozen=True)
class Rule:
    """One handler libpam installs, with where it was written.

    ``kind`` is ``module`` (a module to call), ``always_fail`` (a line libpam could not use;
    dispatch returns PAM_PERM_DENIED) or ``substack`` (the marker a substack line leaves; the
    substack's own rules follow one ``level`` deeper).
    """

    file: str
    line: int
    type: str
    type_token: str
    control: str
    actions: tuple[int, ...]
    module: str = ""
    path: str | None = None
    args: tuple[str, ...] = ()
    silent: bool = False
    kind: RuleKind = "module"
    level: int = 0
    origin: tuple[Include, ...] = ()
    other: bool = False
    fail_reason: str = ""
    exists: bool = False
    loadable: bool = False
    symbols: frozenset[str] = field(default_factory=frozenset)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def module_name(self) -> str:
        """The module's file name (``pam_unix.so``), or ``""`` for an always-fail rule."""
        return self.module.rsplit("/", 1)[-1]

    def exports(self, symbol: str) -> bool:
        return self.loadable and symbol in self.symbols

    @property
    def status(self) -> str:
        """``found``, ``MISSING``, ``not loadable``, ``no pam_sm_x``, ``always fails`` or
        ``substack``."""
        if self.kind == "substack":
            return "substack"
        if self.kind == "always_fail":
            return "always fails"
        if not self.exists:
            return "MISSING"
        if not self.loadable:
            return "not loadable"
        lacking = [s for s in TYPE_SYMBOLS[self.type] if s not in self.symbols]
        if lacking:
            return "no " + ", ".join(lacking)
        return "found"


@dataclass(frozen=True)
class StartResult:
    """What ``pam_start`` would do: a code (0 or 26), or a crash of libpam itself."""

    code: int
    crash: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Stack:
    """A service resolved as ``pam_start`` reads it: its rules and the ``other`` rules."""

    service: str
    name: str
    confdir: str | None
    source: str | None
    rules: tuple[Rule, ...]
    other_rules: tuple[Rule, ...]
    start: StartResult
    findings: tuple[Finding, ...] = ()
    includes: tuple[IncludeUse, ...] = ()

    def own_chain(self, module_type: str) -> tuple[Rule, ...]:
        return self._chains.get((False, module_type), ())

    def other_chain(self, module_type: str) -> tuple[Rule, ...]:
        return self._chains.get((True, module_type), ())

    @cached_property
    def _chains(self) -> dict[tuple[bool, str], tuple[Rule, ...]]:
        """(from other, type) -> the rules of that type in file order (made once: every
        simulated or traced call asks)."""
        found: dict[tuple[bool, str], list[Rule]] = {}
        for other, rules in ((False, self.rules), (True, self.other_rules)):
            for rule in rules:
                found.setdefault((other, rule.type), []).append(rule)
        return {key: tuple(rules) for key, rules in found.items()}

    def chain(self, module_type: str) -> tuple[Rule, ...]:
        """The rules a call of this type runs: the service's, else ``other``'s."""
        return self.own_chain(module_type) or self.other_chain(module_type)
