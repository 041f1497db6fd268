"""The command line parser: a one-shot command builds and imports only its own subcommand
(issue 11 §5), and every path still parses, helps and fails as the full parser does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pamexplorer.cli import COMMANDS, build_parser, named_command
from tests.cli.conftest import cli_env, run_cli


def choices(parser) -> set[str]:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return set(sub.choices)


def test_the_command_map_names_what_each_module_registers() -> None:
    assert choices(build_parser()) == set(COMMANDS)
    for command in COMMANDS:
        assert command in choices(build_parser(command))
    assert choices(build_parser("call")) == {"call", "screenshots"}  # app's is always there


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["call", "login", "alice", "authenticate"], "call"),
        (["--lab", "call", "lab-login", "alice", "authenticate"], "call"),
        (["--user", "run", "call", "x", "y", "z"], "call"),  # an option's value is no command
        (["--confdir", "codes", "show", "x"], "show"),
        (["--help", "call"], None),
        (["-h"], None),
        (["--version"], None),
        ([], None),
        (["--service", "sshd"], None),
        (["nonsense", "call"], None),
    ],
)
def test_named_command(argv: list[str], command: str | None) -> None:
    assert named_command(argv) == command


PROBE = """
import json, sys
from pamexplorer.cli import main
status = main(sys.argv[1:])
sys.stdout.flush()
loaded = sorted(m for m in sys.modules if m.startswith(("pamexplorer", "textual", "yaml")))
inspect = type(sys.modules.get("inspect")).__name__
print(json.dumps({"status": status, "modules": loaded, "inspect": inspect}), file=sys.stderr)
"""


def probe(*argv: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_a_one_shot_call_imports_only_what_it_needs(service_dir) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    seen = probe("call", "--confdir", str(confdir), "svc", "alice", "authenticate")
    assert seen["status"] == 0
    modules = set(seen["modules"])
    assert "pamexplorer.cli.call" in modules
    unwanted = {
        m
        for m in modules
        if m.startswith(("pamexplorer.cli.config", "pamexplorer.cli.run", "pamexplorer.stack"))
        or m.startswith(("pamexplorer.profile", "pamexplorer.runner", "pamexplorer.tui"))
        or m.startswith(("textual", "yaml", "pamexplorer.pam.libpam", "pamexplorer.report"))
    }
    assert unwanted == set()
    # dataclasses did not need it: every dataclass on this path has a docstring
    assert seen["inspect"] == "_DeferredModule", "a dataclass without a docstring loads inspect"


def test_a_service_without_a_file_loads_the_resolver_for_that_check_only(service_dir) -> None:
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    seen = probe("call", "--confdir", str(confdir), "nofile", "alice", "authenticate")
    assert seen["status"] == 0
    assert "pamexplorer.stack.resolve" in seen["modules"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["call"], "the following arguments are required: SERVICE, USER, OPERATION"),
        (["call", "--bogus", "s", "u", "authenticate"], "unrecognized arguments: --bogus"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["codes", "7", "8"], "unrecognized arguments: 8"),
    ],
)
def test_errors_come_from_the_full_parser(argv: list[str], needle: str) -> None:
    done = run_cli(*argv)
    assert done.returncode == 2
    assert needle in done.stderr and len(done.stderr.strip().splitlines()) == 1
    if argv == ["nosuch"]:
        for command in COMMANDS:
            assert command in done.stderr  # the full parser lists every command


def test_help_of_one_command_and_of_all() -> None:
    top = run_cli("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in COMMANDS)
    call = run_cli("call", "--help")
    assert call.returncode == 0 and "OPERATION" in call.stdout and "examples:" in call.stdout
    codes = run_cli("codes", "--help")
    assert codes.returncode == 0 and "CODE" in codes.stdout
