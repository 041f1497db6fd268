"""lint on real distributions' service files: no false alarms, and the findings they need.

Each test writes the files as the named distribution ships them (comments left out) into a
directory that plays /etc/pam.d (relative include names resolve there), then lints them with
this machine's modules (Debian 12: no pam_sss, no pam_pwquality).
"""

from __future__ import annotations

from pathlib import Path

from pamexplorer.stack.lint import lint, lint_services
from pamexplorer.stack.model import Finding
from pamexplorer.stack.resolve import Paths, resolve

DEBIAN_COMMON = {
    "common-auth": "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n"
    "auth\trequisite\t\t\tpam_deny.so\n"
    "auth\trequired\t\t\tpam_permit.so\n",
    "common-account": "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\n"
    "account\trequisite\t\t\tpam_deny.so\n"
    "account\trequired\t\t\tpam_permit.so\n",
    "common-password": "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\n"
    "password\trequisite\t\t\tpam_deny.so\n"
    "password\trequired\t\t\tpam_permit.so\n",
    "common-session": "session\t[default=1]\t\t\tpam_permit.so\n"
    "session\trequisite\t\t\tpam_deny.so\n"
    "session\trequired\t\t\tpam_permit.so\n"
    "session\trequired\tpam_unix.so\n"
    "session\toptional\tpam_systemd.so\n",
    "common-session-noninteractive": "session\t[default=1]\t\t\tpam_permit.so\n"
    "session\trequisite\t\t\tpam_deny.so\n"
    "session\trequired\t\t\tpam_permit.so\n"
    "session\trequired\tpam_unix.so\n",
    "other": "@include common-auth\n@include common-account\n"
    "@include common-password\n@include common-session\n",
}
DEBIAN_SU = (
    "auth       sufficient pam_rootok.so\n"
    "session       required   pam_env.so readenv=1\n"
    "session       required   pam_env.so readenv=1 envfile=/etc/default/locale\n"
    "session    optional   pam_mail.so nopen\n"
    "session    required   pam_limits.so\n"
    "@include common-auth\n@include common-account\n@include common-session\n"
)
FEDORA_SYSTEM_AUTH = """\
auth        required                                     pam_env.so
auth        required                                     pam_faildelay.so delay=2000000
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        [default=1 ignore=ignore success=ok]         pam_localuser.so
auth        sufficient                                   pam_unix.so nullok
auth        [default=1 ignore=ignore success=ok]         pam_usertype.so isregular
auth        sufficient                                   pam_sss.so forward_pass
auth        required                                     pam_deny.so

account     required                                     pam_unix.so
account     sufficient                                   pam_localuser.so
account     sufficient                                   pam_usertype.so issystem
account     [default=bad success=ok user_unknown=ignore] pam_sss.so
account     required                                     pam_permit.so

password    requisite                                    pam_pwquality.so
password    sufficient                       pam_unix.so yescrypt shadow nullok use_authtok
password    [success=1 default=ignore]                   pam_localuser.so
password    sufficient                                   pam_sss.so use_authtok
password    required                                     pam_deny.so

session     optional                                     pam_keyinit.so revoke
session     required                                     pam_limits.so
-session    optional                                     pam_systemd.so
session     [success=1 default=ignore]     pam_succeed_if.so service in crond quiet use_uid
session     required                                     pam_unix.so
session     optional                                     pam_sss.so
"""
ARCH_SYSTEM_AUTH = """\
auth       required                    pam_faillock.so      preauth
-auth      [success=2 default=ignore]  pam_systemd_home.so
auth       [success=1 default=bad]     pam_unix.so          try_first_pass nullok
auth       [default=die]               pam_faillock.so      authfail
auth       optional                    pam_permit.so
auth       required                    pam_env.so
auth       required                    pam_faillock.so      authsucc

-account   [success=1 default=ignore]  pam_systemd_home.so
account    required                    pam_unix.so
account    optional                    pam_permit.so
account    required                    pam_time.so

-password  [success=1 default=ignore]  pam_systemd_home.so
password   required                    pam_unix.so          try_first_pass nullok shadow
password   optional                    pam_permit.so

-session   optional                    pam_systemd_home.so
session    required                    pam_limits.so
session    required                    pam_unix.so
session    optional                    pam_permit.so
"""
ARCH_SYSTEM_LOGIN = """\
auth       required   pam_shells.so
auth       requisite  pam_nologin.so
auth       include    system-auth

account    required   pam_access.so
account    required   pam_nologin.so
account    include    system-auth

password   include    system-auth

session    optional   pam_loginuid.so
session    optional   pam_keyinit.so       force revoke
session    include    system-auth
session    optional   pam_motd.so
session    optional   pam_mail.so          dir=/var/spool/mail standard quiet
session    optional   pam_umask.so
-session   optional   pam_systemd.so
session    required   pam_env.so
"""


def distro(tmp_path: Path, files: dict[str, str]) -> Paths:
    pam_d = tmp_path / "pam.d"
    pam_d.mkdir()
    for name, text in files.items():
        (pam_d / name).write_text(text)
    return Paths(pam_d=str(pam_d), dist_d=str(tmp_path / "none"), pam_conf=str(tmp_path / "x"))


def lint_of(paths: Paths, *services: str) -> list[Finding]:
    return lint_services(resolve(name, None, paths) for name in services)


def named(found: list[Finding], words: str, severity: str | None = None) -> list[Finding]:
    return [f for f in found if words in f.text and (severity is None or f.severity == severity)]


def test_debian_su_other_and_passwd_have_no_false_alarms(tmp_path: Path) -> None:
    """Debian 12 su, passwd, other and common-*: only notes (exit 0 for `lint`)."""
    paths = distro(
        tmp_path, {**DEBIAN_COMMON, "su": DEBIAN_SU, "passwd": "@include common-password\n"}
    )
    found = lint_of(paths, "su", "passwd", "other", "common-auth")
    assert not [f for f in found if f.severity != "info" and "nullok" not in f.message], found
    # the session idiom's pam_deny is unreachable in every service: one note naming them all
    deny = named(found, "no path reaches this session rule (pam_deny.so)")
    assert len(deny) == 1
    assert set(deny[0].services) == {"su", "other", "passwd", "common-auth"}  # passwd: other's
    assert "in services " in deny[0].text


def test_second_copy_of_other_is_not_reported(tmp_path: Path) -> None:
    """libpam reads other twice for the service other; a rule whose first copy runs is
    reachable even when its second copy never runs ([default=die] as in Arch's
    system-auth)."""
    paths = distro(
        tmp_path,
        {
            "other": "auth [success=done default=die] pam_unix.so\n"
            "account required pam_unix.so\npassword required pam_unix.so\n"
            "session required pam_unix.so\n"
        },
    )
    stack = resolve("other", None, paths)
    assert len(stack.other_chain("auth")) == 2  # the second copy is there
    assert not named(lint(stack), "no path reaches")


def test_unreachable_names_the_service(tmp_path: Path) -> None:
    """Debian 12 common-auth used by a service whose own rule ends the stack first: the
    finding on common-auth names that service, not common-auth."""
    paths = distro(
        tmp_path,
        {
            **DEBIAN_COMMON,
            "lockdown": "auth requisite pam_deny.so\n@include common-auth\n",
        },
    )
    found = lint_of(paths, "lockdown", "common-auth")
    hit = named(found, "no path reaches this auth rule (pam_unix.so)")
    assert len(hit) == 1 and hit[0].services == ("lockdown",)
    assert str(hit[0]).endswith("in service lockdown")


def test_rootok_where_upstream_ships_it(tmp_path: Path) -> None:
    """Fedora's shadow-utils chpasswd and newusers, Debian 12's su: sufficient pam_rootok is
    the design there (pam_rootok checks the real uid); in sshd it lets everyone in."""
    chpasswd = (
        "auth       sufficient   pam_rootok.so\n"
        "account    required     pam_permit.so\n"
        "password   include      system-auth\n"
    )
    paths = distro(
        tmp_path,
        {
            "system-auth": FEDORA_SYSTEM_AUTH,
            **DEBIAN_COMMON,
            "chpasswd": chpasswd,
            "newusers": chpasswd,
            "su": DEBIAN_SU,
            "sshd": "auth sufficient pam_rootok.so\n@include common-auth\n",
            "myapp": "auth sufficient pam_rootok.so\n@include common-auth\n",
        },
    )
    quiet = lint_of(paths, "chpasswd", "newusers", "su")
    assert not named(quiet, "pam_rootok")
    assert named(lint_of(paths, "sshd"), "pam_rootok sufficient in sshd", "warning")
    assert named(lint_of(paths, "myapp"), "pam_rootok sufficient in myapp", "info")


def test_types_a_service_never_calls_are_a_note(tmp_path: Path) -> None:
    """Debian 12 systemd-user (account and session only) with no other file."""
    common = {k: v for k, v in DEBIAN_COMMON.items() if k != "other"}
    paths = distro(
        tmp_path,
        {
            **common,
            "systemd-user": "@include common-account\n"
            "session  required pam_selinux.so close\n"
            "session  required pam_selinux.so nosetexeccontext open\n"
            "session optional pam_keyinit.so force revoke\n"
            "@include common-session\n",
        },
    )
    found = lint_of(paths, "systemd-user")
    missing = named(found, "has no auth rules and no other auth rules")
    assert missing and all(f.severity == "info" for f in named(found, "has no "))


def test_missing_module_reported_once_not_as_a_cascade(tmp_path: Path) -> None:
    """Fedora's system-auth (authselect sssd profile) on a machine without pam_pwquality:
    its requisite failure hides the four password rules after it; one finding says so."""
    paths = distro(tmp_path, {"system-auth": FEDORA_SYSTEM_AUTH, "passwd": ""})
    (Path(paths.pam_d) / "passwd").write_text("password substack system-auth\n")
    found = lint_of(paths, "passwd")
    assert not named(found, "no path reaches this password rule")
    cause = named(found, "never run", "warning")
    assert len(cause) == 1 and cause[0].line == 16 and "pam_pwquality.so" in cause[0].message
    assert "4 later password rules" in cause[0].message
    assert named(found, "pam_pwquality.so not found", "error")


def test_sufficient_permit_after_required_deny_is_not_flagged(tmp_path: Path) -> None:
    """openSUSE's other (pam_warn, then required pam_deny) with a sufficient pam_permit
    added after it: the stack has already failed when pam_permit runs."""
    base = "auth     required       pam_warn.so\nauth     required       pam_deny.so\n"
    paths = distro(
        tmp_path,
        {
            "other": base + "auth     sufficient     pam_permit.so\n",
            "open": "auth     required       pam_warn.so\nauth sufficient pam_permit.so\n",
        },
    )
    assert not named(lint_of(paths, "other"), "lets anyone authenticate")
    assert named(lint_of(paths, "open"), "lets anyone authenticate", "warning")


def test_include_that_adds_no_rules(tmp_path: Path) -> None:
    """Debian 12 su-l includes su for password, but su has no password lines: the call
    falls back to other (a note); without an other file, nothing answers (a warning)."""
    su_l = (
        "auth\t\tinclude\t\tsu\naccount\t\tinclude\t\tsu\npassword\tinclude\t\tsu\n"
        "session\t\toptional\tpam_keyinit.so force revoke\nsession\t\tinclude\t\tsu\n"
    )
    paths = distro(tmp_path, {**DEBIAN_COMMON, "su": DEBIAN_SU, "su-l": su_l})
    found = named(lint_of(paths, "su-l"), "include su adds no password rules")
    assert len(found) == 1 and found[0].severity == "info" and found[0].line == 3
    assert "use other's rules" in found[0].message
    (Path(paths.pam_d) / "other").unlink()
    found = named(lint_of(paths, "su-l"), "include su adds no password rules")
    assert len(found) == 1 and found[0].severity == "warning"


def test_same_module_twice_through_two_includes(tmp_path: Path) -> None:
    """Debian 12 common-session and common-session-noninteractive both included by one
    service: pam_unix's session runs twice."""
    paths = distro(
        tmp_path,
        {
            **DEBIAN_COMMON,
            "cron": "account include common-account\n"
            "session include common-session\n"
            "session include common-session-noninteractive\n",
        },
    )
    twice = named(lint_of(paths, "cron"), "pam_unix.so runs twice", "warning")
    assert len(twice) == 1
    assert "common-session (cron:2)" in twice[0].message
    assert "common-session-noninteractive (cron:3)" in twice[0].message
    assert not named(lint_of(paths, "other"), "runs twice")  # other's second copy is not


def test_deciding_required_permit(tmp_path: Path) -> None:
    """Debian 12 common-auth uses pam_permit as the deciding rule only after pam_unix
    succeeded (the jump): fine. Arch's system-auth: fine. The same common-auth with pam_unix
    made optional lets pam_permit decide after pam_unix failed."""
    weak = DEBIAN_COMMON["common-auth"].replace("[success=1 default=ignore]", "optional")
    weak = weak.replace("auth\trequisite\t\t\tpam_deny.so\n", "")
    paths = distro(
        tmp_path,
        {
            **DEBIAN_COMMON,
            "system-auth": ARCH_SYSTEM_AUTH,
            "system-login": ARCH_SYSTEM_LOGIN,
            "weak": weak,
        },
    )
    assert not named(lint_of(paths, "common-auth", "system-login"), "decides")
    hit = named(lint_of(paths, "weak"), "pam_permit.so decides this auth stack", "warning")
    assert len(hit) == 1 and hit[0].line == 2


def test_obsolete_pam_stack(tmp_path: Path) -> None:
    """RHEL 4's /etc/pam.d/login used pam_stack.so, removed from Linux-PAM long ago."""
    paths = distro(
        tmp_path,
        {
            "login": "auth       required     pam_securetty.so\n"
            "auth       required     pam_stack.so service=system-auth\n"
            "auth       required     pam_nologin.so\n"
            "account    required     pam_stack.so service=system-auth\n"
        },
    )
    found = named(lint_of(paths, "login"), "pam_stack.so is obsolete", "error")
    assert [f.line for f in found] == [2, 4]
    assert "auth include system-auth" in found[0].message
    assert not named(lint_of(paths, "login"), "module pam_stack.so not found")


def test_pam_conf_syntax_in_a_pam_d_file(tmp_path: Path) -> None:
    """The pam.conf(5) example line `login auth required pam_unix.so` pasted into
    /etc/pam.d/login: the service name goes first only in /etc/pam.conf."""
    paths = distro(tmp_path, {"login": "login auth required pam_unix.so\n"})
    found = named(lint_of(paths, "login"), "pam.conf syntax", "error")
    assert len(found) == 1 and "'login' must go" in found[0].message
