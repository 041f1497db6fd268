"""Predict what libpam returns for a sequence of calls, rule by rule, without running a module.

A port of ``_pam_dispatch_aux`` (Linux-PAM 1.5.2 with Debian's patches): impression and status,
substack levels with saved states for ``reset``, jumps, ``done``/``die`` ending a level, frozen
chains for ``pam_setcred``/``pam_close_session`` (per rule, the code it returned when it last
ran in ``pam_authenticate``/``pam_open_session``), ``pam_chauthtok``'s two passes and
``PAM_INCOMPLETE`` resumption.

Each rule's return code comes from a :data:`CodeSource`. The configured one
(:class:`ConfiguredCodes`, what ``simulate`` uses) takes, in order: the library itself (an
always-fail rule: PAM_PERM_DENIED; a module that is missing or lacks the function:
PAM_MODULE_UNKNOWN), a ``--result`` override, what a known module returns (``pam_permit``,
``pam_warn``, ``pam_deny``, ``pam_debug`` by its arguments), else PAM_SUCCESS marked as
assumed. A trace feeds the codes the modules really returned through the same dispatcher
(``engine.trace.assemble``), so simulate and trace share one implementation.

Every call lists each rule of its chain: the ones that ran, with code and action, and the ones
that did not, with why; and the rule that decided the call's code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pamexplorer.pam.codes import Code, Flag, Function, code_by_name, describe
from pamexplorer.pam.operation import Operation
from pamexplorer.pam.records import quick_init
from pamexplorer.stack.model import (
    ACTION_BAD,
    ACTION_DIE,
    ACTION_DONE,
    ACTION_IGNORE,
    ACTION_OK,
    ACTION_RESET,
    RETURN_VALUES,
    TOKEN_RETURNS,
    Rule,
    Stack,
    StartResult,
    action_name,
)

PAM_PRELIM_CHECK = 0x4000
PAM_UPDATE_AUTHTOK = 0x2000
_MUST_FAIL = int(Code.PAM_PERM_DENIED)
_SUCCESS = int(Code.PAM_SUCCESS)
_IGNORE = int(Code.PAM_IGNORE)
_INCOMPLETE = int(Code.PAM_INCOMPLETE)
_UNDEF, _POSITIVE, _NEGATIVE = 0, 1, -1

#: The symbol a function calls in a module (``pam_sm_authenticate``, ...).
SYMBOL = {f: "pam_sm_" + f.short for f in Function}
#: Events a ``--result`` may name: a function's short name, or one pass of chauthtok.
EVENTS = (*(f.short for f in Function), "prelim", "update")
_DENY = {
    Function.AUTHENTICATE: int(Code.PAM_AUTH_ERR),
    Function.SETCRED: int(Code.PAM_CRED_ERR),
    Function.ACCT_MGMT: int(Code.PAM_AUTH_ERR),
    Function.OPEN_SESSION: int(Code.PAM_SESSION_ERR),
    Function.CLOSE_SESSION: int(Code.PAM_SESSION_ERR),
    Function.CHAUTHTOK: int(Code.PAM_AUTHTOK_ERR),
}
_DEBUG_EVENT = {
    Function.AUTHENTICATE: "auth",
    Function.SETCRED: "cred",
    Function.ACCT_MGMT: "acct",
    Function.OPEN_SESSION: "open_session",
    Function.CLOSE_SESSION: "close_session",
}
#: Calls whose chain is frozen, and the call that froze it.
_FROZEN_BY = {Function.SETCRED: "auth", Function.CLOSE_SESSION: "session"}


@dataclass(frozen=True)
class ResultOverride:
    """``--result FILE:LINE[@EVENT]=CODE``: the code the rule at FILE:LINE returns."""

    file: str
    line: int
    code: int
    event: str | None = None

    def matches(self, rule: Rule) -> bool:
        if rule.line != self.line:
            return False
        if "/" in self.file:
            return rule.file == self.file or rule.file.endswith("/" + self.file.lstrip("./"))
        return rule.file.rsplit("/", 1)[-1] == self.file


_SPEC = re.compile(r"^(?P<file>.+):(?P<line>\d+)(?:@(?P<event>[A-Za-z_]+))?=(?P<code>[^=]+)$")


def parse_code(text: str) -> int:
    """``PAM_AUTH_ERR``, ``auth_err``, ``7`` or any integer (codes outside 0..31 are allowed:
    libpam treats them as ``bad``)."""
    word = text.strip()
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if word.lower() == "authtok_recover_err":
        return int(Code.PAM_AUTHTOK_RECOVERY_ERR)
    return int(code_by_name(word))


def parse_result_spec(spec: str) -> ResultOverride:
    """Parse ``FILE:LINE=CODE`` or ``FILE:LINE@EVENT=CODE``; raises ValueError naming the fault."""
    match = _SPEC.match(spec.strip())
    if not match:
        raise ValueError(f"expected FILE:LINE=CODE or FILE:LINE@EVENT=CODE, got {spec!r}")
    event = match.group("event")
    if event is not None:
        event = event.lower().removeprefix("pam_")
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r} (known: {', '.join(EVENTS)})")
    try:
        code = parse_code(match.group("code"))
    except KeyError:
        raise ValueError(
            f"unknown code {match.group('code')!r} (a PAM_ name, a lowercase "
            "name like auth_err, or a number)"
        ) from None
    return ResultOverride(match.group("file"), int(match.group("line")), code, event)


@quick_init
@dataclass(frozen=True)
class PathStep:
    """One rule of a call's chain: when it ran, its code, the action that code chose, and a
    note on jumps, frozen codes and where a level stopped; when it did not, why (``skip``)."""

    file: str
    line: int
    module: str
    code: int
    action: str
    assumed: bool
    level: int = 0
    frozen_code: int | None = None
    note: str = ""
    ran: bool = True
    skip: str = ""
    #: ``prelim`` or ``update`` in pam_chauthtok, else None.
    pass_: str | None = None
    rule: Rule | None = field(default=None, compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "module": self.module,
            "code": self.code,
            "action": self.action,
            "assumed": self.assumed,
        }


@quick_init
@dataclass(frozen=True)
class CallResult:
    """One simulated call: its final code and the path through the stack."""

    function: str
    flags: int
    code: int
    #: The rules that ran, in order.
    path: tuple[PathStep, ...]
    note: str = ""
    #: Every rule of the chain in order, those that did not run included (``ran`` False).
    steps: tuple[PathStep, ...] = ()
    #: The rule whose code became the call's code (None: no rule did, e.g. an empty chain).
    decided_by: PathStep | None = None

    @property
    def name(self) -> str:
        return describe(self.code).name

    @property
    def text(self) -> str:
        return describe(self.code).text

    def to_dict(self) -> dict[str, Any]:
        decided = self.decided_by
        return {
            "function": self.function,
            "code": self.code,
            "name": self.name,
            "text": self.text,
            "path": [step.to_dict() for step in self.path],
            "not_run": [
                {"file": s.file, "line": s.line, "module": s.module, "why": s.skip}
                for s in self.steps
                if not s.ran
            ],
            "decided_by": None
            if decided is None
            else {"file": decided.file, "line": decided.line, "module": decided.module},
        }


@dataclass(frozen=True)
class Simulation:
    """What pam_start and each call would return, from the configuration alone."""

    service: str
    start: StartResult
    calls: tuple[CallResult, ...]

    def to_dict(self) -> dict[str, Any]:
        start: dict[str, Any]
        if self.start.crash:
            start = {"crash": self.start.crash}
        else:
            start = {"code": self.start.code, "name": describe(self.start.code).name}
        return {"start": start, "calls": [c.to_dict() for c in self.calls]}


#: Where a rule's code comes from: ``source(rule, function, pass_) -> (code, assumed)``;
#: ``pass_`` is ``prelim`` or ``update`` in pam_chauthtok, else None.
CodeSource = Callable[[Rule, Function, "str | None"], tuple[int, bool]]


@dataclass(frozen=True)
class ConfiguredCodes:
    """The codes the configuration alone predicts (see the module docstring)."""

    overrides: Sequence[ResultOverride] = ()

    def __call__(self, rule: Rule, function: Function, pass_: str | None) -> tuple[int, bool]:
        if rule.kind == "always_fail":
            return _MUST_FAIL, False
        if not rule.exports(SYMBOL[function]):
            return int(Code.PAM_MODULE_UNKNOWN), False
        if self.overrides:
            for event in (pass_, function.short, None) if pass_ else (function.short, None):
                for override in self.overrides:
                    if override.event == event and override.matches(rule):
                        return override.code, False
        name = rule.module_name
        if name == "pam_permit.so":
            return _SUCCESS, False
        if name == "pam_deny.so":
            return _DENY[function], False
        if name == "pam_warn.so":  # logs who asked, and asks to be ignored, in every function
            return _IGNORE, False
        if name == "pam_debug.so":
            event = _DEBUG_EVENT.get(function) or (
                "prechauthtok" if pass_ == "prelim" else "chauthtok"
            )
            return debug_code(event, rule.args), False
        return _SUCCESS, True


#: (impression, status, index in the steps of the rule that set the status)
_State = tuple[int, int, int | None]


@dataclass
class _Former:
    """The codes a rule returned in the last pam_authenticate / pam_open_session."""

    function: Function
    depth: int
    impression: int
    status: int
    substates: dict[int, _State]
    steps: list[PathStep]


@dataclass
class Simulator:
    """One simulated transaction on a resolved stack; :meth:`call` once per libpam call.

    ``source`` gives each rule's code (default: :class:`ConfiguredCodes` of ``overrides``).
    """

    stack: Stack
    overrides: Sequence[ResultOverride] = ()
    source: CodeSource | None = None
    _cache: dict[tuple[bool, str, int], int] = field(default_factory=dict)
    _former: _Former | None = None
    _update: bool = False

    def __post_init__(self) -> None:
        if self.source is None:
            self.source = ConfiguredCodes(self.overrides)

    def chain(self, function: Function) -> tuple[tuple[Rule, ...], bool]:
        own = self.stack.own_chain(function.module_type)
        if own:
            return own, False
        return self.stack.other_chain(function.module_type), True

    def call(self, operation: Operation) -> CallResult:
        return self.run(operation.function, operation.flags)

    def run(self, function: Function, flags: int = 0) -> CallResult:
        """:meth:`call` of ``function`` with ``flags``."""
        if function is Function.CHAUTHTOK:
            return self._chauthtok(flags)
        if function is Function.SETCRED and not flags:
            flags = int(Flag.PAM_ESTABLISH_CRED)
        code, steps, note, decider = self._dispatch(function, flags, None)
        return _result(function, flags, code, steps, note, decider)

    def _chauthtok(self, flags: int) -> CallResult:
        if flags & (PAM_PRELIM_CHECK | PAM_UPDATE_AUTHTOK):
            return CallResult(
                Function.CHAUTHTOK.value,
                flags,
                int(Code.PAM_SYSTEM_ERR),
                (),
                "an application may not pass PAM_PRELIM_CHECK or PAM_UPDATE_AUTHTOK",
            )
        if self._former is None:
            self._update = False
        steps: list[PathStep] = []
        note = ""
        code = _SUCCESS
        decider: PathStep | None = None
        if not self._update:
            code, steps, note, decider = self._dispatch(
                Function.CHAUTHTOK, flags | PAM_PRELIM_CHECK, "prelim"
            )
        if self._update or code == _SUCCESS:
            self._update = True
            code, more, note, decider = self._dispatch(
                Function.CHAUTHTOK, flags | PAM_UPDATE_AUTHTOK, "update"
            )
            steps += more
        elif code != _INCOMPLETE:
            note = (note + "; " if note else "") + "the update pass does not run"
        if code != _INCOMPLETE:
            self._update = False
        return _result(Function.CHAUTHTOK, flags, code, steps, note, decider)

    def _dispatch(
        self, function: Function, flags: int, pass_: str | None
    ) -> tuple[int, list[PathStep], str, PathStep | None]:
        chain, is_other = self.chain(function)
        former = self._former
        if former is not None and former.function is not function:
            return (
                int(Code.PAM_ABORT),
                [],
                (f"{former.function.value} returned PAM_INCOMPLETE and was not called again first"),
                None,
            )
        frozen_by = _FROZEN_BY.get(function)
        store = function in (Function.AUTHENTICATE, Function.OPEN_SESSION)
        if not chain:
            return (
                _MUST_FAIL,
                [],
                (f"no {function.module_type} rules in the service or in other"),
                None,
            )
        decider: int | None = None
        steps: list[PathStep] = []
        if former is not None:
            self._former = None
            skip, impression, status = former.depth, former.impression, former.status
            substates = former.substates
        else:
            skip, impression, status = 0, _UNDEF, _MUST_FAIL
            substates = {0: (_UNDEF, _MUST_FAIL, None)}

        def not_run(index: int, why: str) -> None:
            rule = chain[index]
            if rule.kind != "substack":
                steps.append(
                    PathStep(
                        rule.file, rule.line, rule.module, 0, "", False, rule.level,
                        ran=False, skip=why, pass_=pass_, rule=rule,
                    )
                )  # fmt: skip

        source = self.source
        assert source is not None
        module_type = function.module_type
        prev_level = 0
        n = len(chain)
        i = 0
        while i < n:
            rule = chain[i]
            level = rule.level
            if i < skip or rule.kind == "substack":
                if i >= skip and prev_level < level:
                    substates[level] = (impression, status, decider)
                if i < skip:
                    not_run(i, "ran in the call that returned PAM_INCOMPLETE")
                prev_level = level
                i += 1
                continue
            if prev_level < level:
                substates[level] = (impression, status, decider)
            retval, assumed = source(rule, function, pass_)
            if retval == _INCOMPLETE:
                saved: dict[int, _State] = {k: (a, b, None) for k, (a, b, _) in substates.items()}
                self._former = _Former(function, i, impression, status, saved, [])
                steps.append(
                    PathStep(
                        rule.file,
                        rule.line,
                        rule.module,
                        retval,
                        "incomplete",
                        assumed,
                        level,
                        None,
                        "the stack waits; the next call of this function resumes here",
                        pass_=pass_,
                        rule=rule,
                    )
                )
                for j in range(i + 1, n):
                    not_run(j, "the stack waits (PAM_INCOMPLETE)")
                return retval, steps, "", steps[-1]
            key = (is_other, module_type, i)
            cached = retval
            if frozen_by is not None:
                cached = self._cache.get(key, retval)
            elif store:
                self._cache[key] = retval
            note = ""
            if cached < 0 or cached >= RETURN_VALUES:
                retval = _MUST_FAIL
                action = ACTION_BAD
                note += f"code {cached} is outside 0..31: acts as bad with PAM_PERM_DENIED; "
            else:
                action = rule.actions[cached]
            frozen_code = cached if frozen_by is not None else None
            label = action_name(action)
            here = len(steps)
            skipped: list[int] = []
            stop = False
            if action == ACTION_RESET:
                impression, status, decider = substates.get(level, (_UNDEF, _MUST_FAIL, None))
            elif action in (ACTION_OK, ACTION_DONE):
                undecided = impression == _UNDEF or (impression == _POSITIVE and status == _SUCCESS)
                # in a frozen chain a PAM_IGNORE of this call must not become the status
                if undecided and (retval != _IGNORE or cached == retval):
                    impression, status, decider = _POSITIVE, retval, here
                if impression == _POSITIVE and action == ACTION_DONE:
                    stop = True
            elif action in (ACTION_BAD, ACTION_DIE):
                if impression != _NEGATIVE:
                    impression = _NEGATIVE
                    status = _MUST_FAIL if retval == _IGNORE else retval
                    decider = here
                if action == ACTION_DIE:
                    stop = True
            elif action == ACTION_IGNORE:
                pass
            else:
                remaining = action if action > 0 else 1
                start_i = i
                while i + 1 < n and chain[i + 1].level >= level and remaining > 0:
                    i += 1
                    skipped.append(i)
                    while i + 1 < n and chain[i + 1].level > level:
                        i += 1
                        skipped.append(i)
                    remaining -= 1
                if frozen_by is not None:
                    note += "in a frozen chain a jump only skips (Debian); "
                if remaining:
                    impression, status, decider = _NEGATIVE, _MUST_FAIL, here
                    note += "jumps past the end of its level: bad jump, PAM_PERM_DENIED; "
                elif i > start_i:
                    nxt = chain[i + 1] if i + 1 < n else None
                    note += (
                        f"skips to {nxt.file.rsplit('/', 1)[-1]}:{nxt.line}; "
                        if nxt
                        else "skips to the end; "
                    )
            ended: list[int] = []
            if stop:
                note += ("ends this substack" if level else "ends the stack") + "; "
                while i + 1 < n and chain[i + 1].level >= level:
                    i += 1
                    ended.append(i)
            if frozen_by is not None and frozen_code is not None and frozen_code != retval:
                note += f"action from code {frozen_code} of the last "
                note += "pam_authenticate" if frozen_by == "auth" else "pam_open_session"
                note += "; "
            steps.append(
                PathStep(
                    rule.file,
                    rule.line,
                    rule.module,
                    retval,
                    label,
                    assumed,
                    level,
                    frozen_code,
                    note.rstrip("; "),
                    pass_=pass_,
                    rule=rule,
                )
            )
            if skipped or ended:
                where = f"{rule.file.rsplit('/', 1)[-1]}:{rule.line}"
                for j in skipped:
                    not_run(j, f"skipped by the jump at {where}")
                for j in ended:
                    what = "substack" if level else "stack"
                    not_run(j, f"{where} ({label}) ended the {what}")
            prev_level = level
            i += 1
        if status == _SUCCESS and impression != _POSITIVE:
            return _MUST_FAIL, steps, "no rule gave a positive verdict: PAM_PERM_DENIED", None
        return status, steps, "", None if decider is None else steps[decider]


def _result(
    function: Function,
    flags: int,
    code: int,
    steps: list[PathStep],
    note: str,
    decider: PathStep | None,
) -> CallResult:
    ran = tuple([step for step in steps if step.ran])
    return CallResult(function.value, flags, code, ran, note, tuple(steps), decider)


def debug_code(event: str, args: Iterable[str]) -> int:
    """What ``pam_debug`` returns for ``event`` (``auth``, ``cred``, ``acct``, ``open_session``,
    ``close_session``, ``prechauthtok``, ``chauthtok``): the first ``event=`` argument decides;
    an unknown code name there leaves PAM_SUCCESS."""
    for arg in args:
        if arg.startswith(event) and arg[len(event) : len(event) + 1] == "=":
            word = arg[len(event) + 1 :]
            if word in TOKEN_RETURNS[:RETURN_VALUES]:
                return TOKEN_RETURNS.index(word)
            return 0
    return 0


def simulate(
    stack: Stack, operations: Sequence[Operation], overrides: Sequence[ResultOverride] = ()
) -> Simulation:
    """``pam_start`` then ``operations`` on ``stack``; no calls when pam_start would fail."""
    if stack.start.crash or stack.start.code != Code.PAM_SUCCESS:
        return Simulation(stack.service, stack.start, ())
    simulator = Simulator(stack, overrides)
    return Simulation(stack.service, stack.start, tuple(simulator.call(op) for op in operations))
