"""``show`` at 80 columns: a resolved stack as a person reads it on a small terminal.

File names are short (relative to the confdir or the system's PAM directories), a jump is shown
as where it lands (``success=->23``), an include that adds nothing for a type says so, an
unused ``other`` section is one line, and long rules wrap under their own text. Every string
that comes from a file is shown with control characters escaped.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence

from pamexplorer.calltext import printable
from pamexplorer.pam.codes import MODULE_TYPES, describe
from pamexplorer.stack.lint import jump_target
from pamexplorer.stack.model import Include, IncludeUse, Rule, Stack
from pamexplorer.stack.resolve import SYSTEM_PAM_DIRS

#: Deeper include levels are not indented further (the level is still shown in the mark).
_MAX_INDENT = 8


def arrow() -> str:
    """``→`` when stdout can print it, else ``->``."""
    try:
        "→".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"


def short_name(path: str, confdir: str | None) -> str:
    """``common-auth`` for a file in the confdir or the system's PAM directories."""
    folder = os.path.dirname(os.path.abspath(path))
    for base in (confdir, *SYSTEM_PAM_DIRS):
        if base and folder == os.path.abspath(base):
            return os.path.basename(path)
    return path


def _where(file: str, line: int, confdir: str | None) -> str:
    return f"{short_name(file, confdir)}:{line}"


def landing(chain: Sequence[Rule], i: int, count: int, confdir: str | None) -> str:
    """Where a jump of ``count`` from rule ``i`` lands: ``23``, ``common-auth:23``, ``end``."""
    target, past_end = jump_target(chain, i, count)
    if past_end:
        return "past its level (bad)"
    if target >= len(chain):
        return "end"
    rule = chain[target]
    if rule.file == chain[i].file:
        return str(rule.line)
    return _where(rule.file, rule.line, confdir)


def control_text(chain: Sequence[Rule], i: int, confdir: str | None) -> str:
    """The control as written, each jump number replaced by where it lands."""
    control = chain[i].control
    if not control.startswith("["):
        return control
    to = arrow()
    words = []
    for word in control[1:-1].split():
        name, eq, value = word.partition("=")
        if eq and value.isdigit() and int(value) > 0:
            word = f"{name}={to}{landing(chain, i, int(value), confdir)}"
        words.append(word)
    return "[" + " ".join(words) + "]"


def _status(rule: Rule) -> str:
    if rule.kind == "always_fail":
        return f"[ALWAYS FAILS: {rule.fail_reason}]"
    return "" if rule.status == "found" else f"[{rule.status}]"


def _wrap(head: str, body: str, width: int) -> list[str]:
    """``head`` then ``body`` wrapped to ``width``, continuation lines under the body."""
    hang = len(head) if len(head) <= width // 2 else min(len(head), 8)
    return textwrap.wrap(
        body,
        width=width,
        initial_indent=head,
        subsequent_indent=" " * hang,
        break_long_words=True,
        break_on_hyphens=False,
    ) or [head.rstrip()]


def _include_mark(inc: Include, depth: int, confdir: str | None, note: str = "") -> str:
    sign = ">" if inc.kind == "substack" else "+"
    indent = "  " * (1 + min(depth, _MAX_INDENT))
    deep = f"[{depth + 1}] " if depth >= _MAX_INDENT else ""
    target = short_name(inc.target, confdir) if inc.target.startswith("/") else inc.target
    return (
        f"{indent}{deep}{sign} {inc.kind} {printable(target)} "
        f"({printable(_where(inc.file, inc.line, confdir))}){note}"
    )


def _empty_includes(stack: Stack, typ: str, other: bool) -> dict[int, list[IncludeUse]]:
    """Typed includes that added no rules of ``typ``, by the chain index they stand before."""
    rules = stack.other_rules if other else stack.rules
    out: dict[int, list[IncludeUse]] = {}
    for use in stack.includes:
        if use.type != typ or use.other != other or use.added or not use.ok:
            continue
        if use.include.kind == "@include":
            continue
        index = sum(1 for r in rules[: use.position] if r.type == typ)
        out.setdefault(index, []).append(use)
    return out


def _chain_lines(
    stack: Stack, chain: tuple[Rule, ...], typ: str, other: bool, width: int
) -> list[str]:
    confdir = stack.confdir
    empty = _empty_includes(stack, typ, other)
    wheres = [_where(r.file, r.line, confdir) for r in chain]
    heads = [
        "  " * (1 + min(len(r.origin), _MAX_INDENT)) + printable(w)
        for r, w in zip(chain, wheres, strict=True)
    ]
    column = min(max((len(h) for h in heads), default=0), 34)
    # libpam reads other twice for the service other: the second half repeats the first
    again = len(chain) // 2 if other and stack.name == "other" and len(chain) % 2 == 0 else -1
    lines: list[str] = []
    shown: tuple[Include, ...] = ()
    for i, rule in enumerate(chain):
        if i == again and i:
            lines.append("  (libpam reads other a second time: the same rules run again)")
            shown = ()
        for use in empty.get(i, []):
            lines.append(_include_mark(use.include, len(use.origin), confdir, f": no {typ} rules"))
        for depth, inc in enumerate(rule.origin):
            if shown[depth : depth + 1] != (inc,):
                shown = rule.origin[:depth]
                lines.append(_include_mark(inc, depth, confdir))
        shown = rule.origin
        if rule.kind == "substack":
            continue
        head = f"{heads[i].ljust(column)}  "
        words = [rule.type_token if rule.type_token.startswith("-") else "", control_text(
            chain, i, confdir), rule.module, *rule.args, _status(rule)]  # fmt: skip
        body = " ".join(printable(w) for w in words if w)
        lines.extend(_wrap(head, body, width))
    for use in empty.get(len(chain), []):
        lines.append(_include_mark(use.include, len(use.origin), confdir, f": no {typ} rules"))
    return lines


def short_show_lines(stack: Stack, module_type: str | None = None, width: int = 80) -> list[str]:
    """The text ``show`` prints by default: every line at most ``width`` columns."""
    confdir = stack.confdir
    source = stack.source or "(no file; other only)"
    lines = _wrap("", f"service {printable(stack.name)}: {printable(source)}", width)
    if stack.start.crash:
        lines += _wrap("", f"pam_start: libpam crashes ({printable(stack.start.crash)})", width)
    elif stack.start.code:
        reason = f"pam_start: {describe(stack.start.code).name} ({stack.start.reason})"
        lines += _wrap("", printable(reason), width)
    types = [module_type] if module_type else list(MODULE_TYPES)
    for typ in types:
        own = stack.own_chain(typ)
        if own or _empty_includes(stack, typ, False):
            lines.append(typ)
            lines += _chain_lines(stack, own, typ, False, width)
            if not own:
                used = "other's" if stack.other_chain(typ) else "no"
                lines.append(f"  (no {typ} rules: {used} {typ} rules are used)")
    for typ in types:
        chain = stack.other_chain(typ)
        if not chain:
            continue
        if stack.own_chain(typ):
            count = sum(1 for r in chain if r.kind != "substack")
            name = printable(stack.name)
            lines += _wrap("", f"other: {typ} (not used: {count} rules; {name} has its own)", width)
            continue
        lines.append(f"other: {typ}")
        lines += _chain_lines(stack, chain, typ, True, width)
    if confdir is not None:
        lines += _wrap("", f"(files in {printable(confdir)})", width)
    return lines
