"""``services``, ``show``, ``lint`` and ``simulate``: PAM configuration without running a module.

The stack layer is imported when one of these commands runs, not when the parser is built:
every ``pamexplorer`` invocation builds the whole parser, and ``call`` should not pay for it.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from pamexplorer.cli import EXIT_FAILED, EXIT_OK, UsageError, add_service_source, service_source
from pamexplorer.pam.codes import MODULE_TYPES

if TYPE_CHECKING:
    from pamexplorer.stack.model import Rule, Stack

_RAW = argparse.RawDescriptionHelpFormatter


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of columns, got {text!r}") from None
    if not 40 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 40 to 1000 columns, got {value}")
    return value


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "services",
        help="list the PAM services and the file each comes from",
        formatter_class=_RAW,
        description="List the services pam_start can find, with the file each is read from.\n\n"
        "examples:\n  pamexplorer services\n  pamexplorer services --lab",
    )
    add_service_source(
        p,
        "read services from DIR (as pam_start_confdir) instead of /etc/pam.d and /usr/lib/pam.d",
    )
    p.set_defaults(func=run_services)

    p = subparsers.add_parser(
        "show",
        help="the resolved stack of a service, includes expanded",
        formatter_class=_RAW,
        description="Show the rules libpam builds for SERVICE: includes and substacks expanded\n"
        "and marked, file:line for every rule, and each module's problem (MISSING,\n"
        "no pam_sm_xxx, ALWAYS FAILS). Fits 80 columns: file names short, jumps shown as\n"
        "where they land (->L), includes that add nothing marked, unused 'other' sections\n"
        "summarized. --wide prints full paths and every rule on one line.\n\n"
        "examples:\n  pamexplorer show login\n  pamexplorer show --type auth sshd\n"
        "  pamexplorer show --confdir ./pam.d myapp\n  pamexplorer show --lab lab-jumps\n"
        "  pamexplorer show --wide login",
    )
    add_service_source(p, "read the service from DIR")
    p.add_argument("--type", choices=MODULE_TYPES, help="only rules of this type")
    p.add_argument(
        "--wide",
        action="store_true",
        help="full paths and one line per rule, however long (the form before 80 columns)",
    )
    p.add_argument(
        "--width", type=_width, default=80, metavar="N", help="fit N columns (default 80)"
    )
    p.add_argument("service", metavar="SERVICE")
    p.set_defaults(func=run_show)

    p = subparsers.add_parser(
        "lint",
        help="find problems in PAM service files",
        formatter_class=_RAW,
        description="Check services for missing modules and symbols, unknown types and\n"
        "controls, include loops, empty stacks, unreachable and risky rules.\n"
        "Prints 'file:line: severity: message' and why. Exit 0: nothing of warning or worse;\n"
        "1: some; 2: bad usage.\n\n"
        "examples:\n  pamexplorer lint\n  pamexplorer lint sshd login\n"
        "  pamexplorer lint --confdir ./pam.d",
    )
    add_service_source(p, "read services from DIR")
    p.add_argument(
        "services", metavar="SERVICE", nargs="*", help="services to check (default: every service)"
    )
    p.set_defaults(func=run_lint)

    p = subparsers.add_parser(
        "simulate",
        help="predict each call's result from the configuration alone",
        formatter_class=_RAW,
        description="Walk the stack as libpam's dispatcher does, without loading a module, and\n"
        "print each call's final code and path in the form of call's trace: one line per rule,\n"
        "the rules that did not run and why, the rule that decided the call. pam_permit,\n"
        "pam_deny and pam_debug return what they would; a missing module or symbol returns\n"
        "PAM_MODULE_UNKNOWN; other modules return what --result says, else PAM_SUCCESS\n"
        "marked as assumed.\n"
        "--result FILE:LINE=CODE applies to every call of that rule (both chauthtok passes);\n"
        "FILE:LINE@EVENT=CODE only to one: authenticate, setcred, acct_mgmt, open_session,\n"
        "close_session, chauthtok, prelim or update. CODE: PAM_AUTH_ERR, auth_err or 7.\n\n"
        "examples:\n  pamexplorer simulate login authenticate setcred\n"
        "  pamexplorer simulate --result common-auth:17=auth_err login authenticate\n"
        "  pamexplorer simulate --format json --confdir ./pam.d myapp open_session "
        "close_session\n"
        "  pamexplorer simulate --result /etc/pam.d/common-password:25@prelim=try_again "
        "passwd chauthtok",
    )
    add_service_source(p, "read the service from DIR")
    p.add_argument(
        "--result",
        metavar="FILE:LINE=CODE",
        action="append",
        default=[],
        help="the code the rule at FILE:LINE returns (repeatable)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument(
        "operations",
        metavar="OPERATION",
        nargs="+",
        help="as in 'call': authenticate, setcred(PAM_ESTABLISH_CRED), ...",
    )
    p.set_defaults(func=run_simulate)


def run_services(args: argparse.Namespace) -> int:
    from pamexplorer.calltext import printable
    from pamexplorer.stack.resolve import list_services

    with service_source(args) as confdir:
        for name, path in list_services(confdir):
            print(f"{printable(name):32} {printable(path)}")
    return EXIT_OK


def _marker(rule: Rule) -> str:
    return "  " * (len(rule.origin))


def show_lines(stack: Stack, module_type: str | None = None) -> list[str]:
    """The text ``show --wide`` prints: full paths, every rule on one line."""
    from pamexplorer.calltext import printable
    from pamexplorer.pam.codes import describe

    lines = [f"service {stack.name}: {stack.source or '(no file; other only)'}"]
    if stack.start.crash:
        lines.append(f"pam_start: libpam crashes ({stack.start.crash})")
    elif stack.start.code:
        lines.append(f"pam_start: {describe(stack.start.code).name} ({stack.start.reason})")
    for title, rules in (("", stack.rules), ("other: ", stack.other_rules)):
        for typ in [module_type] if module_type else list(MODULE_TYPES):
            chain = [r for r in rules if r.type == typ]
            if not chain:
                continue
            used = "" if not title or not stack.own_chain(typ) else " (not used)"
            lines.append(f"{title}{typ}{used}")
            shown_origin: tuple[Any, ...] = ()
            for rule in chain:
                for depth, inc in enumerate(rule.origin):
                    if shown_origin[depth : depth + 1] != (inc,):
                        shown_origin = rule.origin[:depth]
                        lines.append(
                            f"  {'  ' * depth}{'>' if inc.kind == 'substack' else '+'}"
                            f" {inc.kind} {inc.target} (from {inc.file}:{inc.line})"
                        )
                shown_origin = rule.origin
                indent = "  " + _marker(rule)
                if rule.kind == "substack":
                    continue
                args = " ".join(rule.args)
                body = f"{rule.type_token} {rule.control} {rule.module} {args}".rstrip()
                status = (
                    rule.status if rule.kind == "module" else f"ALWAYS FAILS: {rule.fail_reason}"
                )
                lines.append(f"{indent}{rule.file}:{rule.line}  {body}  [{status}]")
    return [printable(line) for line in lines]


def run_show(args: argparse.Namespace) -> int:
    from pamexplorer.cli.showtext import short_show_lines
    from pamexplorer.stack.resolve import resolve

    with service_source(args) as confdir:
        stack = resolve(args.service, confdir)
        if args.wide:
            lines = show_lines(stack, args.type)
        else:
            lines = short_show_lines(stack, args.type, width=args.width)
        for line in lines:
            print(line)
    return EXIT_OK


def run_lint(args: argparse.Namespace) -> int:
    from pamexplorer.calltext import printable
    from pamexplorer.stack.lint import lint_services
    from pamexplorer.stack.resolve import SYSTEM, ResolveMemo, list_services, resolve

    worst = EXIT_OK
    with service_source(args) as confdir:
        names = args.services or [name for name, _ in list_services(confdir)]
        if not names:
            where = printable(confdir or " and ".join(SYSTEM.service_dirs))
            raise UsageError(f"{where}: no services found")
        memo = ResolveMemo()  # an include shared by many services is expanded once
        for finding in lint_services(resolve(name, confdir, memo=memo) for name in names):
            print(printable(str(finding)))
            if finding.why:
                print(f"    why: {printable(finding.why)}")
            if finding.severity in ("error", "warning"):
                worst = EXIT_FAILED
    return worst


def run_simulate(args: argparse.Namespace) -> int:
    from pamexplorer.calltext import call_head, simulation_lines
    from pamexplorer.pam.codes import describe
    from pamexplorer.pam.operation import OperationError, parse_operation
    from pamexplorer.stack.resolve import resolve
    from pamexplorer.stack.simulate import ResultOverride, parse_result_spec, simulate

    overrides: list[ResultOverride] = []
    for spec in args.result:
        try:
            overrides.append(parse_result_spec(spec))
        except ValueError as err:
            raise UsageError(f"--result: {err}") from None
    try:
        operations = [parse_operation(op) for op in args.operations]
    except OperationError as err:
        raise UsageError(f"OPERATION: {err}") from None
    with service_source(args) as confdir:
        stack = resolve(args.service, confdir)
    every = (*stack.rules, *stack.other_rules)
    for override in overrides:
        if not any(override.matches(rule) for rule in every):
            raise UsageError(
                f"--result: {override.file}:{override.line}: no rule of "
                f"{stack.name} is written there"
            )
    result = simulate(stack, operations, overrides)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    if result.start.crash:
        print(f"{'pam_start':<18}  libpam crashes: {result.start.crash}")
        return EXIT_OK
    info = describe(result.start.code)
    reason = f"  ({result.start.reason})" if result.start.code else ""
    print(f"{call_head('pam_start', 0, info.code, info.name)}  {info.text}{reason}")
    for call in result.calls:
        note = f"  -- {call.note}" if call.note else ""
        print(f"{call_head(call.function, call.flags, call.code, call.name)}  {call.text}{note}")
        for line in simulation_lines(call):
            print(line)
    return EXIT_OK
