"""Findings about a resolved stack: what libpam will do that its author may not expect.

Path questions (can a rule run at all? can it run before any rule said no?) are answered by a
forward data flow over a chain: each rule is reached in a set of states (libpam's impression:
undecided, positive, negative, and whether a failure was ignored on the way), and every code
the rule can return moves those states on as ``_pam_dispatch_aux`` would. Jumps only go
forward, so one pass in order is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import NamedTuple

from pamexplorer.pam.codes import MODULE_TYPES, Function
from pamexplorer.stack.model import (
    ACTION_BAD,
    ACTION_DIE,
    ACTION_DONE,
    ACTION_IGNORE,
    ACTION_OK,
    ACTION_RESET,
    RETURN_VALUES,
    TYPE_SYMBOLS,
    Finding,
    Rule,
    Stack,
)
from pamexplorer.stack.simulate import _DENY, debug_code

#: Services where ``sufficient pam_rootok`` is upstream's design: tools an administrator runs
#: as root (pam_rootok checks the *real* uid, so only a caller who is root already passes).
ROOT_TOOLS = frozenset(
    {
        "su", "su-l", "runuser", "runuser-l", "sudo", "sudo-i", "chfn", "chsh", "chage",
        "passwd", "chpasswd", "newusers", "useradd", "userdel", "usermod", "groupadd",
        "groupdel", "groupmod", "newgrp", "sg", "vipw", "shadow", "crond", "cron", "atd",
        "ksu", "pkexec", "polkit-1", "systemd-user", "config-util", "xserver",
        "gdm-launch-environment",
    }
)  # fmt: skip
#: Services whose program runs as root on behalf of *other* users: there pam_rootok succeeds
#: for everyone.
ROOT_DAEMONS = frozenset(
    {
        "login", "sshd", "remote", "gdm", "gdm-password", "gdm-autologin", "gdm-fingerprint",
        "lightdm", "lightdm-autologin", "sddm", "sddm-autologin", "xdm", "kdm", "lxdm",
        "vsftpd", "proftpd", "pure-ftpd", "ftp", "dovecot", "imap", "pop3", "smtp", "cups",
        "samba", "ppp", "openvpn", "xrdp-sesman", "cockpit", "httpd", "rlogin", "rsh",
        "rexec", "telnet", "screen", "tmux", "xscreensaver", "kde", "mate-screensaver",
        "gnome-screensaver", "i3lock", "swaylock", "kscreensaver",
    }
)  # fmt: skip
_FUNCTIONS = {
    "auth": (Function.AUTHENTICATE, Function.SETCRED),
    "account": (Function.ACCT_MGMT,),
    "session": (Function.OPEN_SESSION, Function.CLOSE_SESSION),
    "password": (Function.CHAUTHTOK,),
}
_DEBUG_EVENTS = {
    "auth": ("auth", "cred"),
    "account": ("acct",),
    "session": ("open_session", "close_session"),
    "password": ("prechauthtok", "chauthtok"),
}
_ALL_CODES = frozenset(range(RETURN_VALUES))
_SUCCESS, _IGNORE, _MODULE_UNKNOWN = 0, 25, 28
#: Modules whose running twice is an idiom, not a slip.
_REPEATABLE = frozenset({"pam_permit.so", "pam_deny.so", "pam_debug.so", "pam_echo.so", ""})


def possible_codes(rule: Rule, assume_loaded: bool = False) -> frozenset[int]:
    """Codes the rule can return in the calls of its type (all of 0..31 when unknown).

    ``assume_loaded``: answer as if a missing or broken module were there (what the rule would
    do if the cause of its failure were fixed)."""
    if rule.kind == "always_fail":
        return _ALL_CODES if assume_loaded else frozenset({6})
    if assume_loaded and not (rule.loadable and all(map(rule.exports, TYPE_SYMBOLS[rule.type]))):
        return _ALL_CODES
    codes: set[int] = set()
    for symbol in TYPE_SYMBOLS[rule.type]:
        if not rule.exports(symbol):
            codes.add(_MODULE_UNKNOWN)
    name = rule.module_name
    if rule.kind == "module" and rule.loadable:
        if name == "pam_permit.so":
            codes.add(_SUCCESS)
        elif name == "pam_deny.so":
            codes.update(_DENY[f] for f in _FUNCTIONS[rule.type])
        elif name == "pam_debug.so":
            codes.update(debug_code(e, rule.args) for e in _DEBUG_EVENTS[rule.type])
        elif name == "pam_warn.so":
            codes.add(_IGNORE)
        else:
            codes |= _ALL_CODES
    return frozenset(codes)


def _abstaining(rule: Rule) -> frozenset[int]:
    """Codes for the 'deciding pam_permit' question: a module that returns PAM_IGNORE chose
    to stay out, so an unknown module is taken to return anything but PAM_IGNORE."""
    codes = possible_codes(rule)
    return codes - {_IGNORE} if codes == _ALL_CODES else codes


# -- the data flow ----------------------------------------------------------------------------
_UNDEF, _POSITIVE, _NEGATIVE = 0, 1, -1


class _State(NamedTuple):
    impression: int
    ignored_failure: bool  # the last verdict on the way here was a failure ignored or jumped


_START = _State(_UNDEF, False)
CodeFunction = Callable[[Rule], frozenset[int]]
#: What a code is to the flow: a success, PAM_IGNORE, or a failure.
_SUCCESS_LIKE, _ABSTAIN, _FAILURE = 0, 1, 2


def _code_class(code: int) -> int:
    if code == _IGNORE:
        return _ABSTAIN
    return _SUCCESS_LIKE if code in (_SUCCESS, 12) else _FAILURE


def _end_of_level(chain: Sequence[Rule], i: int) -> int:
    level = chain[i].level
    j = i + 1
    while j < len(chain) and chain[j].level >= level:
        j += 1
    return j


def _jump(chain: Sequence[Rule], i: int, count: int) -> tuple[int, bool]:
    """Where a jump of ``count`` from rule ``i`` lands, and whether it ran past its level."""
    n = len(chain)
    level = chain[i].level
    while i + 1 < n and chain[i + 1].level >= level and count > 0:
        i += 1
        while i + 1 < n and chain[i + 1].level > level:
            i += 1
        count -= 1
    return i + 1, count > 0


jump_target = _jump


def flow(chain: Sequence[Rule], codes: CodeFunction = possible_codes) -> list[set[_State]]:
    """The states each rule of ``chain`` (and, at index ``len(chain)``, the end) is reached in."""
    n = len(chain)
    reached: list[set[_State]] = [set() for _ in range(n + 1)]
    if n:
        reached[0].add(_START)
    for i in range(n):
        rule = chain[i]
        if not reached[i]:
            continue
        if rule.kind == "substack":
            reached[i + 1] |= reached[i]
            continue
        # codes that choose the same action and are the same kind of verdict move alike
        moves = {(rule.actions[code], _code_class(code)) for code in codes(rule)}
        for state in reached[i]:
            for action, cls in moves:
                for target, after in _moves(chain, i, rule, action, cls, state):
                    reached[target].add(after)
    return reached


def _moves(
    chain: Sequence[Rule], i: int, rule: Rule, action: int, cls: int, state: _State
) -> Iterable[tuple[int, _State]]:
    # a success passed over clears what an ignored failure before it left; PAM_IGNORE keeps it
    ignored = state.ignored_failure if cls == _ABSTAIN else cls == _FAILURE
    if action == ACTION_RESET:
        impressions = [_UNDEF] if rule.level == 0 else [_UNDEF, _POSITIVE, _NEGATIVE]
        for impression in impressions:
            yield i + 1, _State(impression, state.ignored_failure)
    elif action in (ACTION_OK, ACTION_DONE):
        impression = state.impression
        if impression != _NEGATIVE and cls != _ABSTAIN:
            impression = _POSITIVE
        after = _State(impression, state.ignored_failure)
        if action == ACTION_DONE and impression == _POSITIVE:
            yield _end_of_level(chain, i), after
        else:
            yield i + 1, after
    elif action in (ACTION_BAD, ACTION_DIE):
        after = _State(_NEGATIVE, state.ignored_failure)
        yield (_end_of_level(chain, i) if action == ACTION_DIE else i + 1), after
    elif action == ACTION_IGNORE:
        yield i + 1, _State(state.impression, ignored)
    else:
        target, past_end = _jump(chain, i, action)
        yield target, _State(_NEGATIVE if past_end else state.impression, ignored)


def _loaded_codes(rule: Rule) -> frozenset[int]:
    return possible_codes(rule, assume_loaded=True)


_KINDS: dict[str, CodeFunction] = {
    "codes": possible_codes,
    "abstaining": _abstaining,
    "loaded": _loaded_codes,
}
_Occurrence = tuple[str, int, tuple[object, ...]]


class _Chain:
    """One chain and the flows lint asks of it, each computed once."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self._flows: dict[str, list[set[_State]]] = {}

    def reached(self, kind: str) -> list[set[_State]]:
        if kind not in self._flows:
            self._flows[kind] = flow(self.rules, _KINDS[kind])
        return self._flows[kind]

    def unreached(self, kind: str) -> set[_Occurrence]:
        return _unreached_in(self.rules, self.reached(kind))


def _occurrence(rule: Rule) -> _Occurrence:
    return (rule.file, rule.line, rule.origin)


def _unreached_in(chain: Sequence[Rule], reached: list[set[_State]]) -> set[_Occurrence]:
    """Rules (by where they are written and included from) that no path reaches; a rule that
    occurs twice (libpam reads ``other`` twice for the service ``other``) is unreached only
    when no copy is reached."""
    seen = {_occurrence(r) for i, r in enumerate(chain) if reached[i]}
    return {_occurrence(r) for r in chain} - seen


def unreachable(chain: tuple[Rule, ...]) -> list[Rule]:
    """Rules of ``chain`` that no combination of return codes lets libpam reach."""
    dead = _Chain(tuple(chain)).unreached("codes")
    shown: set[_Occurrence] = set()
    out = []
    for rule in chain:
        key = _occurrence(rule)
        if key in dead and key not in shown:
            shown.add(key)
            out.append(rule)
    return out


# -- lint ---------------------------------------------------------------------------------------
def lint(stack: Stack) -> list[Finding]:
    """Every finding for one resolved service, parse problems included, without duplicates."""
    found: dict[tuple[str, int, str], Finding] = {}

    def add(finding: Finding) -> None:
        found.setdefault((finding.file, finding.line, finding.message), finding)

    for finding in stack.findings:
        add(finding)
    if stack.start.code and not stack.start.crash and not stack.findings:
        add(
            Finding(
                "error",
                stack.source or stack.confdir or "pam.d",
                0,
                f"pam_start fails for {stack.name}: {stack.start.reason}",
                "pam_start returns PAM_ABORT and no call can be made",
            )
        )
    for rule in _distinct((*stack.rules, *stack.other_rules)):
        for finding in _rule_findings(rule, stack.name):
            add(finding)
    if not stack.start.crash and not stack.start.code:
        for finding in _include_findings(stack):
            add(finding)
        for module_type in MODULE_TYPES:
            chain = stack.chain(module_type)
            if not chain:
                calls = ", ".join(f.value for f in _FUNCTIONS[module_type])
                add(
                    Finding(
                        "info",
                        stack.source or stack.name,
                        0,
                        f"service {stack.name} has no {module_type} rules and no other "
                        f"{module_type} rules: calls to {calls} return PAM_PERM_DENIED "
                        "(fine if its program never makes them)",
                        "libpam falls back to 'other' per type; with neither, dispatch "
                        "returns PAM_PERM_DENIED",
                    )
                )
                continue
            for finding in _chain_findings(stack.name, module_type, chain):
                add(finding)
    return _in_order(found.values())


def lint_services(stacks: Iterable[Stack]) -> list[Finding]:
    """The findings of several services, each once: a finding that depends on the service
    (an unreachable rule of a shared file) names every service it holds in."""
    merged: dict[tuple[str, int, str, str], Finding] = {}
    for stack in stacks:
        for finding in lint(stack):
            key = (finding.file, finding.line, finding.severity, finding.message)
            before = merged.get(key)
            if before is None:
                merged[key] = finding
            elif finding.services:
                names = tuple(dict.fromkeys((*before.services, *finding.services)))
                merged[key] = replace(before, services=names)
    return _in_order(merged.values())


_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _in_order(findings: Iterable[Finding]) -> list[Finding]:
    """By file and line, errors before warnings before notes."""
    return sorted(findings, key=lambda f: (f.file, f.line, _SEVERITY_ORDER[f.severity], f.message))


def _distinct(rules: Iterable[Rule]) -> list[Rule]:
    seen: set[tuple[str, int, str]] = set()
    out = []
    for rule in rules:
        key = (rule.file, rule.line, rule.type)
        if key not in seen:
            seen.add(key)
            out.append(rule)
    return out


def _span(rules: Sequence[Rule]) -> str:
    first, last = rules[0], rules[-1]
    if first is last:
        return first.where
    if first.file == last.file:
        return f"{first.where}-{last.line}"
    return f"{first.where} to {last.where}"


def _chain_findings(service: str, module_type: str, rules: tuple[Rule, ...]) -> Iterable[Finding]:
    chain = _Chain(rules)
    dead = chain.unreached("codes")
    dead_if_fixed = chain.unreached("loaded") if dead else set()
    # rules unreachable only because a module is missing or a line always fails: one finding
    # at that cause, not one per rule it hides
    caused = dead - dead_if_fixed
    if caused:
        yield from _cascade(service, module_type, rules, caused)
    shown: set[_Occurrence] = set()
    for rule in rules if dead else ():
        key = _occurrence(rule)
        if key not in dead or key in caused or key in shown:
            continue
        shown.add(key)
        # pam-auth-update's "[default=1] pam_permit; requisite pam_deny" idiom
        idiom = rule.module_name == "pam_deny.so"
        yield Finding(
            "info" if idiom else "warning",
            rule.file,
            rule.line,
            f"no path reaches this {module_type} rule ({rule.module or rule.control})",
            "every return code of the rules before it stops the stack or jumps over it",
            (service,),
        )
    yield from _permit_findings(service, module_type, chain)
    yield from _twice_findings(service, module_type, rules)


def _cascade(
    service: str,
    module_type: str,
    chain: tuple[Rule, ...],
    caused: set[_Occurrence],
) -> Iterable[Finding]:
    broken = [
        i
        for i, rule in enumerate(chain)
        if rule.kind != "substack" and possible_codes(rule) != possible_codes(rule, True)
    ]
    left = set(caused)
    for i in broken:
        fixed = tuple(
            replace(r, kind="module", exists=True, loadable=True, symbols=frozenset(
                TYPE_SYMBOLS[r.type]), module=r.module or "x.so") if k == i else r
            for k, r in enumerate(chain)
        )  # fmt: skip
        freed = left & {_occurrence(r) for r in fixed} - _Chain(fixed).unreached("codes")
        if not freed:
            continue
        left -= freed
        rule = chain[i]
        hidden = [r for r in chain if _occurrence(r) in freed]
        what = (
            f"{rule.module} cannot be used ({rule.status})"
            if rule.kind == "module"
            else f"this line always fails ({rule.fail_reason})"
        )
        yield Finding(
            "warning",
            rule.file,
            rule.line,
            f"{what}, so {len(hidden)} later {module_type} "
            f"rule{'s' if len(hidden) > 1 else ''} never run ({_span(hidden)})",
            "libpam returns PAM_MODULE_UNKNOWN (or PAM_PERM_DENIED) here and the control "
            "ends the stack or jumps over the rest; fix this rule first",
            (service,),
        )


def _permit_findings(service: str, module_type: str, chain: _Chain) -> Iterable[Finding]:
    if not any(r.module_name == "pam_permit.so" for r in chain.rules):
        return
    reached = chain.reached("codes")
    for i, rule in enumerate(chain.rules):
        if rule.module_name != "pam_permit.so" or rule.kind != "module":
            continue
        action = rule.actions[_SUCCESS]
        if (
            module_type == "auth"
            and action == ACTION_DONE
            and any(s.impression != _NEGATIVE for s in reached[i])
        ):
            yield Finding(
                "warning",
                rule.file,
                rule.line,
                "sufficient pam_permit.so in auth lets anyone authenticate",
                "pam_permit always succeeds and 'done' ends the stack with success unless a "
                "rule before it has already failed",
                (service,),
            )
        elif (
            module_type in ("auth", "account")
            and action == ACTION_OK
            and any(
                s.impression == _UNDEF and s.ignored_failure for s in chain.reached("abstaining")[i]
            )
        ):
            yield Finding(
                "warning",
                rule.file,
                rule.line,
                f"pam_permit.so decides this {module_type} stack: a path that ignored a "
                "failure reaches it before any rule said yes or no",
                "pam_permit's success becomes the stack's result when every rule before it "
                "was ignored; a failure skipped on the way (optional, default=ignore, a "
                "jump) is then forgotten",
                (service,),
            )


def _twice_findings(service: str, module_type: str, chain: tuple[Rule, ...]) -> Iterable[Finding]:
    first: dict[str, Rule] = {}
    for rule in chain:
        if rule.kind != "module" or rule.module_name in _REPEATABLE or not rule.origin:
            continue
        before = first.setdefault(rule.module_name, rule)
        if before is rule or not before.origin or before.origin[0] == rule.origin[0]:
            continue
        if (before.file, before.line) == (rule.file, rule.line) and before.origin == rule.origin:
            continue  # libpam's second copy of other
        a, b = before.origin[0], rule.origin[0]
        yield Finding(
            "warning",
            rule.file,
            rule.line,
            f"{rule.module_name} runs twice in the {module_type} stack: through "
            f"{a.label} and {b.label}",
            "two included files both call the module; it prompts, counts or logs twice",
            (service,),
        )


def _include_findings(stack: Stack) -> Iterable[Finding]:
    for use in stack.includes:
        if not use.ok:
            continue
        inc = use.include
        if inc.kind == "@include" and use.type is not None:
            continue  # read for the type of an outer include: that include's finding covers it
        if use.type is None:
            if use.added == 0:
                yield Finding(
                    "info",
                    inc.file,
                    inc.line,
                    f"@include {inc.target} adds no rules for {stack.name}",
                    f"{use.path} has no rule lines",
                )
            continue
        if use.added:
            continue
        own = stack.other_chain(use.type) if use.other else stack.own_chain(use.type)
        calls = ", ".join(f.value for f in _FUNCTIONS[use.type])
        fallback = stack.other_chain(use.type)
        if own or use.other or fallback:
            also = "" if own or use.other else f", so {calls} in {stack.name} use other's rules"
            yield Finding(
                "info",
                inc.file,
                inc.line,
                f"{inc.kind} {inc.target} adds no {use.type} rules{also}",
                f"{use.path} has no {use.type} lines; libpam reads it and adds nothing; "
                "a service with no rules of a type falls back to 'other' for it",
            )
        else:
            yield Finding(
                "warning",
                inc.file,
                inc.line,
                f"{inc.kind} {inc.target} adds no {use.type} rules and other has none: "
                f"{calls} in {stack.name} return PAM_PERM_DENIED",
                f"{use.path} has no {use.type} lines; a service with no rules of a type "
                "falls back to 'other' for it",
            )


def _rule_findings(rule: Rule, service: str) -> Iterable[Finding]:
    if rule.kind != "module":
        return
    where = (rule.file, rule.line)
    if rule.module_name == "pam_stack.so":
        target = next((a.split("=", 1)[1] for a in rule.args if a.startswith("service=")), "X")
        yield Finding(
            "error",
            *where,
            "pam_stack.so is obsolete (removed from Linux-PAM in 2006): "
            f"write '{rule.type} include {target}' or '{rule.type} substack {target}'",
            "pam_stack was replaced by the include and substack controls; without the "
            "module the rule returns PAM_MODULE_UNKNOWN",
        )
        if not rule.exists:
            return
    if not rule.exists:
        if rule.silent:
            yield Finding(
                "info",
                *where,
                f"module {rule.module} is not installed (the '-' type keeps this quiet)",
                "the rule returns PAM_MODULE_UNKNOWN under "
                "its control; '-' only silences the log line",
            )
        elif rule.module_name != "pam_stack.so":
            yield Finding(
                "error",
                *where,
                f"module {rule.module} not found ({rule.path})",
                "libpam cannot load it; the rule returns PAM_MODULE_UNKNOWN under its control",
            )
        return
    if not rule.loadable:
        yield Finding(
            "error",
            *where,
            f"{rule.path} is not a loadable PAM module",
            "dlopen will fail; the rule returns PAM_MODULE_UNKNOWN",
        )
        return
    lacking = [s for s in TYPE_SYMBOLS[rule.type] if s not in rule.symbols]
    if lacking:
        yield Finding(
            "warning",
            *where,
            f"{rule.module_name} does not export {' or '.join(lacking)} for type {rule.type}",
            "libpam returns PAM_MODULE_UNKNOWN for that call at this rule",
        )
    if rule.module_name == "pam_rootok.so" and rule.actions[_SUCCESS] == ACTION_DONE:
        yield from _rootok_finding(rule, service)
    if "nullok" in rule.args:
        yield Finding(
            "info",
            *where,
            f"{rule.module_name} nullok accepts an empty password",
            "accounts with an empty password field can log in without one",
        )


def _rootok_finding(rule: Rule, service: str) -> Iterable[Finding]:
    """pam_rootok succeeds when the *real* uid is 0: harmless in a tool root runs (passwd, su,
    useradd, crond...), a hole in a program that runs as root for other users (sshd, login,
    a display manager)."""
    if service in ROOT_TOOLS and not rule.other:
        return
    if service in ROOT_DAEMONS or rule.other:
        yield Finding(
            "warning",
            rule.file,
            rule.line,
            f"pam_rootok sufficient in {'other' if rule.other else service}: "
            "its program runs as root for other users, so everyone passes",
            "pam_rootok succeeds when the real uid is 0; a daemon or login program calls PAM "
            "as root on behalf of someone else",
        )
        return
    yield Finding(
        "info",
        rule.file,
        rule.line,
        f"pam_rootok sufficient in {service}: a caller whose real uid is 0 passes without "
        "other checks (fine for a tool root runs, a hole in a daemon)",
        "pam_rootok succeeds when the real uid is 0",
    )
