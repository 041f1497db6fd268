"""Lint findings on sandbox service directories, and a run over this machine's /etc/pam.d."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pamexplorer.stack.lint import lint
from pamexplorer.stack.resolve import list_services, resolve
from tests.stack.stack_realpam import run_real

ServiceDir = Callable[[dict[str, str]], Path]


def findings(confdir: Path, service: str = "svc") -> list[tuple[str, int, str, str]]:
    return [
        (Path(f.file).name, f.line, f.severity, f.message)
        for f in lint(resolve(service, str(confdir)))
    ]


def has(found: list[tuple[str, int, str, str]], line: int, severity: str, words: str) -> bool:
    return any(f[1] == line and f[2] == severity and words in f[3] for f in found)


def test_lint_every_service_on_this_machine() -> None:
    services = list_services()
    assert services, "this machine has PAM services"
    for name, _path in services:
        for finding in lint(resolve(name)):
            assert (
                finding.file
                and finding.message
                and finding.severity in ("error", "warning", "info")
            )


def test_missing_module_and_symbol(service_dir: ServiceDir) -> None:
    found = findings(
        service_dir(
            {
                "svc": "auth required pam_nothere.so\n"
                "-auth optional pam_alsonot.so\n"
                "session required pam_rootok.so\n"
                "account required pam_permit.so\n"
                "password required pam_permit.so\n"
            }
        )
    )
    assert has(found, 1, "error", "pam_nothere.so not found")
    assert has(found, 2, "info", "not installed")
    assert has(found, 3, "warning", "does not export pam_sm_open_session")


def test_unknown_type_and_malformed_control(service_dir: ServiceDir) -> None:
    found = findings(
        service_dir(
            {
                "svc": "bogus required pam_permit.so\n"
                "auth requird pam_permit.so\n"
                "auth [success=0] pam_permit.so\n"
            }
        )
    )
    assert has(found, 1, "error", "unknown module type 'bogus'")
    assert has(found, 2, "error", "malformed control 'requird'")
    assert has(found, 3, "error", "every return code now acts as 'bad'")


def test_include_loop_crash_matches_libpam(service_dir: ServiceDir) -> None:
    confdir = service_dir({})
    (confdir / "svc").write_text(f"auth required pam_permit.so\nauth include {confdir}/svc\n")
    assert run_real("svc", confdir, [("pam_authenticate", 0)]).crash == "SIGSEGV"
    assert has(findings(confdir), 2, "error", "include loop")


def test_missing_include_target_and_depth(service_dir: ServiceDir) -> None:
    confdir = service_dir({})
    (confdir / "svc").write_text(f"auth include {confdir}/none\nauth substack {confdir}/svc\n")
    found = findings(confdir)
    assert has(found, 1, "error", "cannot be read")
    assert has(found, 2, "error", "deeper than 16")


def test_empty_type_without_other(service_dir: ServiceDir) -> None:
    found = findings(service_dir({"svc": "auth required pam_permit.so\n"}))
    assert any("no account rules and no other" in f[3] for f in found)
    with_other = service_dir(
        {
            "svc": "auth required pam_permit.so\n",
            "other": "account required pam_deny.so\n"
            "session required pam_deny.so\n"
            "password required pam_deny.so\n",
        }
    )
    assert not any("no account rules" in f[3] for f in findings(with_other))


def test_unreachable_and_risky(service_dir: ServiceDir) -> None:
    found = findings(
        service_dir(
            {
                "svc": "auth requisite pam_deny.so\n"
                "auth required pam_unix.so nullok\n"
                "account sufficient pam_rootok.so\n"
                "account [success=1] pam_permit.so\n"
                "account required pam_warn.so\n"
                "account required pam_permit.so\n"
                "session sufficient pam_permit.so\n"
                "password required pam_permit.so\n"
            }
        )
    )
    assert has(found, 2, "warning", "no path reaches this auth rule")
    assert has(found, 2, "info", "nullok")
    assert has(found, 3, "info", "pam_rootok sufficient")  # svc: not a known tool or daemon
    assert has(found, 5, "warning", "no path reaches")
    assert not any(f[1] == 6 and "no path" in f[3] for f in found)
    auth = findings(service_dir({"svc": "auth sufficient pam_permit.so\n"}))
    assert has(auth, 1, "warning", "lets anyone authenticate")
    su = service_dir({"su": "auth sufficient pam_rootok.so\n"})
    assert not any("pam_rootok" in f[3] for f in findings(su, "su"))


def test_carriage_return_and_backslash_at_end(service_dir: ServiceDir) -> None:
    found = findings(service_dir({"svc": "auth required pam_permit.so\r\n"}))
    assert has(found, 1, "warning", "carriage return")
    found = findings(
        service_dir({"svc": "auth required pam_permit.so\nauth required pam_permit.so \\"})
    )
    assert has(found, 2, "error", "past the end of the file")
