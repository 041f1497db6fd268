"""The command line: ``pamexplorer`` launches the explorer, subcommands work headless.

Each subcommand lives in its own module here and exposes ``register(subparsers)``; the
module sets ``func`` on its parser. ``func(args)`` returns the exit status.
Exit statuses everywhere: 0 as expected, 1 a PAM result differed, 2 bad usage or input,
3 the engine child crashed or timed out.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from pamexplorer import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CRASH = 0, 1, 2, 3

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("call", "codes", "config", "run", "notebook", "app")


def add_service_source(parser: argparse.ArgumentParser, confdir_help: str) -> None:
    """``--confdir DIR | --lab``. Defaults are left to the main parser, so the options work
    before the subcommand too (``pamexplorer --lab show lab-jumps``)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--confdir", metavar="DIR", default=argparse.SUPPRESS, help=confdir_help)
    group.add_argument(
        "--lab",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use the bundled lab services (a private sandbox copy, removed afterwards)",
    )


@contextlib.contextmanager
def service_source(args: argparse.Namespace) -> Iterator[str | None]:
    """The confdir the command should use: --confdir, the lab's private copy, or None."""
    if getattr(args, "lab", False):
        from pamexplorer.labsetup import lab_confdir

        with lab_confdir() as lab:
            yield str(lab)
    else:
        confdir = getattr(args, "confdir", None)
        yield None if confdir is None else checked_confdir(confdir)


def checked_confdir(confdir: str) -> str:
    """``--confdir`` as given, once it is known to be a directory (else a usage error)."""
    if not os.path.isdir(confdir):
        raise UsageError(f"{confdir}: --confdir: expected a directory of service files")
    return confdir


class UsageError(Exception):
    """Bad usage or bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors: one line, status 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pamexplorer",
        description="Watch Linux-PAM work: step through PAM calls and see every return code.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pamexplorer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"pamexplorer.cli.{name}")
        module.register(subparsers, parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))  # without a subcommand: the explorer (cli.app.launch)
    except UsageError as err:
        print(f"pamexplorer: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
