"""A call's code explained in its context, from its trace: which function returned it, which
rule decided, and what an earlier module said that the deciding one may have masked.

``acct_mgmt: pam_deny after pam_unix returned PAM_ACCT_EXPIRED: the user account has expired``
reads better than "PAM_AUTH_ERR: authentication failed" when Debian's common-account ends in
``pam_deny``. Front-end neutral (plain strings): the TUI's detail pane and the notebook share it.
"""

from __future__ import annotations

from pamexplorer.pam.codes import Code, describe
from pamexplorer.pam.records import ModuleCall, Trace

#: Codes that say little on their own: a failure of these is what a masking rule returns.
GENERIC_CODES = frozenset(
    {Code.PAM_AUTH_ERR, Code.PAM_PERM_DENIED, Code.PAM_SERVICE_ERR, Code.PAM_SYSTEM_ERR}
)
#: Codes that are no finding: success and "ignore me".
QUIET_CODES = frozenset({Code.PAM_SUCCESS, Code.PAM_IGNORE})


def short_function(function: str) -> str:
    """``acct_mgmt`` for ``pam_acct_mgmt``."""
    return function.removeprefix("pam_")


def short_module(module: str) -> str:
    """``pam_deny`` for ``/lib/.../pam_deny.so``."""
    return module.rsplit("/", 1)[-1].removesuffix(".so")


def code_meaning(code: int) -> str:
    """The first sentence of a code's explanation, lower-cased to follow a colon."""
    sentence = describe(code).explanation.split(". ", 1)[0].rstrip(".")
    return sentence[:1].lower() + sentence[1:] if sentence else describe(code).text


def telling_entry(trace: Trace) -> ModuleCall | None:
    """The most informative non-success code that ran before the deciding rule: the first
    specific one (``PAM_ACCT_EXPIRED``, ``PAM_USER_UNKNOWN``), else the last failure; None when
    every earlier module succeeded or was ignored."""
    decided = trace.decided_by
    if decided is None:
        return None
    decider = trace.modules[decided]
    earlier = [
        m
        for m in trace.modules[:decided]
        if m.ran and m.called and m.code is not None and m.code not in QUIET_CODES
    ]
    earlier = [m for m in earlier if m.code != decider.code or decider.code in GENERIC_CODES]
    specific = [m for m in earlier if m.code not in GENERIC_CODES]
    if specific:
        return specific[0]
    return earlier[-1] if earlier and earlier[-1].code != decider.code else None


def explain_call(function: str, code: int, trace: Trace | None) -> str | None:
    """One line for a call's code in its context, or None when there is no usable trace
    (unavailable, unreliable, no deciding rule)."""
    if trace is None or trace.status != "traced" or trace.decider is None:
        return None
    decider = trace.decider
    fn = short_function(function)
    name = describe(code).name
    telling = telling_entry(trace) if code != Code.PAM_SUCCESS else None
    who = short_module(decider.module)
    if telling is not None and telling.code is not None:
        said = describe(telling.code).name
        return (
            f"{fn}: {who} after {short_module(telling.module)} returned {said}: "
            f"{code_meaning(telling.code)}"
        )
    if decider.code is not None and decider.code != code:
        own = describe(decider.code).name
        return f"{fn}: {name}, decided by {who}, which returned {own}: {code_meaning(code)}"
    return f"{fn}: {who} returned {name}: {code_meaning(code)}"
