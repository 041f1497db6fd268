"""The simulator against the real libpam on seeded random service directories.

Each case writes a confdir (random rules over pam_debug with per-function codes, pam_permit,
pam_deny, missing modules, ``-`` types, keyword and bracket controls with jumps, reset, die,
done and malformed controls, include and substack by absolute path, with and without
``other``), runs the call sequence in a forked child on the real library, and asserts that
``simulate`` returns the same pam_start outcome and the same code for every call.
"""

from __future__ import annotations

import random
from pathlib import Path

from pamexplorer.pam.operation import parse_operation
from pamexplorer.stack.resolve import resolve
from pamexplorer.stack.simulate import simulate
from tests.stack.stack_realpam import run_real

SEED = 20260527
CASES = 600
CODES = [
    "success",
    "auth_err",
    "cred_err",
    "ignore",
    "perm_denied",
    "session_err",
    "new_authtok_reqd",
    "try_again",
    "authtok_err",
    "user_unknown",
    "abort",
    "module_unknown",
    "bogus_code",
    "incomplete",
]
EVENTS = ["auth", "cred", "acct", "open_session", "close_session", "prechauthtok", "chauthtok"]
SEQUENCES = [
    ["authenticate", "setcred"],
    ["authenticate", "setcred", "setcred(PAM_DELETE_CRED)"],
    ["open_session", "close_session"],
    ["acct_mgmt", "chauthtok"],
    ["authenticate", "acct_mgmt", "setcred", "open_session", "close_session", "setcred"],
    ["setcred", "close_session", "authenticate", "setcred"],
    ["chauthtok", "authenticate", "authenticate", "setcred"],
]
TYPES = ["auth", "account", "session", "password"]


def _control(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.45:
        return rng.choice(["required", "requisite", "optional", "sufficient", "Required"])
    if pick < 0.93:
        names = [
            "success",
            "auth_err",
            "cred_err",
            "ignore",
            "perm_denied",
            "session_err",
            "new_authtok_reqd",
            "authtok_err",
            "module_unknown",
            "try_again",
            "default",
        ]
        actions = ["ok", "done", "bad", "die", "ignore", "reset", "1", "2", "3"]
        pairs = [f"{rng.choice(names)}={rng.choice(actions)}" for _ in range(rng.randint(1, 4))]
        return "[" + " ".join(pairs) + "]"
    return rng.choice(
        ["requird", "[success=0]", "[success=ok,default=bad]", "[sucess=ok]", "[default=1x]", "[]"]
    )


def _module(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.6:
        args = [f"{e}={rng.choice(CODES)}" for e in EVENTS if rng.random() < 0.55]
        return "pam_debug.so " + " ".join(args)
    if pick < 0.75:
        return "pam_permit.so"
    if pick < 0.88:
        return "pam_deny.so"
    if pick < 0.95:
        return "pam_missing_xyz.so"
    return "pam_rootok.so"  # exists, exports no session/password functions


def _file(rng: random.Random, confdir: Path, name: str, others: list[str], depth: int) -> str:
    lines = []
    for _ in range(rng.randint(1, 7)):
        kind = rng.random()
        typ = rng.choice(TYPES)
        if rng.random() < 0.08:
            typ = "-" + typ
        if kind < 0.12 and others and depth < 3:
            target = rng.choice(others)
            lines.append(f"{typ} {rng.choice(['include', 'substack'])} {confdir / target}")
        elif kind < 0.15:
            lines.append(
                rng.choice(
                    [
                        "bogus required pam_permit.so",
                        "auth",
                        "session required",
                        "# a comment \\",
                        "auth required pam_permit.so # x",
                        "account [success=1]\\\n  pam_deny.so",
                        "bogus include " + str(confdir / "inc2"),
                    ]
                )
            )
        elif kind < 0.16 and name in ("svc", "other"):
            # a module name libpam rejects; in an included file that is undefined behaviour
            # in libpam (it crashes or not, by memory layout), so only at top level here
            lines.append("auth required ?.so")
        else:
            lines.append(f"{typ} {_control(rng)} {_module(rng)}")
    if rng.random() < 0.02:
        lines.append("auth required pam_permit.so \\")
    return "\n".join(lines) + "\n"


def _case(rng: random.Random, confdir: Path) -> tuple[list[str], str]:
    names = ["svc", "inc1", "inc2"]
    for index, name in enumerate(names):
        # includes only point forward, so no case loops (loops are tested on their own)
        text = _file(rng, confdir, name, names[index + 1 :], index)
        (confdir / name).write_text(text)
    if rng.random() < 0.5:
        (confdir / "other").write_text(_file(rng, confdir, "other", [], 3))
    return rng.choice(SEQUENCES), "svc"


def _describe(confdir: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(confdir.iterdir()))


def test_simulator_matches_real_libpam(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    compared = 0
    for number in range(CASES):
        confdir = tmp_path / f"case{number}"
        confdir.mkdir()
        sequence, service = _case(rng, confdir)
        operations = [parse_operation(op) for op in sequence]
        real = run_real(service, confdir, [(op.function.value, op.flags) for op in operations])
        predicted = simulate(resolve(service, str(confdir)), operations)
        want = (real.start, real.calls, real.crash is not None)
        start = None if predicted.start.crash else predicted.start.code
        got = (start, tuple(c.code for c in predicted.calls), predicted.start.crash is not None)
        assert got == want, (
            f"case {number} (seed {SEED}): libpam {want}, simulate {got}\n"
            f"calls {sequence}\n{_describe(confdir)}"
        )
        compared += 1
    assert compared == CASES
