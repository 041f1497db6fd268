"""The motivating case: why does sshd refuse a user whose account expired?

Debian's common-account runs pam_unix with ``[success=1 new_authtok_reqd=done default=ignore]``
then ``requisite pam_deny.so``: the call returns PAM_AUTH_ERR, which looks like a wrong
password. The trace says pam_unix returned PAM_ACCT_EXPIRED, logged why, and pam_deny decided.

The accounts are real to pam_unix: as root, a private mount namespace (``unshare --mount``)
binds a passwd and a shadow file of the test's own over /etc/passwd and /etc/shadow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ServiceDir = Callable[[dict[str, str]], Path]
ROOT = Path(__file__).resolve().parent.parent.parent

COMMON_ACCOUNT = (
    "account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n"
    "account requisite pam_deny.so\n"
    "account required pam_permit.so\n"
)
COMMON_AUTH = (
    "auth [success=1 default=ignore] pam_unix.so nullok\n"
    "auth requisite pam_deny.so\n"
    "auth required pam_permit.so\n"
)
# Some SHA-512 crypt hash (no password the test types matches it); "!" in front locks it.
HASH = "$6$saltsalt$" + "q" * 86

SCRIPT = textwrap.dedent(
    r"""
    import json, os, subprocess, sys
    confdir, passwd, shadow = sys.argv[1:4]
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True)
    run("mount", "--make-rprivate", "/")
    run("mount", "--bind", passwd, "/etc/passwd")
    run("mount", "--bind", shadow, "/etc/shadow")

    from pamexplorer.engine.tracer import TracedTransaction
    from pamexplorer.pam.codes import Function

    class Answer:
        def respond(self, messages):
            return ["wonderland" if m.style.is_prompt else None for m in messages]

    out = {}
    for user in ("expired", "locked"):
        txn = TracedTransaction("svc", user, confdir=confdir, conversation=Answer())
        txn.start()
        calls = [txn.call(Function.AUTHENTICATE), txn.call(Function.ACCT_MGMT)]
        txn.end()
        out[user] = [[c.code, c.trace.to_dict()] for c in calls]
    print(json.dumps(out))
    """
)


def test_an_expired_and_a_locked_account_say_why(service_dir: ServiceDir, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    confdir = service_dir({"svc": COMMON_AUTH + COMMON_ACCOUNT})
    passwd = tmp_path / "passwd"
    passwd.write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "expired:x:4001:4001::/nonexistent:/bin/sh\n"
        "locked:x:4002:4002::/nonexistent:/bin/sh\n"
    )
    shadow = tmp_path / "shadow"
    shadow.write_text(
        "root:*:19000:0:99999:7:::\n"
        f"expired:{HASH}:19000:0:99999:7::1:\n"  # the account expired on 2 Jan 1970
        f"locked:!{HASH}:19000:0:99999:7:::\n"
    )
    shadow.chmod(0o640)
    script = tmp_path / "accounts.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        ["unshare", "--mount", sys.executable, str(script), str(confdir), str(passwd), str(shadow)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "unshare" in done.stderr and "not permitted" in done.stderr:
        pytest.skip(f"unshare refused here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    (auth_code, auth), (acct_code, acct) = out["expired"]
    assert acct_code == 7  # PAM_AUTH_ERR, as a wrong password would
    unix, deny, permit = acct["modules"]
    assert (unix["code"], unix["name"], unix["action"]) == (13, "PAM_ACCT_EXPIRED", "ignore")
    assert any("account expired has expired" in line["text"] for line in unix["log"])
    assert (deny["line"], deny["code"], deny["action"]) == (5, 7, "die")
    assert permit["ran"] is False and "ended the stack" in permit["skip"]
    assert acct["decided_by_text"] == "svc:5 pam_deny.so (die)"
    assert acct["disagreement"] == ""

    (auth_code, auth), (acct_code, acct) = out["locked"]
    assert auth_code == 7
    unix, deny, _permit = auth["modules"]
    assert (unix["code"], unix["action"]) == (7, "ignore") and deny["action"] == "die"
    assert any("authentication failure" in line["text"] for line in unix["log"])
    assert acct_code == 0  # pam_unix's account check does not look at the lock
