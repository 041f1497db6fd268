"""``pamexplorer codes``: the return codes, item types and flags libpam knows."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pamexplorer.pam.codes import Flag, Function, Item, all_codes


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "codes",
        help="the table of PAM return codes, with what each means",
        description="All 32 PAM return codes: number, name, pam_strerror text (read live from "
        "libpam), an explanation and the usual causes; then the items and the flags.",
        epilog="examples:\n  pamexplorer codes\n  pamexplorer codes --format json | jq "
        "'.codes[] | select(.code == 7)'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("--format", choices=("text", "json"), default="text")
    sub.set_defaults(func=run)


def table() -> dict[str, Any]:
    return {
        "codes": [
            {
                "code": info.code,
                "name": info.name,
                "text": info.text,
                "explanation": info.explanation,
                "causes": list(info.causes),
            }
            for info in all_codes()
        ],
        "items": [{"item": int(i), "name": i.name} for i in Item],
        "flags": [
            {
                "flag": int(f),
                "name": f.name,
                "functions": [fn.value for fn in Function if f & fn.flags],
            }
            for f in Flag
        ],
    }


def run(args: argparse.Namespace) -> int:
    data = table()
    if args.format == "json":
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for code in data["codes"]:
        print(f"{code['code']:>2}  {code['name']:<26} {code['text']}")
        print(f"    {code['explanation']}")
        if code["causes"]:
            print(f"    usual causes: {'; '.join(code['causes'])}")
    print("\nitems:")
    for item in data["items"]:
        print(f"{item['item']:>2}  {item['name']}")
    print("\nflags:")
    for flag in data["flags"]:
        print(f"{flag['flag']:#06x}  {flag['name']:<28} {', '.join(flag['functions'])}")
    return 0
