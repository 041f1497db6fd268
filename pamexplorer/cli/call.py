"""``pamexplorer call``: run PAM operations against a service, written as pamtester writes them."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from pamexplorer.calltext import (
    HEAD_WIDTH,
    call_line,
    crash_lines,
    detail_lines,
    function_head,
    printable,
    record_json,
    trace_lines,
    use_color,
)
from pamexplorer.cli import (
    EXIT_CRASH,
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_service_source,
    service_source,
)
from pamexplorer.engine import (
    MAX_TIMEOUT,
    Engine,
    EngineCrashed,
    EngineError,
    Session,
    check_timeout,
)
from pamexplorer.pam.codes import SETTABLE_ITEMS, Function, item_by_name
from pamexplorer.pam.conversation import Conversation, LineConversation, TerminalConversation
from pamexplorer.pam.operation import Operation, OperationError, parse_operation
from pamexplorer.pam.records import CallRecord, Trace
from pamexplorer.pam.secrets import RememberingConversation, Secrets
from pamexplorer.pamdirs import SYSTEM_PAM_DIRS

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
prompt reads one line from standard input. Echo-off answers never show, even when a module
echoes them back: they print as ********.
Notes come first: a service without a file of its own (libpam then reads 'other'), and, on the
system's services, that setcred, open_session and chauthtok act on the real system.
Under each call, one line per rule of its stack: the code the module returned, the action libpam
took, the lines it logged to syslog, the rules that did not run and why, and the rule that
decided the call ("decided by common-account:19 pam_deny.so (die)"); -q hides them.
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
        help="hide the per-module trace (one line per rule under each call); text output "
        "then skips tracing altogether",
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


#: Calls that change the system when the service's modules are real (pam_unix & co.).
SIDE_EFFECTS = (Function.SETCRED, Function.OPEN_SESSION, Function.CHAUTHTOK)
REAL_SYSTEM_NOTE = (
    "note: pam_setcred, pam_open_session and pam_chauthtok act on the real system here "
    "(passwords, credentials, sessions); use --lab or your own --confdir to try them safely"
)
#: The system's service directories: a --confdir pointing there is no sandbox.
SYSTEM_CONFDIRS = (*SYSTEM_PAM_DIRS, "/usr/local/lib/pam.d")
#: How ``call`` words a prompt left unanswered: stdin had no line for it.
NO_ANSWER_HERE = "no answer: end of input, the module got PAM_CONV_ERR"


def acts_on_real_system(args: argparse.Namespace, confdir: str | None) -> bool:
    """True unless the services are the lab's or a confdir of the invoking user's own."""
    if getattr(args, "lab", False):
        return False
    if confdir is None:
        return True
    real = os.path.realpath(confdir)
    if real in SYSTEM_CONFDIRS:
        return True
    try:
        return os.stat(real).st_uid != os.getuid()
    except OSError:
        return True


def service_file(service: str, confdir: str | None) -> tuple[str | None, str | None]:
    """(the file libpam reads for ``service``, a note when there is none).

    The usual case costs a stat or two; only a service without a file of its own loads the
    stack resolver, which knows libpam's rules for the rest (pam.conf, ``other``)."""
    name = service.rsplit("/", 1)[-1].lower()
    dirs = [confdir] if confdir is not None else SYSTEM_PAM_DIRS
    for directory in dirs:
        path = os.path.join(directory, name)
        if name and os.path.isfile(path):
            return path, None
    from pamexplorer.stack.resolve import resolve

    stack = resolve(service, confdir)
    if stack.source is not None:
        return stack.source, None
    if stack.start.code == 0:
        return None, f"no file for '{printable(name)}'; libpam uses other"
    return None, f"no file for '{printable(name)}', and no other: pam_start fails"


class CallRun:
    """One ``call`` invocation: the records so far (secrets scrubbed), and how it ended."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        self.secrets = secrets or Secrets()
        self.service_file: str | None = None
        self.notes: list[str] = []
        self.start: CallRecord | None = None
        self.calls: list[CallRecord] = []
        self.end: CallRecord | None = None
        self.error: EngineCrashed | None = None
        self.crash_message = ""
        self.crash_output: list[str] = []
        self.crash_trace: Trace | None = None

    def keep(self, record: CallRecord) -> CallRecord:
        return self.secrets.scrub_record(record)

    def crashed(self, error: EngineCrashed, output: list[str]) -> None:
        self.error = error
        self.crash_message = self.secrets.scrub(error.message)
        self.crash_output = self.secrets.scrub_lines(output)
        self.crash_trace = None if error.trace is None else self.secrets.scrub_trace(error.trace)

    @property
    def status(self) -> int:
        if self.error is not None:
            return EXIT_CRASH
        if self.start is None or self.start.code != 0 or any(c.code != 0 for c in self.calls):
            return EXIT_FAILED
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        start = self.start
        error = None
        if self.error is not None:
            error = {
                **self.error.to_dict(),
                "message": self.crash_message,
                "output": self.crash_output,
            }
            if self.crash_trace is not None:
                error["trace"] = self.crash_trace.to_dict()
        return {
            "service_file": self.service_file,
            "notes": list(self.notes),
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
            "error": error,
            "exit_status": self.status,
        }


class Printer:
    """``call``'s text output, written as each call returns."""

    def __init__(
        self, operations: list[Operation], verbose: bool, color: bool, quiet: bool = False
    ) -> None:
        heads = ["pam_start", "pam_end"]
        heads += (function_head(op.function.value, op.flags) for op in operations)
        self.width = max(HEAD_WIDTH, *(len(h) for h in heads))
        self.verbose = verbose
        self.quiet = quiet  # no per-module trace lines
        self.color = color

    def note(self, text: str) -> None:
        print(text)
        sys.stdout.flush()

    def record(self, record: CallRecord) -> None:
        print(call_line(record, self.color, self.width))
        for line in detail_lines(record, verbose=self.verbose, no_answer=NO_ANSWER_HERE):
            print(line)
        if not self.quiet:
            for line in trace_lines(record.trace):
                print(line)
        sys.stdout.flush()

    def crash(self, run_: CallRun) -> None:
        if run_.error is None:
            return
        for line in crash_lines(
            run_.error.during, run_.crash_message, run_.crash_output, self.color, self.width
        ):
            print(line)
        if not self.quiet:  # the modules up to the one that never returned
            for line in trace_lines(run_.crash_trace):
                print(line)
        print(f"error: {printable(run_.crash_message)}")


def execute(
    args: argparse.Namespace,
    operations: list[Operation],
    run_: CallRun,
    conversation: Conversation,
    printer: Printer | None,
) -> None:
    engine = Engine(timeout=args.timeout, direct=True)
    session: Session | None = None
    with service_source(args) as confdir:
        run_.service_file, note = service_file(args.service, confdir)
        if note is not None:
            run_.notes.append(note)
            if printer is not None:
                printer.note(f"note: {printable(note)}")
        real = acts_on_real_system(args, confdir)
        try:
            session = engine.session(RememberingConversation(conversation, run_.secrets))
            run_.start = run_.keep(
                session.start(
                    args.service,
                    args.user,
                    confdir=confdir,
                    items=parse_items(args.items),
                    env=parse_pairs(args.env, "-E"),
                    trace=args.format == "json" or not args.quiet,
                )
            )
            if printer is not None:
                printer.record(run_.start)
            if run_.start.code != 0:
                return
            for operation in operations:
                warn = real and operation.function in SIDE_EFFECTS
                if warn and REAL_SYSTEM_NOTE not in run_.notes:
                    run_.notes.append(REAL_SYSTEM_NOTE)
                    if printer is not None:
                        printer.note(REAL_SYSTEM_NOTE)
                record = run_.keep(session.call(operation.function, operation.flags))
                run_.calls.append(record)
                if printer is not None:
                    printer.record(record)
                if record.code != 0 and not args.keep_going:
                    break
            end = session.end()
            if end is not None:
                run_.end = run_.keep(end)
                if printer is not None:
                    printer.record(run_.end)
        except EngineCrashed as err:
            run_.crashed(err, session.crash_output if session is not None else [])
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
    try:
        check_timeout(args.timeout)
    except ValueError:
        raise UsageError(
            f"call: --timeout: expected a number of seconds above 0 and at most {MAX_TIMEOUT:g}"
        ) from None
    Engine.reap_on_signals()  # SIGTERM/SIGHUP: the child is killed and reaped before we exit

    result = CallRun()
    text = args.format == "text"
    printer = Printer(operations, args.verbose, use_color(sys.stdout), args.quiet) if text else None
    try:
        execute(args, operations, result, choose_conversation(), printer)
    except EngineError as err:
        raise UsageError(f"call: {result.secrets.scrub(str(err))}") from None
    if printer is not None:
        printer.crash(result)
    else:
        import json

        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return result.status
