"""Items, the PAM environment and fail delays, through the real libpam."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.pam.codes import SETTABLE_ITEMS, Code, Item
from pamexplorer.pam.conversation import Message, NoConversation
from pamexplorer.pam.transaction import Transaction, TransactionError

ServiceDir = Callable[[dict[str, str]], Path]
ModuleFactory = Callable[[str, str], Path]

# rhost is an address, not a name: libpam's audit record resolves a name with DNS on every call.
ITEM_VALUES = {
    "tty": "pts/7",
    "rhost": "192.0.2.10",
    "ruser": "remote-rita",
    "xdisplay": ":3",
    "user_prompt": "Who goes there? ",
    "authtok_type": "UNIX",
    "user": "alice",
}

# Sets PAM_USER to argv[0] during authenticate.
SET_USER = r"""
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    if (argc < 1) return 4;
    return pam_set_item(pamh, PAM_USER, argv[0]);
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh; (void)flags; (void)argc; (void)argv;
    return PAM_SUCCESS;
}
"""

# Puts each argument into the PAM environment during open_session.
PUTENV = r"""
PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    for (int i = 0; i < argc; i++) {
        int rc = pam_putenv(pamh, argv[i]);
        if (rc != PAM_SUCCESS) return rc;
    }
    return PAM_SUCCESS;
}
"""


def test_items_given_at_start_are_read_back(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    values = {k: v for k, v in ITEM_VALUES.items() if k != "user"}
    txn = Transaction("svc", "alice", confdir=str(confdir), items=values)
    start = txn.start()
    try:
        for name, value in values.items():
            assert start.items[name] == value
            assert txn.get_item(name) == value
        assert start.items["service"] == "svc"
        record = txn.authenticate()
        assert {k: record.items[k] for k in values} == values
    finally:
        txn.end()


@pytest.mark.parametrize("item", SETTABLE_ITEMS, ids=lambda i: i.short)
def test_each_settable_item_set_and_read(service_dir: ServiceDir, item: Item) -> None:
    confdir = service_dir({"svc": "account required pam_permit.so\n"})
    with Transaction("svc", "nobody-yet", confdir=str(confdir)) as txn:
        value = ITEM_VALUES[item.short] + "-changed"
        assert txn.set_item(item.short, value) == Code.PAM_SUCCESS
        assert txn.get_item(item) == value
        assert txn.get_item(item.name) == value
        assert txn.acct_mgmt().items[item.short] == value


def test_items_that_cannot_be_set_or_read(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        for name in ("service", "authtok", "conv", "fail_delay"):
            with pytest.raises(TransactionError):
                txn.set_item(name, "x")
        for name in ("authtok", "oldauthtok", "xauthdata"):
            with pytest.raises(TransactionError):
                txn.get_item(name)


def test_items_reach_modules(service_dir: ServiceDir) -> None:
    rules = (
        "auth requisite pam_succeed_if.so quiet tty = pts/7\n"
        "auth requisite pam_succeed_if.so quiet rhost = 192.0.2.10\n"
        "auth requisite pam_succeed_if.so quiet ruser = remote-rita\n"
        "auth required pam_permit.so\n"
    )
    confdir = service_dir({"svc": rules})
    items = {k: ITEM_VALUES[k] for k in ("tty", "rhost", "ruser")}
    with Transaction("svc", "alice", confdir=str(confdir), items=items) as txn:
        assert txn.authenticate().code == Code.PAM_SUCCESS
        txn.set_item("rhost", "192.0.2.99")
        assert txn.authenticate().code == Code.PAM_AUTH_ERR


def test_user_prompt_used_when_no_user_given(service_dir: ServiceDir) -> None:
    class Answer:
        def __init__(self) -> None:
            self.prompts: list[str] = []

        def respond(self, messages: Sequence[Message]) -> list[str | None]:
            self.prompts.extend(m.text for m in messages)
            return ["carol"]

    confdir = service_dir({"svc": "auth required pam_succeed_if.so quiet user = carol\n"})
    conv = Answer()
    items = {"user_prompt": "Who goes there? "}
    with Transaction("svc", None, confdir=str(confdir), conversation=conv, items=items) as txn:
        record = txn.authenticate()
    assert record.code == Code.PAM_SUCCESS
    assert conv.prompts == ["Who goes there? "]
    assert record.items["user"] == "carol"
    assert [(m.text, m.answer) for m in record.messages] == [("Who goes there? ", "carol")]


def test_module_changing_pam_user_shows_in_the_record(
    service_dir: ServiceDir, c_module: ModuleFactory
) -> None:
    module = c_module("setuser", SET_USER)
    confdir = service_dir({"svc": f"auth required {module} mallory\n"})
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        assert txn.get_item("user") == "alice"
        record = txn.authenticate()
        assert record.code == Code.PAM_SUCCESS
        assert record.items["user"] == "mallory"
        assert txn.setcred().items["user"] == "mallory"


# -- PAM environment ----------------------------------------------------------------------------


def test_env_given_at_start_and_putenv(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "session required pam_permit.so\n"})
    env = {"GREETING": "hello world", "EMPTY": ""}
    txn = Transaction("svc", "alice", confdir=str(confdir), env=env)
    assert txn.start().env == env
    try:
        assert txn.putenv("LANG=C.UTF-8") == Code.PAM_SUCCESS
        assert txn.getenv() == {**env, "LANG": "C.UTF-8"}
        assert txn.putenv("GREETING") == Code.PAM_SUCCESS  # a bare name deletes
        assert txn.putenv("NEVER_SET") == Code.PAM_BAD_ITEM
        assert txn.open_session().env == {"EMPTY": "", "LANG": "C.UTF-8"}
    finally:
        txn.end()


def test_module_putenv_seen_after_the_call(
    service_dir: ServiceDir, c_module: ModuleFactory
) -> None:
    module = c_module("putenv", PUTENV)
    confdir = service_dir({"svc": f"session required {module} FROM_MODULE=yes ODD=a=b=c\n"})
    with Transaction("svc", "alice", confdir=str(confdir), env={"ODD": "before"}) as txn:
        record = txn.open_session()
    assert record.code == Code.PAM_SUCCESS
    assert record.env == {"ODD": "a=b=c", "FROM_MODULE": "yes"}


def test_pam_env_conffile_and_envfile(service_dir: ServiceDir, tmp_path: Path) -> None:
    conffile = tmp_path / "pam_env.conf"
    conffile.write_text(
        "PE_DEFAULTED DEFAULT=from-conffile\n"
        "PE_USER DEFAULT=@{PAM_USER}-home\n"
        "PE_OVERRIDDEN DEFAULT=ignored OVERRIDE=from-override\n"
    )
    envfile = tmp_path / "environment"
    envfile.write_text("PE_PLAIN=from-envfile\n# a comment\nexport PE_EXPORTED=yes\n")
    rule = f"required pam_env.so conffile={conffile} envfile={envfile} readenv=1 user_readenv=0"
    confdir = service_dir({"svc": f"auth {rule}\nsession {rule}\n"})
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        assert txn.getenv() == {}
        record = txn.open_session()
    assert record.code == Code.PAM_SUCCESS
    assert record.env == {
        "PE_DEFAULTED": "from-conffile",
        "PE_USER": "alice-home",
        "PE_OVERRIDDEN": "from-override",
        "PE_PLAIN": "from-envfile",
        "PE_EXPORTED": "yes",
    }


# -- fail delay ---------------------------------------------------------------------------------


def test_fail_delay_reported_not_slept(service_dir: ServiceDir) -> None:
    asked = 30_000_000  # 30 s: if libpam slept instead of calling back, this test would show it
    confdir = service_dir(
        {
            "svc": f"auth optional pam_faildelay.so delay={asked}\n"
            "auth required pam_deny.so\n"
            "account required pam_permit.so\n"
        }
    )
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        record = txn.authenticate()
        assert record.code == Code.PAM_AUTH_ERR
        # libpam randomizes the delay it computes around the request (at most +-50 %).
        assert record.fail_delay_us is not None
        assert asked // 2 <= record.fail_delay_us <= asked * 3 // 2
        assert record.duration_ms < asked / 1000 / 2
        assert record.to_dict()["fail_delay_us"] == record.fail_delay_us
        # A call whose modules ask for nothing reports no delay.
        assert txn.acct_mgmt().fail_delay_us is None


def test_largest_fail_delay_wins(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {
            "svc": "auth optional pam_faildelay.so delay=100000\n"
            "auth optional pam_faildelay.so delay=4000000\n"
            "auth optional pam_faildelay.so delay=200000\n"
            "auth required pam_deny.so\n"
        }
    )
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        delay = txn.authenticate().fail_delay_us
    assert delay is not None and 2_000_000 <= delay <= 6_000_000


def test_no_stale_fail_delay_from_an_earlier_call(service_dir: ServiceDir) -> None:
    confdir = service_dir(
        {
            "svc": "auth optional pam_faildelay.so delay=2000000\n"
            "auth required pam_deny.so\n"
            "password required pam_deny.so\n"
        }
    )
    with Transaction("svc", "alice", confdir=str(confdir)) as txn:
        first = txn.authenticate().fail_delay_us
        assert first is not None and first >= 1_000_000
        # No module in the password stack asks for a delay.
        later = txn.chauthtok()
    assert later.code == Code.PAM_AUTHTOK_ERR
    assert later.fail_delay_us is None


def test_no_fail_delay_without_pam_faildelay(service_dir: ServiceDir) -> None:
    confdir = service_dir({"svc": "auth required pam_deny.so\n"})
    with Transaction("svc", "alice", confdir=str(confdir), conversation=NoConversation()) as txn:
        assert txn.authenticate().fail_delay_us is None


def test_records_keep_items_and_env_from_right_after_their_call(service_dir: ServiceDir) -> None:
    """Snapshots are read lazily, but always show the state right after their own call."""
    import copy
    import dataclasses
    import json
    import pickle

    confdir = service_dir({"svc": "account required pam_permit.so\n"})
    with Transaction("svc", "alice", confdir=str(confdir), env={"A": "1"}) as txn:
        first = txn.acct_mgmt()
        looked_at = txn.acct_mgmt()
        assert looked_at.items["user"] == "alice"  # read before anything changed
        txn.set_item("user", "bob")
        txn.putenv("A=2")
        second = txn.acct_mgmt()
        txn.set_item("tty", "pts/0")
        txn.putenv("B=3")
        third = txn.acct_mgmt()
    # Read only now, after pam_end: each still shows its own moment.
    assert first.items["user"] == "alice" and first.env == {"A": "1"}
    assert looked_at.env == {"A": "1"}
    assert second.items["user"] == "bob" and second.items["tty"] is None
    assert second.env == {"A": "2"}
    assert third.items["tty"] == "pts/0" and dict(third.env) == {"A": "2", "B": "3"}
    # They behave as plain dicts everywhere a record goes.
    assert json.loads(json.dumps(first.to_dict()))["items"]["user"] == "alice"
    assert json.loads(json.dumps(second.env)) == {"A": "2"}
    assert type(copy.copy(second.env)) is dict and copy.deepcopy(second.env) == {"A": "2"}
    assert pickle.loads(pickle.dumps(second.items))["user"] == "bob"
    assert dataclasses.asdict(third)["env"] == {"A": "2", "B": "3"}
    assert {**third.env} == {"A": "2", "B": "3"} and third.env | {"C": "4"} == {
        "A": "2",
        "B": "3",
        "C": "4",
    }
    assert "user" in first.items and len(first.items) == len(third.items)
    assert sorted(third.env.items()) == [("A", "2"), ("B", "3")]
    assert repr(first.env) == "{'A': '1'}"
