"""Every grammar and dispatch rule of PAM-NOTES.md, checked on the real library AND the simulator.

Each ``agree`` call runs the configuration through real libpam (pam_start_confdir in a forked
child) and through ``resolve`` + ``simulate``, asserts they give the same pam_start outcome
and call codes, and returns libpam's codes so the test can also pin the documented value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.pam.operation import parse_operation
from pamexplorer.stack.parse import assemble_lines, parse_control, tokenize
from pamexplorer.stack.resolve import resolve
from pamexplorer.stack.simulate import parse_result_spec, simulate
from tests.stack.stack_realpam import run_real

ServiceDir = Callable[[dict[str, str]], Path]
AUTH = ["authenticate"]


def P(code: str, event: str = "auth") -> str:
    """A module that returns ``code`` for ``event``: pam_debug."""
    return f"pam_debug.so {event}={code}"


def agree(
    service_dir: ServiceDir, files: dict[str, str], ops: list[str], service: str = "svc"
) -> tuple[int | str | None, tuple[int, ...]]:
    confdir = service_dir(files)
    operations = [parse_operation(op) for op in ops]
    real = run_real(service, confdir, [(op.function.value, op.flags) for op in operations])
    predicted = simulate(resolve(service, str(confdir)), operations)
    real_start: int | str | None = "crash" if real.crash else real.start
    sim_start: int | str | None = "crash" if predicted.start.crash else predicted.start.code
    got = (sim_start, tuple(c.code for c in predicted.calls))
    assert got == (real_start, real.calls), f"libpam {(real_start, real.calls)}, simulate {got}"
    return real_start, real.calls


# -- the table "Cases checked on the real library" ------------------------------------------
TABLE = [
    (f"auth required {P('perm_denied')}\nauth sufficient {P('success')}\n", AUTH, (6,)),
    (f"auth sufficient {P('success')}\nauth required {P('perm_denied')}\n", AUTH, (0,)),
    (f"auth requisite {P('auth_err')}\nauth required {P('perm_denied')}\n", AUTH, (7,)),
    (f"auth optional {P('auth_err')}\n", AUTH, (6,)),
    (f"auth optional {P('success')}\n", AUTH, (0,)),
    (f"auth required {P('ignore')}\nauth optional {P('ignore')}\n", AUTH, (6,)),
    ("account required pam_permit.so\n", AUTH, (6,)),
    (
        f"auth [success=1 default=ignore] {P('success')}\nauth requisite pam_deny.so\n"
        f"auth required {P('success')}\n",
        AUTH,
        (0,),
    ),
    (f"auth [success=1 default=ignore] {P('success')}\nauth requisite pam_deny.so\n", AUTH, (6,)),
    (f"auth [default=die] {P('auth_err')}\nauth required {P('success')}\n", AUTH, (7,)),
    (
        f"auth required {P('auth_err')}\nauth [default=reset] {P('success')}\n"
        f"auth required {P('success')}\n",
        AUTH,
        (0,),
    ),
    (f"auth requird {P('success')}\n", AUTH, (6,)),
    ("auth required missing.so\n", AUTH, (28,)),
    ("-auth required missing.so\n", AUTH, (28,)),
    (f"-auth optional missing.so\nauth required {P('success')}\n", AUTH, (0,)),
    (
        "session required pam_debug.so open_session=session_err\n",
        ["open_session", "close_session"],
        (14, 6),
    ),
    (
        "password required pam_debug.so prechauthtok=try_again chauthtok=success\n",
        ["chauthtok"],
        (24,),
    ),
]


@pytest.mark.parametrize(("text", "ops", "codes"), TABLE)
def test_notes_table(
    service_dir: ServiceDir, text: str, ops: list[str], codes: tuple[int, ...]
) -> None:
    assert agree(service_dir, {"svc": text}, ops) == (0, codes)


def test_substack_die_ends_only_the_substack(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {"sub": f"auth [default=die] {P('auth_err')}\nauth required {P('success')}\n"}
    )
    (confdir / "svc").write_text(f"auth substack {confdir}/sub\nauth required {P('success')}\n")
    ops = [parse_operation("authenticate")]
    assert run_real("svc", confdir, [("pam_authenticate", 0)]).calls == (7,)
    call = simulate(resolve("svc", str(confdir)), ops).calls[0]
    assert call.code == 7
    assert [(step.file.rsplit("/", 1)[-1], step.line, step.action) for step in call.path] == [
        ("sub", 1, "die"),
        ("svc", 2, "ok"),
    ], "die ends the substack; the parent rule still runs"


def test_substack_versus_include(service_dir: ServiceDir) -> None:
    sub = service_dir({"x": f"auth sufficient {P('success')}\nauth required {P('auth_err')}\n"})
    tail = f"auth required {P('perm_denied')}\n"
    assert agree(service_dir, {"svc": f"auth substack {sub}/x\n" + tail}, AUTH) == (0, (6,))
    assert agree(service_dir, {"svc": f"auth include {sub}/x\n" + tail}, AUTH) == (0, (0,))


def test_no_service_and_no_other(service_dir: ServiceDir) -> None:
    assert agree(service_dir, {"unrelated": "auth required pam_permit.so\n"}, AUTH) == (26, ())


def test_include_of_itself_crashes(service_dir: ServiceDir, tmp_path: Path) -> None:
    confdir = service_dir({})
    (confdir / "svc").write_text(f"auth include {confdir}/svc\n")
    operations = [parse_operation("authenticate")]
    real = run_real("svc", confdir, [("pam_authenticate", 0)])
    assert real.crash == "SIGSEGV"
    stack = resolve("svc", str(confdir))
    assert stack.start.crash and "loop" in stack.start.crash
    assert simulate(stack, operations).to_dict()["start"] == {"crash": stack.start.crash}


@pytest.mark.parametrize("line", ["auth include", "auth substack", "@include"])
def test_include_without_name_crashes(service_dir: ServiceDir, line: str) -> None:
    assert agree(service_dir, {"svc": line + "\n"}, AUTH) == ("crash", ())


# -- reading a file ------------------------------------------------------------------------
GRAMMAR = [
    # comment lines, trailing comments, blank lines
    ("# c\n\n   # indented\nauth required pam_permit.so # trailing\n", (0, (0,))),
    # a comment line inside a continuation is skipped, even when it ends in a backslash
    ("auth required \\\n# note \\\n pam_permit.so\n", (0, (0,))),
    ("auth required \\\n\n pam_deny.so\n", (0, (7,))),
    # a trailing comment ends the line: the backslash after '#' does not continue
    ("auth required pam_deny.so # \\\nauth required pam_permit.so\n", (0, (7,))),
    # '\' on the last line at end of file: pam_start fails
    ("auth required pam_permit.so \\", (26, ())),
    ("auth required pam_permit.so \\\n# only a comment after\n", (26, ())),
    # \r is part of a token
    ("auth required pam_permit.so\r\n", (0, (28,))),
    ("auth required pam_permit.so \r\n", (0, (0,))),
    # case: type and keyword control insensitive, bracket names not
    ("AUTH Required pam_permit.so\n", (0, (0,))),
    ("auth [Success=ok] pam_permit.so\n", (0, (6,))),
    # bracket tokens: [abc]def is two tokens, \] inside, arguments in brackets
    ("auth [success=ok]pam_permit.so\n", (0, (0,))),
    ("auth [success=done default=bad] pam_debug.so [x=\\] y] auth=success\n", (0, (0,))),
    ("auth required pam_debug.so [auth=auth_err extra]\n", (0, (0,))),
    # controls: no separator after an action, default fills only unset, bare pairs
    ("auth [success=okdefault=bad] pam_permit.so\n", (0, (0,))),
    # a later pair overrides what default set
    ("auth [default=ok success=bad] pam_permit.so\n", (0, (6,))),
    ("auth [success=bad default=ok] pam_permit.so\n", (0, (6,))),
    ("auth success=ok pam_permit.so\n", (0, (0,))),
    # malformed controls: every action bad, the module still runs
    ("auth [success=0] pam_permit.so\n", (0, (6,))),
    ("auth [success=1x] pam_permit.so\nauth required pam_permit.so\n", (0, (6,))),
    ("auth [success=ok,default=bad] pam_permit.so\n", (0, (6,))),
    ("auth [authtok_recover_err=ok success=ok] pam_permit.so\n", (0, (0,))),
    ("auth [] pam_permit.so\n", (0, (6,))),
    # unknown type, no control, no module: always-fail rules; the file goes on
    ("bogus required pam_permit.so\naccount required pam_permit.so\n", (0, (6,))),
    ("-\n", (0, (6,))),
    ("auth\n", (0, (6,))),
    ("auth required\n", (0, (6,))),
    # module names libpam refuses
    ("auth required ?.so\n", (26, ())),
    ("auth required .so\n", (26, ())),
    ("auth required [] arg\n", (26, ())),
    ("auth required a.b.c\n", (0, (28,))),
    # a jump past the end, a jump straight to the end
    ("auth [success=2] pam_permit.so\nauth required pam_permit.so\n", (0, (6,))),
    ("auth [success=1 default=ignore] pam_permit.so\nauth required pam_permit.so\n", (0, (6,))),
]


@pytest.mark.parametrize(("text", "want"), GRAMMAR)
def test_grammar(service_dir: ServiceDir, text: str, want: tuple[int, tuple[int, ...]]) -> None:
    assert agree(service_dir, {"svc": text}, AUTH) == want


def test_tokenizer_and_controls() -> None:
    assert tokenize("a  [b c\\]d]e\tf\r g") == ["a", "b c]d", "e", "f\r", "g"]
    assert tokenize("[unclosed x") == ["unclosed x"]
    actions, error = parse_control("success=1 default=die")
    assert actions[0] == 1 and actions[7] == -4 and error is None
    assert parse_control("requird")[1] is not None
    lines = assemble_lines(b"# x\nauth a \\\n b\n\nx # y\n").lines
    assert [(ln.line, ln.text) for ln in lines] == [(2, "auth a   b\n"), (5, "x ")]


def test_long_line_is_split_by_the_1024_byte_buffer(service_dir: ServiceDir) -> None:
    long = "auth required pam_permit.so " + "a" * 1100 + "\n"
    assert agree(service_dir, {"svc": long}, AUTH)[0] == 0


# -- finding a service ----------------------------------------------------------------------
def test_service_name_lowercased_and_basename(service_dir: ServiceDir) -> None:
    assert agree(service_dir, {"svc": "auth required pam_deny.so\n"}, AUTH, service="/x/y/SVC") == (
        0,
        (7,),
    )


def test_other_used_per_type(service_dir: ServiceDir) -> None:
    files = {
        "svc": "auth required pam_permit.so\n",
        "other": "auth required pam_deny.so\naccount required pam_deny.so\n",
    }
    assert agree(service_dir, files, ["authenticate", "acct_mgmt", "open_session"]) == (
        0,
        (0, 7, 6),
    )
    assert agree(service_dir, {"other": "auth required pam_permit.so\n"}, AUTH) == (0, (0,))


def test_other_that_fails_to_parse_fails_pam_start(service_dir: ServiceDir) -> None:
    files = {"svc": "auth required pam_permit.so\n", "other": "auth required x.so \\"}
    assert agree(service_dir, files, AUTH) == (26, ())


def test_relative_include_reads_etc_pam_d_even_with_confdir(service_dir: ServiceDir) -> None:
    files = {"svc": "auth include common-auth\n", "common-auth": "auth required pam_permit.so\n"}
    confdir = service_dir(files)
    stack = resolve("svc", str(confdir))
    assert {r.file for r in stack.rules} == {"/etc/pam.d/common-auth"}
    # the confdir copy (pam_permit) would succeed; /etc/pam.d's pam_unix refuses nobody
    assert run_real("svc", confdir, [("pam_authenticate", 0)]).calls != (0,)


def test_include_target_missing_is_always_fail(service_dir: ServiceDir) -> None:
    assert agree(service_dir, {"svc": "auth include /nonexistent/x\n"}, AUTH) == (0, (6,))


def test_at_include_all_types_and_failure(service_dir: ServiceDir) -> None:
    inc = service_dir({"x": "auth required pam_deny.so\naccount required pam_permit.so\n"})
    assert agree(
        service_dir, {"svc": f"@INCLUDE {inc}/x extra\n"}, ["authenticate", "acct_mgmt"]
    ) == (0, (7, 0))
    assert agree(service_dir, {"svc": "-@include /nonexistent\n"}, AUTH) == (26, ())
    assert (
        agree(
            service_dir, {"svc": f"auth substack {inc}/y\n", "y": "@include /nonexistent\n"}, AUTH
        )[0]
        == 0
    )


@pytest.mark.parametrize(("depth", "code"), [(15, 0), (16, 6)])
def test_substack_depth_limit(service_dir: ServiceDir, depth: int, code: int) -> None:
    confdir = service_dir({})
    files = {"svc": f"auth substack {confdir}/s1\n"}
    for i in range(1, depth):
        files[f"s{i}"] = f"auth substack {confdir}/s{i + 1}\n"
    files[f"s{depth}"] = "auth required pam_permit.so\n"
    for name, text in files.items():
        (confdir / name).write_text(text)
    ops = [parse_operation("authenticate")]
    real = run_real("svc", confdir, [("pam_authenticate", 0)])
    assert real.calls == (code,)
    assert tuple(c.code for c in simulate(resolve("svc", str(confdir)), ops).calls) == (code,)


def test_include_depth_is_not_limited(service_dir: ServiceDir) -> None:
    confdir = service_dir({})
    (confdir / "svc").write_text(f"auth include {confdir}/s1\n")
    for i in range(1, 30):
        (confdir / f"s{i}").write_text(f"auth include {confdir}/s{i + 1}\n")
    (confdir / "s30").write_text("auth required pam_permit.so\n")
    ops = [parse_operation("authenticate")]
    assert run_real("svc", confdir, [("pam_authenticate", 0)]).calls == (0,)
    assert simulate(resolve("svc", str(confdir)), ops).calls[0].code == 0


# -- dispatch -------------------------------------------------------------------------------
DISPATCH = [
    # frozen chain: setcred takes its actions from the codes of the last authenticate
    (
        "auth sufficient pam_debug.so auth=success cred=ignore\nauth required pam_deny.so\n",
        ["authenticate", "setcred"],
        (0, 17),
    ),
    ("auth required pam_debug.so auth=ignore cred=success\n", ["authenticate", "setcred"], (6, 6)),
    ("auth required pam_debug.so auth=ignore cred=success\n", ["setcred"], (0,)),
    # Debian: in a frozen chain a jump acts as ignore plus the jump
    (
        "auth [success=1 default=ignore] pam_debug.so auth=success cred=cred_err\n"
        "auth required pam_deny.so\nauth required pam_permit.so\n",
        ["authenticate", "setcred"],
        (0, 0),
    ),
    (
        "auth [default=1] pam_debug.so auth=auth_err cred=cred_err\nauth required pam_permit.so\n",
        ["authenticate", "setcred"],
        (6, 6),
    ),
    # setcred before any authenticate uses its own codes; a rule skipped stays unfrozen
    (
        "auth [success=done default=ignore] pam_debug.so auth=success\n"
        "auth required pam_debug.so auth=auth_err cred=cred_err\n",
        ["setcred", "authenticate", "setcred"],
        (0, 0, 0),
    ),
    (
        "auth [success=ignore default=done] pam_debug.so cred=cred_err\n"
        "auth required pam_debug.so auth=auth_err cred=cred_err\n",
        ["setcred", "authenticate", "setcred"],
        (17, 7, 17),
    ),
    # session: close_session frozen by open_session
    (
        "session requisite pam_debug.so open_session=session_err close_session=success\n"
        "session required pam_debug.so close_session=session_err\n",
        ["open_session", "close_session"],
        (14, 6),
    ),  # die with close's 0: status 0, NEG
    # chauthtok: an application may not pass the pass flags; update runs after prelim 0 only
    (
        "password required pam_debug.so prechauthtok=success chauthtok=authtok_err\n",
        ["chauthtok"],
        (20,),
    ),
    # PAM_INCOMPLETE: the same call resumes, another call gets PAM_ABORT
    (
        "auth required pam_debug.so auth=incomplete\n",
        ["authenticate", "authenticate", "setcred"],
        (31, 31, 26),
    ),
    (
        "session required pam_debug.so open_session=incomplete\n",
        ["open_session", "close_session", "acct_mgmt"],
        (31, 26, 26),
    ),
    # reset inside a substack restores the state saved on entering it
    (
        "auth required pam_debug.so auth=auth_err\n"
        "auth [default=reset] pam_permit.so\nauth required pam_permit.so\n",
        AUTH,
        (0,),
    ),
    # PAM_IGNORE under 'ok' becomes the status; under required's 'ignore' it gives 6
    ("auth [default=ok] pam_debug.so auth=ignore\n", AUTH, (25,)),
    ("auth required pam_debug.so auth=ignore\n", AUTH, (6,)),
]


@pytest.mark.parametrize(("text", "ops", "codes"), DISPATCH)
def test_dispatch(
    service_dir: ServiceDir, text: str, ops: list[str], codes: tuple[int, ...]
) -> None:
    assert agree(service_dir, {"svc": text}, ops) == (0, codes)


def test_reset_in_substack(service_dir: ServiceDir) -> None:
    sub = service_dir(
        {
            "x": f"auth required {P('auth_err')}\nauth [default=reset] "
            f"pam_permit.so\nauth required pam_permit.so\n"
        }
    )
    assert agree(
        service_dir, {"svc": f"auth required pam_permit.so\nauth substack {sub}/x\n"}, AUTH
    ) == (0, (0,))
    assert agree(
        service_dir, {"svc": f"auth required {P('cred_err')}\nauth substack {sub}/x\n"}, AUTH
    ) == (0, (17,))


def test_jump_past_end_of_substack(service_dir: ServiceDir) -> None:
    sub = service_dir({"x": "auth [success=3] pam_permit.so\nauth required pam_permit.so\n"})
    assert agree(
        service_dir, {"svc": f"auth substack {sub}/x\nauth required pam_permit.so\n"}, AUTH
    ) == (0, (6,))


def test_jump_over_a_substack_counts_it_as_one_rule(service_dir: ServiceDir) -> None:
    sub = service_dir({"x": "auth required pam_deny.so\nauth required pam_deny.so\n"})
    text = f"auth [success=1] pam_permit.so\nauth substack {sub}/x\nauth required pam_permit.so\n"
    assert agree(service_dir, {"svc": text}, AUTH) == (0, (0,))


def test_chauthtok_flags_from_application(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "password required pam_permit.so\n"})
    real = run_real("svc", confdir, [("pam_chauthtok", 0x2000), ("pam_chauthtok", 0x4000)])
    from pamexplorer.pam.codes import Function
    from pamexplorer.pam.operation import Operation

    ops = [Operation(Function.CHAUTHTOK, 0x2000), Operation(Function.CHAUTHTOK, 0x4000)]
    sim = simulate(resolve("svc", str(confdir)), ops)
    assert real.calls == tuple(c.code for c in sim.calls) == (4, 4)


@pytest.mark.parametrize(
    ("code", "rest", "want"),
    [
        (99, "", (6, 6)),
        (-3, "", (6, 6)),
        (32, "auth required pam_permit.so\n", (6, 6)),
    ],
)
def test_codes_outside_0_to_31(
    service_dir: ServiceDir,
    c_module: Callable[[str, str], Path],
    code: int,
    rest: str,
    want: tuple[int, int],
) -> None:
    body = f"{{ return {code}; }}"
    module = c_module(
        f"ret{code}".replace("-", "m"),
        f"""
        PAM_EXTERN int pam_sm_authenticate(void *h, int f, int c, const char **v) {body}
        PAM_EXTERN int pam_sm_setcred(void *h, int f, int c, const char **v) {body}
    """,
    )
    confdir = service_dir({"svc": f"auth optional {module}\n" + rest})
    ops = [parse_operation("authenticate"), parse_operation("setcred")]
    real = run_real("svc", confdir, [("pam_authenticate", 0), ("pam_setcred", 0)])
    assert real.calls == want
    stack = resolve("svc", str(confdir))
    assumed = simulate(stack, ops).calls[0].path[0]
    assert (assumed.code, assumed.assumed) == (0, True)  # unknown module: assumed success
    told = simulate(stack, ops, [parse_result_spec(f"svc:1={code}")])
    assert tuple(c.code for c in told.calls) == real.calls


def test_module_without_the_symbol_returns_28(service_dir: ServiceDir) -> None:
    assert agree(service_dir, {"svc": "session required pam_rootok.so\n"}, ["open_session"]) == (
        0,
        (28,),
    )


def test_service_named_other(service_dir: ServiceDir) -> None:
    files = {"other": "auth required pam_debug.so auth=auth_err\naccount required pam_permit.so\n"}
    assert agree(service_dir, files, ["authenticate", "acct_mgmt"], service="other") == (0, (7, 0))


def test_pam_conf_only_when_no_directory_exists(tmp_path: Path) -> None:
    from pamexplorer.stack.resolve import Paths, list_services

    conf = tmp_path / "pam.conf"
    conf.write_text(
        "# service type control module\n"
        "svc auth required pam_permit.so\nOTHER auth required pam_deny.so\n"
        "other account required pam_deny.so\nelse auth required pam_deny.so\n"
    )
    paths = Paths(pam_d=str(tmp_path / "none"), dist_d=str(tmp_path / "none2"), pam_conf=str(conf))
    stack = resolve("SVC", paths=paths)
    ops = [parse_operation("authenticate"), parse_operation("acct_mgmt")]
    assert [c.code for c in simulate(stack, ops).calls] == [0, 7]
    assert [name for name, _ in list_services(paths=paths)] == ["else", "other", "svc"]
    (tmp_path / "none").mkdir()  # once /etc/pam.d exists, pam.conf is not read
    assert resolve("svc", paths=paths).start.code == 26


@pytest.mark.parametrize(
    "text",
    [
        "auth required pam_warn.so\n",
        "auth [default=ok] pam_warn.so\n",
        "auth required pam_warn.so\nauth required pam_permit.so\n",
        "account required pam_warn.so\nsession optional pam_warn.so\n"
        "password required pam_warn.so\n",
    ],
)
def test_pam_warn_is_modelled_as_ignore(service_dir: ServiceDir, text: str) -> None:
    ops = ["authenticate", "acct_mgmt", "open_session", "close_session", "chauthtok"]
    agree(service_dir, {"svc": text}, ops)
    # every call, not acct_mgmt alone: three of these stacks have no account rules
    calls = simulate(
        resolve("svc", str(service_dir({"svc": text}))), [parse_operation(op) for op in ops]
    )
    warned = [step for call in calls.calls for step in call.path if step.module == "pam_warn.so"]
    assert warned and not any(step.assumed for step in warned)
    assert not any(step.assumed for call in calls.calls for step in call.path)
