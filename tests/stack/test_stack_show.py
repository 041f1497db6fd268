"""``show`` at 80 columns, ``--wide`` as before, and terminal safety of show/lint/services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stack.test_stack_cli import run
from tests.stack.test_stack_distros import DEBIAN_COMMON, DEBIAN_SU, FEDORA_SYSTEM_AUTH

ServiceDir = Callable[[dict[str, str]], Path]


def absolute(files: dict[str, str], confdir: Path) -> dict[str, str]:
    """The files with their include names made absolute (a confdir does not resolve relative
    includes: libpam reads those from /etc/pam.d)."""
    out = {}
    for name, text in files.items():
        for other in files:
            text = text.replace(f"@include {other}\n", f"@include {confdir}/{other}\n")
            text = text.replace(f"include      {other}\n", f"include      {confdir}/{other}\n")
            text = text.replace(f"substack     {other}\n", f"substack     {confdir}/{other}\n")
        out[name] = text
    return out


@pytest.fixture
def debian(service_dir: ServiceDir) -> Path:
    """Debian 12's su, login-like and passwd services with common-* and other."""
    confdir = service_dir({})
    files = {
        **DEBIAN_COMMON,
        "su": DEBIAN_SU,
        "passwd": "@include common-password\n",
        "system-auth": FEDORA_SYSTEM_AUTH,
        "fedora-login": "auth       substack     system-auth\n"
        "account    include      system-auth\n"
        "password   include      system-auth\n"
        "session    include      system-auth\n"
        "session    optional     pam_keyinit.so force revoke\n"
        "session    required     pam_namespace.so\n"
        "session    optional     pam_umask.so silent\n"
        "session    optional     pam_motd.so motd=/run/motd.dynamic  "
        "motd_dir=/usr/share/very/long/directory/name/for/messages/of/the/day\n",
    }
    for name, text in absolute(files, confdir).items():
        (confdir / name).write_text(text)
    return confdir


@pytest.mark.parametrize("service", ["su", "passwd", "other", "fedora-login", "nosuch"])
def test_show_fits_80_columns(
    capsys: pytest.CaptureFixture[str], debian: Path, service: str
) -> None:
    code, out, _ = run(capsys, "show", "--confdir", str(debian), service)
    assert code == 0
    lines = out.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    rules = [ln for ln in lines if ln.startswith("  ")]
    assert not [ln for ln in rules if str(debian) in ln]  # short names, not the temp path
    code, wide, _ = run(capsys, "show", "--wide", "--confdir", str(debian), service)
    assert code == 0 and f"{debian}/" in wide  # nosuch: other's rules, full paths


def test_show_jumps_includes_and_other(capsys: pytest.CaptureFixture[str], debian: Path) -> None:
    _, out, _ = run(capsys, "show", "--confdir", str(debian), "su")
    lines = out.splitlines()
    # Debian's [success=1 default=ignore] pam_unix jumps over pam_deny to line 3
    assert any(
        "common-auth:1" in ln and ("success=→3" in ln or "success=->3" in ln) for ln in lines
    )
    assert "+ @include common-auth (su:6)" in out
    assert "other: auth (not used: 3 rules; su has its own)" in out
    assert "other: password" in out  # su has no password rules: other's are shown in full
    code, out, _ = run(capsys, "show", "--confdir", str(debian), "--width", "60", "fedora-login")
    assert code == 0 and "fedora-login" in out  # not an error with no lines to measure
    assert all(len(line) <= 60 for line in out.splitlines())


def test_show_marks_empty_and_failed_includes(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    confdir = service_dir({"inc": "auth required pam_permit.so\n"})
    (confdir / "svc").write_text(
        f"auth include {confdir}/inc\npassword include {confdir}/inc\n"
        "account include common-nothere\n"
    )
    _, out, _ = run(capsys, "show", "--confdir", str(confdir), "svc")
    assert "+ include inc (svc:2): no password rules" in out
    assert "(no password rules: no password rules are used)" in out
    flat = " ".join(out.split())
    assert (
        "ALWAYS FAILS: include common-nothere failed (/etc/pam.d/common-nothere was tried)" in flat
    )


def test_show_lint_services_escape_control_characters(
    capsys: pytest.CaptureFixture[str], service_dir: ServiceDir
) -> None:
    evil = "\x1b]52;c;aGk=\x07\x1b[2J"
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    (confdir / "svc").write_text(f"auth required pam_{evil}.so arg={evil}\n")
    (confdir / "x\x1b]0;pwned\x07").write_text("auth required pam_permit.so\n")
    for argv in (
        ["show", "--confdir", str(confdir), "svc"],
        ["show", "--wide", "--confdir", str(confdir), "svc"],
        ["show", "--confdir", str(confdir), f"s{evil}"],
        ["lint", "--confdir", str(confdir)],
        ["lint", "--confdir", str(confdir), f"s{evil}"],
        ["services", "--confdir", str(confdir)],
    ):
        code, out, err = run(capsys, *argv)
        assert code in (0, 1), argv
        assert "\x1b" not in out + err and "\x07" not in out + err, argv
        assert "\\x1b" in out, argv
