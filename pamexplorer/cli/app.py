"""``pamexplorer`` with no subcommand launches the explorer; ``pamexplorer screenshots``
regenerates the README's screenshots."""

from __future__ import annotations

import argparse
from typing import Any

from pamexplorer.cli import UsageError, checked_confdir

LAUNCH_EXAMPLES = """\
examples:
  pamexplorer                          pick a system service (or a lab one)
  pamexplorer --lab                    only the bundled lab, no root needed
  pamexplorer --service sshd --user alice
  pamexplorer --confdir ./pam.d --service mysvc
  pamexplorer --profile lab-requisite       a lesson, by name or path
"""


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--confdir", metavar="DIR", help="read service files from DIR (pam_start_confdir)"
    )
    where.add_argument(
        "--lab", action="store_true", help="use the bundled lab services (a private sandbox)"
    )
    parser.add_argument("--service", metavar="NAME", help="open this service directly")
    parser.add_argument("--user", metavar="NAME", help="user for pam_start (default: you)")
    parser.add_argument("--profile", metavar="PROFILE", help="open a profile or lab lesson")
    if parser.epilog is None:
        parser.epilog = LAUNCH_EXAMPLES
    parser.set_defaults(func=launch)

    shots = subparsers.add_parser(
        "screenshots",
        help="regenerate the SVG screenshots of the main screens",
        description="Render the explorer's main screens at 100x30 into SVG files.",
        epilog="examples:\n  pamexplorer screenshots\n  pamexplorer screenshots /tmp/shots\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    shots.add_argument(
        "dir",
        nargs="?",
        default="screenshots",
        help="output directory (default: ./screenshots)",
    )
    shots.set_defaults(func=screenshots)


def launch(args: argparse.Namespace) -> int:
    if getattr(args, "command", None) not in (None, ""):
        return 0
    from pathlib import Path

    confdir = Path(checked_confdir(args.confdir)) if args.confdir else None
    profile = None
    if args.profile is not None:
        from pamexplorer.profile import ProfileError, load, resolve

        try:
            path = resolve(args.profile)
            load(path)
        except ProfileError as err:
            raise UsageError(str(err)) from None
        profile = str(path)
    from pamexplorer.tui.app import LaunchOptions, PamExplorerApp

    options = LaunchOptions(
        confdir=confdir.resolve() if confdir else None,
        lab=args.lab,
        service=args.service,
        user=args.user,
        profile=profile,
    )
    result = PamExplorerApp(options).run()
    return int(result or 0)


def screenshots(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pamexplorer.tui.screenshots import write_screenshots

    args.dir = Path(args.dir)
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"{args.dir}: screenshots: expected a directory to write to ({err.strerror})"
        ) from None
    for path in write_screenshots(args.dir):
        print(path)
    return 0
