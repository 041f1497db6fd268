"""``pamexplorer codes``: the return codes, item types and flags libpam knows."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pamexplorer.cli import UsageError
from pamexplorer.pam.codes import CodeInfo, Flag, Function, Item, all_codes, code_by_name, describe
from pamexplorer.pam.text import printable


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "codes",
        help="the table of PAM return codes, with what each means",
        description="All 32 PAM return codes: number, name, pam_strerror text (read live from "
        "libpam), an explanation and the usual causes; then the items and the flags.",
        epilog="examples:\n  pamexplorer codes\n  pamexplorer codes 7\n"
        "  pamexplorer codes PAM_AUTH_ERR\n  pamexplorer codes auth_err --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument(
        "code",
        nargs="?",
        metavar="CODE",
        help="only this code: its number, name (PAM_AUTH_ERR) or short name (auth_err)",
    )
    sub.add_argument("--format", choices=("text", "json"), default="text")
    sub.set_defaults(func=run)


def code_dict(info: CodeInfo) -> dict[str, Any]:
    return {
        "code": info.code,
        "name": info.name,
        "text": info.text,
        "explanation": info.explanation,
        "causes": list(info.causes),
    }


def code_lines(code: dict[str, Any]) -> list[str]:
    lines = [
        f"{code['code']:>2}  {code['name']:<26} {code['text']}",
        f"    {code['explanation']}",
    ]
    if code["causes"]:
        lines.append(f"    usual causes: {'; '.join(code['causes'])}")
    return lines


def table() -> dict[str, Any]:
    return {
        "codes": [code_dict(info) for info in all_codes()],
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


def one_code(name: str) -> dict[str, Any]:
    """``7``, ``PAM_AUTH_ERR`` or ``auth_err`` -> that code; anything else is a usage error."""
    try:
        return code_dict(describe(code_by_name(name)))
    except KeyError:
        raise UsageError(
            f"codes: unknown code '{printable(name)}' (a number 0-31, a name like "
            "PAM_AUTH_ERR, or auth_err)"
        ) from None


def run(args: argparse.Namespace) -> int:
    data: dict[str, Any] = one_code(args.code) if args.code is not None else table()
    if args.format == "json":
        import json

        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.code is not None:
        print("\n".join(code_lines(data)))
        return 0
    for code in data["codes"]:
        print("\n".join(code_lines(code)))
    print("\nitems:")
    for item in data["items"]:
        print(f"{item['item']:>2}  {item['name']}")
    print("\nflags:")
    for flag in data["flags"]:
        print(f"{flag['flag']:#06x}  {flag['name']:<28} {', '.join(flag['functions'])}")
    return 0
