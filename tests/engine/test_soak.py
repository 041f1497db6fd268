"""10,000 transactions without growth in file descriptors or memory.

Most run in-process through ``Transaction`` (fast; this is where a ctypes leak would show), a
substantial share through the engine (fork server and client side: sockets, pipes, exit
bookkeeping). Runs in CI; ``-m 'not soak'`` skips it locally.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pamexplorer.engine import Engine
from pamexplorer.engine.client import fork_server
from pamexplorer.pam.codes import Code, Function
from pamexplorer.pam.conversation import Message
from pamexplorer.pam.transaction import Transaction

ServiceDir = Callable[[dict[str, str]], Path]

IN_PROCESS = 7_000
THROUGH_ENGINE = 3_000
WARM_UP = 300
MAX_RSS_GROWTH_KB = 10 * 1024


class Password:
    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        return ["pw" if m.style.is_prompt else None for m in messages]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def soak_service(service_dir: ServiceDir, password_module: Path, tmp_path: Path) -> Path:
    envfile = tmp_path / "environment"
    envfile.write_text("SOAK_A=1\nSOAK_B=two\n")
    return service_dir(
        {
            "svc": f"auth required {password_module} pw\n"
            "auth optional pam_faildelay.so delay=1000\n"
            "account required pam_permit.so\n"
            f"session required pam_env.so conffile=/dev/null envfile={envfile}\n"
            "session optional pam_echo.so hello %u\n"
            "password required pam_deny.so\n"
        }
    )


def in_process(confdir: Path, count: int) -> None:
    for i in range(count):
        items = {"tty": f"pts/{i % 7}", "rhost": "192.0.2.1"}
        with Transaction(
            "svc",
            "alice",
            confdir=str(confdir),
            conversation=Password(),
            items=items,
            env={"N": str(i)},
        ) as txn:
            assert txn.authenticate().code == Code.PAM_SUCCESS
            assert txn.acct_mgmt().ok
            record = txn.open_session()
            assert record.env["SOAK_B"] == "two" and record.env["N"] == str(i)
            txn.close_session()
            if i % 10 == 0:
                assert txn.chauthtok().code == Code.PAM_AUTHTOK_ERR
        if i % 50 == 0:  # pam_start failures free everything too
            assert Transaction("missing", "x", confdir=str(confdir)).start().code == 26


def through_engine(engine: Engine, confdir: Path, count: int) -> None:
    for i in range(count):
        with engine.start(
            "svc", "alice", confdir=str(confdir), conversation=Password(), items={"tty": "t"}
        ) as session:
            assert session.call(Function.AUTHENTICATE).code == Code.PAM_SUCCESS
            if i % 5 == 0:
                assert session.call(Function.OPEN_SESSION).env["SOAK_A"] == "1"


@pytest.mark.soak
def test_ten_thousand_transactions_without_leaks(soak_service: Path) -> None:
    assert IN_PROCESS + THROUGH_ENGINE == 10_000
    Engine.prestart()
    engine = Engine(timeout=30)
    server = fork_server()
    in_process(soak_service, WARM_UP)
    through_engine(engine, soak_service, WARM_UP)

    me = os.getpid()
    before = {
        "fds": fd_count(me),
        "server_fds": fd_count(server.process.pid),
        "rss": rss_kb(me),
        "server_rss": rss_kb(server.process.pid),
    }
    in_process(soak_service, IN_PROCESS)
    through_engine(engine, soak_service, THROUGH_ENGINE)
    after = {
        "fds": fd_count(me),
        "server_fds": fd_count(server.process.pid),
        "rss": rss_kb(me),
        "server_rss": rss_kb(server.process.pid),
    }

    assert fork_server() is server  # the same fork server served them all
    assert after["fds"] <= before["fds"], (before, after)
    assert after["server_fds"] <= before["server_fds"], (before, after)
    assert after["rss"] - before["rss"] < MAX_RSS_GROWTH_KB, (before, after)
    assert after["server_rss"] - before["server_rss"] < MAX_RSS_GROWTH_KB, (before, after)
    # Exit bookkeeping for ended sessions does not pile up in the client.
    assert len(server.exits) + len(server.forgotten) < 10
