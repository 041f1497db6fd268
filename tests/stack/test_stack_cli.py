"""``services``, ``show``, ``lint`` and ``simulate`` as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.cli import main
from tests.stack.stack_realpam import run_real

ServiceDir = Callable[[dict[str, str]], Path]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["services", "show", "lint", "simulate"])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"pamexplorer {command}" in capsys.readouterr().out.split("examples:")[1]


def test_services(capsys: pytest.CaptureFixture[str], service_dir: ServiceDir) -> None:
    confdir = service_dir({"a": "auth required pam_permit.so\n", "other": ""})
    code, out, _ = run(capsys, "services", "--confdir", str(confdir))
    assert code == 0
    assert out.split() == ["a", str(confdir / "a"), "other", str(confdir / "other")]


def test_show_marks_includes_and_status(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    confdir = service_dir({"inc": "auth required pam_permit.so\n"})
    (confdir / "svc").write_text(
        f"auth substack {confdir}/inc\nauth required nothere.so\nsession required pam_rootok.so\n"
    )
    code, out, _ = run(capsys, "show", "--wide", "--confdir", str(confdir), "svc")
    assert code == 0
    lines = out.splitlines()
    assert any(ln.strip().startswith("> substack") for ln in lines)
    assert any(f"    {confdir}/inc:1" in ln and "[found]" in ln for ln in lines)
    assert any(f"{confdir}/svc:2" in ln and "[MISSING]" in ln for ln in lines)
    assert any("[no pam_sm_open_session, pam_sm_close_session]" in ln for ln in lines)
    code, out, _ = run(capsys, "show", "--confdir", str(confdir), "--type", "session", "svc")
    assert "auth" not in out.split("\n", 1)[1]


def test_lint_exit_status(capsys: pytest.CaptureFixture[str], service_dir: ServiceDir) -> None:
    good = service_dir(
        {
            "svc": "auth required pam_permit.so\naccount required pam_permit.so\n"
            "session required pam_permit.so\n"
            "password required pam_permit.so\n"
        }
    )
    assert run(capsys, "lint", "--confdir", str(good))[0] == 0
    bad = service_dir({"svc": "auth required nothere.so\n"})
    code, out, _ = run(capsys, "lint", "--confdir", str(bad), "svc")
    assert code == 1
    assert f"{bad}/svc:1: error: module nothere.so not found" in out
    assert "    why: " in out
    empty = service_dir({})
    code, _, err = run(capsys, "lint", "--confdir", str(empty))
    assert code == 2 and "no services" in err


def test_lint_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lint")
    assert code in (0, 1)
    assert "Traceback" not in out


def test_simulate_json_contract_matches_libpam(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    confdir = service_dir(
        {
            "svc": "auth [success=1 default=ignore] pam_unix.so\n"
            "auth requisite pam_deny.so\nauth required pam_permit.so\n"
        }
    )
    code, out, _ = run(
        capsys,
        "simulate",
        "--confdir",
        str(confdir),
        "--format",
        "json",
        "--result",
        "svc:1=auth_err",
        "svc",
        "authenticate",
        "setcred",
    )
    assert code == 0
    data = json.loads(out)
    assert data["start"] == {"code": 0, "name": "PAM_SUCCESS"}
    first = data["calls"][0]
    assert set(first) == {"function", "code", "name", "text", "path", "not_run", "decided_by"}
    assert (first["function"], first["code"], first["name"]) == (
        "pam_authenticate",
        7,
        "PAM_AUTH_ERR",
    )
    assert first["text"] == "Authentication failure"
    assert first["path"][0] == {
        "file": f"{confdir}/svc",
        "line": 1,
        "module": "pam_unix.so",
        "code": 7,
        "action": "ignore",
        "assumed": False,
    }
    assert [s["line"] for s in first["path"]] == [1, 2]
    # with pam_unix told to succeed, nothing is assumed except what --result does not cover
    code, out, _ = run(
        capsys, "simulate", "--confdir", str(confdir), "--format", "json", "svc", "authenticate"
    )
    step = json.loads(out)["calls"][0]["path"][0]
    assert step["assumed"] is True and step["action"] == "jump 1"


def test_simulate_crash_and_text(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    confdir = service_dir({"svc": "auth include\n"})
    assert run_real("svc", confdir, [("pam_authenticate", 0)]).crash == "SIGSEGV"
    code, out, _ = run(
        capsys, "simulate", "--confdir", str(confdir), "--format", "json", "svc", "authenticate"
    )
    assert set(json.loads(out)["start"]) == {"crash"}
    confdir = service_dir({"svc": "password required pam_debug.so prechauthtok=try_again\n"})
    code, out, _ = run(capsys, "simulate", "--confdir", str(confdir), "svc", "chauthtok")
    assert code == 0
    assert "pam_chauthtok       PAM_TRY_AGAIN (24)" in out
    assert "prelim" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--result", "svc:1"], "--result"),
        (["--result", "svc:1=nonsense"], "unknown code"),
        (["--result", "svc:9=0"], "no rule"),
        (["--result", "svc:1@frobnicate=0"], "unknown event"),
    ],
)
def test_simulate_bad_usage(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir, argv: list[str], words: str
) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    code, _, err = run(capsys, "simulate", "--confdir", str(confdir), *argv, "svc", "authenticate")
    assert code == 2 and words in err and "Traceback" not in err
    code, _, err = run(capsys, "simulate", "--confdir", str(confdir), "svc", "frob")
    assert code == 2 and "frob" in err and len(err.strip().splitlines()) == 1


def test_simulate_result_per_event(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    confdir = service_dir({"svc": "password required pam_unix.so\n"})
    code, out, _ = run(
        capsys,
        "simulate",
        "--confdir",
        str(confdir),
        "--format",
        "json",
        "--result",
        "svc:1@update=authtok_err",
        "svc",
        "chauthtok",
    )
    assert code == 0
    call = json.loads(out)["calls"][0]
    assert call["code"] == 20
    assert [s["code"] for s in call["path"]] == [0, 20]
