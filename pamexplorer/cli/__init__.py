"""The command line: ``pamexplorer`` launches the explorer, subcommands work headless.

Each subcommand lives in its own module here and exposes ``register(subparsers, parser)``;
the module sets ``func`` on its parser. ``func(args)`` returns the exit status. A command line
that names its subcommand builds and imports only that subcommand's module (a one-shot
``call`` pays for no other); ``--help`` and errors build them all.
Exit statuses everywhere: 0 as expected, 1 a PAM result differed, 2 bad usage or input,
3 the engine child crashed or timed out.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from pamexplorer import __version__
from pamexplorer.pam.text import printable

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CRASH = 0, 1, 2, 3

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = ("call", "codes", "config", "run", "notebook", "app")
#: Which module registers each subcommand (tests check this against what they register).
COMMANDS = {
    "call": "call",
    "codes": "codes",
    "services": "config",
    "show": "config",
    "lint": "config",
    "simulate": "config",
    "run": "run",
    "profiles": "run",
    "notebook": "notebook",
    "screenshots": "app",
}
#: Options of the main parser that take a value (skipped when looking for the subcommand).
_VALUED_OPTIONS = ("--confdir", "--service", "--user", "--profile")


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
        from pamexplorer.lab import lab_confdir

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
        # The message quotes argv, which is not ours: escaped like any text from outside.
        self.exit(EXIT_USAGE, f"{printable(self.prog)}: error: {printable(message)}\n")


class _Partial(_Parser):
    """A parser built for one subcommand: its errors send the caller to the full parser."""

    def error(self, message: str) -> NoReturn:
        raise _NeedsFullParser


class _NeedsFullParser(Exception):
    pass


def named_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names, or None (none, help asked first, or not sure)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("-h", "--help", "--version", "--"):
            return None
        elif arg in _VALUED_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line parser: every subcommand, or with ``command`` only that one (and the
    explorer's options, which the main parser always has)."""
    parser_class = _Parser if command is None else _Partial
    parser = parser_class(
        prog="pamexplorer",
        description="Watch Linux-PAM work: step through PAM calls and see every return code.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pamexplorer {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    wanted = COMMAND_MODULES if command is None else {COMMANDS[command], "app"}
    for name in COMMAND_MODULES:
        if name in wanted:
            module = importlib.import_module(f"pamexplorer.cli.{name}")
            module.register(subparsers, parser)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    command = named_command(argv)
    if command is not None:
        try:
            return build_parser(command).parse_args(argv)
        except _NeedsFullParser:
            pass  # the full parser says what is wrong, naming every subcommand
    return build_parser().parse_args(argv)


def _escape_unencodable() -> None:
    """Text that is not ours may hold bytes no UTF-8 stream can encode (a file name or argv
    decoded with surrogateescape): print them as escapes rather than fail."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


class _DeferredModule(types.ModuleType):
    """Stands in ``sys.modules`` for a module nobody may use: the first attribute asked of it
    imports the real module, which takes its place."""

    def __getattr__(self, attribute: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        return getattr(real, attribute)


def _defer_inspect() -> None:
    """``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``, ``tokenize``: a third of a
    one-shot command's imports) only to write a docstring for a class that has none; ours all
    have one. Import it on first use instead."""
    if "inspect" not in sys.modules:
        stub = _DeferredModule("inspect")
        stub.__spec__ = None
        sys.modules["inspect"] = stub


#: Commands that leave nothing for the interpreter to clean up when they return.
_ONE_SHOT = ("call", "codes")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: this program's). Without ``argv`` this is the
    program itself, and a one-shot command ends the process as soon as its output is out."""
    _escape_unencodable()
    program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    command = named_command(argv)
    if command is not None:  # the explorer needs inspect anyway: not for it
        _defer_inspect()
    gc.disable()  # building the parser imports the command: no garbage to collect yet
    try:
        args = parse(argv)
    finally:
        gc.enable()
    status = _run(args)
    if program and command in _ONE_SHOT:
        _exit_now(status)
    return status


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))  # without a subcommand: the explorer (cli.app.launch)
    except UsageError as err:
        print(f"pamexplorer: {printable(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def _exit_now(status: int) -> NoReturn:
    """Exit without tearing the interpreter down (a third of a one-shot ``call``'s CPU): the
    command closed its transactions and files; only the standard streams need flushing."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
