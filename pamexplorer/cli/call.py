"""``pamexplorer call``: run PAM operations against a service, written as pamtester writes them."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from pamexplorer.calltext import call_line, detail_lines, record_json, trace_lines, use_color
from pamexplorer.cli import (
    EXIT_CRASH,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_service_source,
    service_source,
)
from pamexplorer.engine import Engine, EngineCrashed, EngineError, Session
from pamexplorer.pam.codes import SETTABLE_ITEMS, item_by_name
from pamexplorer.pam.conversation import Conversation, LineConversation, TerminalConversation
from pamexplorer.pam.operation import Operation, OperationError, parse_operation
from pamexplorer.pam.records import CallRecord

EXAMPLES = """\
operations (pamtester's syntax; flags joined with |):
  authenticate  acct_mgmt  setcred(PAM_ESTABLISH_CRED)  open_session  close_session  chauthtok
  flags: PAM_SILENT PAM_DISALLOW_NULL_AUTHTOK PAM_ESTABLISH_CRED PAM_DELETE_CRED
         PAM_REINITIALIZE_CRED PAM_REFRESH_CRED PAM_CHANGE_EXPIRED_AUTHTOK

examples:
  pamexplorer call login alice authenticate acct_mgmt
  pamexplorer call --confdir ./pam.d -I tty=/dev/pts/0 -I rhost=203.0.113.7 sshd alice \\
      authenticate 'setcred(PAM_ESTABLISH_CRED)' open_session close_session
  echo wonderland | pamexplorer call --format json su alice authenticate

On a terminal, prompts are asked interactively (echo-off prompts do not echo); otherwise each
prompt reads one line from standard input.
exit status: 0 every call returned PAM_SUCCESS, 1 a call failed (pam_start included),
2 bad usage or input, 3 the engine child crashed or timed out.
"""

ITEM_NAMES = ", ".join(i.short for i in SETTABLE_ITEMS)


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "call",
        help="run PAM calls against a service, pamtester-style",
        description="Run PAM calls against SERVICE as USER and show every return code.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_service_source(sub, "read service files from DIR only (pam_start_confdir)")
    sub.add_argument(
        "-I",
        "--item",
        dest="items",
        action="append",
        default=[],
        metavar="ITEM=VALUE",
        help=f"set a PAM item after pam_start ({ITEM_NAMES})",
    )
    sub.add_argument(
        "-E",
        "--env",
        dest="env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="put a variable in the PAM environment after pam_start",
    )
    sub.add_argument(
        "--keep-going", action="store_true", help="run every operation even after a failure"
    )
    sub.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="give up on a call silent for this long (time at prompts not counted)",
    )
    sub.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_argument(
        "-v", "--verbose", action="store_true", help="also show items and PAM environment"
    )
    sub.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="hide the per-module trace (one line per rule under each call)",
    )
    sub.add_argument("service", metavar="SERVICE")
    sub.add_argument("user", metavar="USER")
    sub.add_argument("operations", metavar="OPERATION", nargs="+")
    sub.set_defaults(func=run)


def parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{what} {pair!r}: expected NAME=VALUE")
        parsed[name.strip()] = value
    return parsed


def parse_items(pairs: list[str]) -> dict[str, str]:
    items: dict[str, str] = {}
    for name, value in parse_pairs(pairs, "-I").items():
        try:
            item = item_by_name(name)
        except KeyError:
            item = None
        if item not in SETTABLE_ITEMS or item is None:
            raise UsageError(f"-I {name}={value}: unknown item {name!r} (settable: {ITEM_NAMES})")
        items[item.short] = value
    return items


def choose_conversation() -> Conversation:
    if sys.stdin.isatty():
        return TerminalConversation()
    return LineConversation(sys.stdin)


class CallRun:
    """One ``call`` invocation: the records so far, and how it ended."""

    def __init__(self) -> None:
        self.start: CallRecord | None = None
        self.calls: list[CallRecord] = []
        self.end: CallRecord | None = None
        self.error: EngineCrashed | None = None
        self.crash_output: list[str] = []

    @property
    def status(self) -> int:
        if self.error is not None:
            return EXIT_CRASH
        if self.start is None or self.start.code != 0 or any(c.code != 0 for c in self.calls):
            return EXIT_FAILED
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        start = self.start
        return {
            "start": None
            if start is None
            else {
                "code": start.code,
                "name": start.name,
                "text": start.text,
                **({"log": [x.text for x in start.trace.log]} if start.trace else {}),
            },
            "calls": [record_json(c) for c in self.calls],
            "end": None
            if self.end is None
            else {"code": self.end.code, "name": self.end.name, "text": self.end.text},
            "error": None
            if self.error is None
            else {**self.error.to_dict(), "output": self.crash_output},
            "exit_status": self.status,
        }


def execute(
    args: argparse.Namespace,
    operations: list[Operation],
    run_: CallRun,
    conversation: Conversation,
    emit: Any,
) -> None:
    engine = Engine(timeout=args.timeout, direct=True)
    session: Session | None = None
    with service_source(args) as confdir:
        try:
            session = engine.session(conversation)
            run_.start = session.start(
                args.service,
                args.user,
                confdir=confdir,
                items=parse_items(args.items),
                env=parse_pairs(args.env, "-E"),
            )
            emit(run_.start)
            if run_.start.code != 0:
                return
            for operation in operations:
                record = session.call(operation.function, operation.flags)
                run_.calls.append(record)
                emit(record)
                if record.code != 0 and not args.keep_going:
                    break
            run_.end = session.end()
            if run_.end is not None:
                emit(run_.end)
        except EngineCrashed as err:
            run_.error = err
            run_.crash_output = session.crash_output if session is not None else []
        finally:
            # Also on Ctrl-C: pam_end when the child is idle (an interrupted prompt was
            # refused and its call returned), a kill when a module never answered.
            if session is not None:
                session.close()


def run(args: argparse.Namespace) -> int:
    try:
        operations = [parse_operation(text) for text in args.operations]
    except OperationError as err:
        raise UsageError(f"call: {err}") from None
    parse_items(args.items)
    parse_pairs(args.env, "-E")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError("call: --timeout: expected a number of seconds greater than 0")

    result = CallRun()
    color = use_color(sys.stdout)
    text = args.format == "text"

    def emit(record: CallRecord) -> None:
        if not text:
            return
        print(call_line(record, color))
        for line in detail_lines(record, verbose=args.verbose):
            print(line)
        if not args.quiet:
            for line in trace_lines(record.trace):
                print(line)
        sys.stdout.flush()

    try:
        execute(args, operations, result, choose_conversation(), emit)
    except EngineError as err:
        raise UsageError(f"call: {err}") from None
    if text and result.error is not None:
        for line in result.crash_output:
            print(f"    output: {line}")
        print(f"error: {result.error.message}")
        if not args.quiet:
            for line in trace_lines(result.error.trace):
                print(line)
    if not text:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return result.status
