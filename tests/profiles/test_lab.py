"""The bundled lab: private, complete, removed afterwards, and really checking passwords."""

from __future__ import annotations

import os
import stat

from pamexplorer.lab import PLACEHOLDER, lab_confdir, lab_services, lab_users
from pamexplorer.profile import loads
from pamexplorer.runner import run_profile


def test_lab_is_private_and_removed() -> None:
    with lab_confdir() as confdir:
        root = confdir.parent
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        assert sorted(p.name for p in confdir.iterdir()) == lab_services()
        for path in root.rglob("*"):
            if path.is_file():
                assert PLACEHOLDER not in path.read_text(), path
                assert not path.stat().st_mode & 0o077, path
        assert os.access(root / "checkpass", os.X_OK)
        assert str(root) in (confdir / "lab-login").read_text()
    assert not root.exists()


def test_every_lab_user_logs_in_and_a_wrong_password_fails() -> None:
    for user, password in lab_users().items():
        text = f"""
service: lab-login
config: lab
user: {user}
answers:
  - answer: "not-{password}"
  - answer: "{password}"
steps:
  - authenticate: {{expect: PAM_AUTH_ERR}}
  - authenticate
"""
        result = run_profile(loads(text, "lab-user.yaml"))
        assert result.status == "passed", [(s.step, s.name) for s in result.steps]


def test_another_users_password_is_refused() -> None:
    users = lab_users()
    text = f"""
service: lab-login
config: lab
user: alice
answers: [{{answer: "{users["bob"]}"}}]
steps:
  - authenticate: {{expect: PAM_AUTH_ERR}}
"""
    assert run_profile(loads(text, "x.yaml")).status == "passed"
