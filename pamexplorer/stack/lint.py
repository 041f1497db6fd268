"""Findings about a resolved stack: what libpam will do that its author may not expect."""

from __future__ import annotations

from collections.abc import Iterable

from pamexplorer.pam.codes import MODULE_TYPES, Function
from pamexplorer.stack.model import (
    ACTION_DIE,
    ACTION_DONE,
    RETURN_VALUES,
    TYPE_SYMBOLS,
    Finding,
    Rule,
    Stack,
)
from pamexplorer.stack.simulate import _DENY, debug_code

#: Services where ``pam_rootok sufficient`` is the intended design (root may switch freely).
SU_LIKE = frozenset(
    {"su", "su-l", "runuser", "runuser-l", "chfn", "chsh", "chage", "sudo", "sudo-i"}
)
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


def possible_codes(rule: Rule) -> frozenset[int]:
    """Codes the rule can return in the calls of its type (all of 0..31 when unknown)."""
    if rule.kind == "always_fail":
        return frozenset({6})
    codes: set[int] = set()
    for symbol in TYPE_SYMBOLS[rule.type]:
        if not rule.exports(symbol):
            codes.add(28)
    name = rule.module_name
    if rule.kind == "module" and rule.loadable:
        if name == "pam_permit.so":
            codes.add(0)
        elif name == "pam_deny.so":
            codes.update(_DENY[f] for f in _FUNCTIONS[rule.type])
        elif name == "pam_debug.so":
            codes.update(debug_code(e, rule.args) for e in _DEBUG_EVENTS[rule.type])
        else:
            codes |= _ALL_CODES
    return frozenset(codes)


def unreachable(chain: tuple[Rule, ...]) -> list[Rule]:
    """Rules of ``chain`` that no combination of return codes lets libpam reach."""
    n = len(chain)

    def end_of_level(i: int) -> int:
        level = chain[i].level
        j = i + 1
        while j < n and chain[j].level >= level:
            j += 1
        return j

    def jump(i: int, count: int) -> int:
        level = chain[i].level
        while i + 1 < n and chain[i + 1].level >= level and count > 0:
            i += 1
            while i + 1 < n and chain[i + 1].level > level:
                i += 1
            count -= 1
        return i + 1

    reached = [False] * (n + 1)
    if n:
        reached[0] = True
    for i in range(n):
        if not reached[i]:
            continue
        rule = chain[i]
        if rule.kind == "substack":
            reached[i + 1] = True
            continue
        for code in possible_codes(rule):
            action = rule.actions[code]
            if action == ACTION_DIE:
                reached[end_of_level(i)] = True
            elif action == ACTION_DONE:
                reached[end_of_level(i)] = True
                reached[i + 1] = True
            elif action > 0:
                reached[jump(i, action)] = True
            else:
                reached[i + 1] = True
    return [chain[i] for i in range(n) if not reached[i]]


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
                stack.source or stack.confdir or "/etc/pam.d",
                0,
                f"pam_start fails for {stack.name}: {stack.start.reason}",
                "pam_start returns PAM_ABORT and no call can be made",
            )
        )
    for rule in (*stack.rules, *stack.other_rules):
        for finding in _rule_findings(rule, stack.name):
            add(finding)
    if not stack.start.crash and not stack.start.code:
        for module_type in MODULE_TYPES:
            if not stack.chain(module_type):
                calls = ", ".join(f.value for f in _FUNCTIONS[module_type])
                add(
                    Finding(
                        "warning",
                        stack.source or stack.name,
                        0,
                        f"service {stack.name} has no {module_type} rules and no other "
                        f"{module_type} rules: calls to {calls} return PAM_PERM_DENIED",
                        "libpam falls back to 'other' per type; with neither, dispatch "
                        "returns PAM_PERM_DENIED",
                    )
                )
        for chains in (stack.rules, stack.other_rules):
            for module_type in MODULE_TYPES:
                chain = tuple(r for r in chains if r.type == module_type)
                for rule in unreachable(chain):
                    # pam-auth-update's "[default=1] pam_permit; requisite pam_deny" idiom
                    idiom = rule.module_name == "pam_deny.so"
                    add(
                        Finding(
                            "info" if idiom else "warning",
                            rule.file,
                            rule.line,
                            f"no path reaches this {module_type} rule "
                            f"({rule.module or rule.control})",
                            "every return code of the rules before it stops the stack or "
                            "jumps over it",
                        )
                    )
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found.values(), key=lambda f: (f.file, f.line, order[f.severity]))


def _rule_findings(rule: Rule, service: str) -> Iterable[Finding]:
    if rule.kind != "module":
        return
    where = (rule.file, rule.line)
    if not rule.exists:
        if rule.silent:
            yield Finding(
                "info",
                *where,
                f"module {rule.module} is not installed (the '-' type keeps this quiet)",
                "the rule returns PAM_MODULE_UNKNOWN under "
                "its control; '-' only silences the log line",
            )
        else:
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
    control = rule.control.lower()
    if (
        rule.type == "auth"
        and rule.module_name == "pam_permit.so"
        and (control == "sufficient" or rule.actions[0] == ACTION_DONE)
    ):
        yield Finding(
            "warning",
            *where,
            "sufficient pam_permit.so in auth lets anyone authenticate",
            "pam_permit always succeeds and 'done' ends the stack with success",
        )
    if (
        rule.module_name == "pam_rootok.so"
        and rule.actions[0] == ACTION_DONE
        and service not in SU_LIKE
    ):
        yield Finding(
            "warning",
            *where,
            f"pam_rootok sufficient in {service}: root passes without any other check",
            "usual only in su-like services",
        )
    if "nullok" in rule.args:
        yield Finding(
            "info",
            *where,
            f"{rule.module_name} nullok accepts an empty password",
            "accounts with an empty password field can log in without one",
        )
