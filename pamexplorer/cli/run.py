"""``pamexplorer run`` and ``pamexplorer profiles``: headless profiles, for CI and workshops."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pamexplorer.runner import ProfileResult

#: Report formats (pamexplorer.report renders each); profiles, yaml and the runner are
#: imported only when ``run`` or ``profiles`` runs, so other commands start fast.
FORMATS = ("text", "json", "junit")

RUN_EPILOG = """\
PROFILE is a path to a YAML file or the name of a bundled or user profile
(see: pamexplorer profiles).

Under each call the report shows the per-module trace: one line per rule with the code it
returned and the action libpam took, each module's log lines, and the deciding rule. A step
may expect them: expect_decided_by: common-account:19 (FILE:LINE, or a module: pam_deny.so)
and expect_log: ["has expired"] (patterns, each found in some log line of the call).

exit status:
  0  every expectation was met (skipped profiles count as met)
  1  a PAM result, message, environment, fail delay, deciding rule or log line differed
     from what was expected
  2  a profile is invalid (FILE:LINE: field: what was expected), or a step expects the
     trace and this build has none ("trace unavailable: ...")
  3  the engine child crashed or a call timed out

examples:
  pamexplorer run lab-requisite
  pamexplorer run lab-which-line admin-which-line
  pamexplorer run profiles/*.yaml --format junit > pam-report.xml
  OTP_CODE=123456 pamexplorer run ./checks/sshd-alice.yaml --format json
"""

PROFILES_EPILOG = """\
Profiles are looked up in $PAMEXPLORER_PROFILES (':'-separated), ./profiles,
$XDG_CONFIG_HOME/pamexplorer/profiles (~/.config/...), then the bundled curriculum.
A user profile shadows a bundled one of the same name.

examples:
  pamexplorer profiles
  pamexplorer profiles --format json | jq -r '.[].name'
"""


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    run = subparsers.add_parser(
        "run",
        help="run profiles headless and report every step (text, JSON, JUnit XML)",
        description="Run YAML profiles through real libpam and check each expected result.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("profiles", nargs="+", metavar="PROFILE", help="a file or profile name")
    run.add_argument(
        "--format", choices=FORMATS, default="text", help="report format (default: text)"
    )
    run.set_defaults(func=run_command)

    listing = subparsers.add_parser(
        "profiles",
        help="list bundled and user profiles",
        description="List the bundled lab curriculum and your own profiles.",
        epilog=PROFILES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    listing.set_defaults(func=profiles_command)


def run_command(args: argparse.Namespace) -> int:
    from pamexplorer.calltext import printable
    from pamexplorer.engine import Engine
    from pamexplorer.engine.aio import AsyncEngine
    from pamexplorer.profile import ProfileError, load, resolve
    from pamexplorer.report import render
    from pamexplorer.runner import ask_on_terminal, error_result, run_profile

    # Children come from the fork server, started with a clean environment: a child forked
    # from this process would still show our exec-time environment, where a profile's secret
    # source ({env: NAME}) lives, in /proc/PID/environ.
    engine = AsyncEngine()
    Engine.reap_on_signals()  # SIGTERM/SIGHUP: sessions closed, children gone before we exit
    ask = ask_on_terminal if sys.stdin.isatty() else None
    results: list[ProfileResult] = []
    for reference in args.profiles:
        try:
            profile = load(resolve(reference))
            result = run_profile(profile, engine=engine, ask=ask)
        except ProfileError as err:
            print(f"pamexplorer: {printable(str(err))}", file=sys.stderr)
            result = error_result(reference, err)
        results.append(result)
    sys.stdout.write(render(results, args.format, several=len(args.profiles) > 1))
    return max(r.exit_status for r in results)


def profiles_command(args: argparse.Namespace) -> int:
    from pamexplorer.calltext import printable
    from pamexplorer.profile import discover
    from pamexplorer.report import json_text

    entries = discover()
    if args.format == "json":
        data = [
            {
                "name": e.name,
                "title": e.title,
                "path": str(e.path),
                "bundled": e.bundled,
                **({"error": e.error} if e.error else {}),
            }
            for e in entries
        ]
        sys.stdout.write(json_text(data))
        return 0
    if not entries:
        print("no profiles found")
        return 0
    # Names, titles and paths come from files: shown with control characters escaped.
    width = max(len(printable(e.name)) for e in entries)
    for e in entries:
        origin = "bundled" if e.bundled else "user"
        print(f"{printable(e.name):{width}}  {origin:7}  {printable(e.title)}")
        if e.error:
            print(f"{'':{width}}  {'':7}  ! {printable(e.error)}")
        elif not e.bundled:
            print(f"{'':{width}}  {'':7}  {printable(str(e.path))}")
    return 0
