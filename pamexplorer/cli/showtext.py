"""``show`` at 80 columns: a resolved stack as a person reads it on a small terminal.

File names are short (relative to the confdir or the system's PAM directories), a jump is shown
as where it lands (``success=→23``), an include that adds nothing for a type says so, an
unused ``other`` section is one line, and long rules wrap under their own text. Every string
that comes from a file is shown with control characters escaped (and a materialized lab's
directory as ``@LAB@``).
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence

from pamexplorer.calltext import printable
from pamexplorer.lab import shown_lab_text
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


def _status(rule: Rule) -> str:
    if rule.kind == "always_fail":
        return f"[ALWAYS FAILS: {rule.fail_reason}]"
    return "" if rule.status == "found" else f"[{rule.status}]"


class ShortView:
    """The short form of one resolved stack."""

    def __init__(self, stack: Stack, width: int = 80) -> None:
        self.stack = stack
        self.confdir = stack.confdir
        self.width = width
        self.arrow = arrow()

    def shown(self, text: str) -> str:
        """File text as shown: the lab's directory as ``@LAB@``, control characters escaped."""
        return printable(shown_lab_text(text, self.confdir))

    def where(self, file: str, line: int) -> str:
        return self.shown(f"{short_name(file, self.confdir)}:{line}")

    def landing(self, chain: Sequence[Rule], i: int, count: int) -> str:
        """Where a jump of ``count`` from rule ``i`` lands: ``23``, ``common-auth:23``,
        ``end``."""
        target, past_end = jump_target(chain, i, count)
        if past_end:
            return "past its level (bad)"
        if target >= len(chain):
            return "end"
        rule = chain[target]
        return str(rule.line) if rule.file == chain[i].file else self.where(rule.file, rule.line)

    def control(self, chain: Sequence[Rule], i: int) -> str:
        """The control as written, each jump number replaced by where it lands."""
        control = chain[i].control
        if not control.startswith("["):
            return self.shown(control)
        words = []
        for word in control[1:-1].split():
            name, eq, value = word.partition("=")
            if eq and value.isdigit() and int(value) > 0:
                word = f"{name}={self.arrow}{self.landing(chain, i, int(value))}"
            words.append(self.shown(word))
        return "[" + " ".join(words) + "]"

    def include_mark(self, inc: Include, depth: int, note: str = "") -> str:
        sign = ">" if inc.kind == "substack" else "+"
        indent = "  " * (1 + min(depth, _MAX_INDENT))
        deep = f"[{depth + 1}] " if depth >= _MAX_INDENT else ""
        target = short_name(inc.target, self.confdir) if inc.target.startswith("/") else inc.target
        where = self.where(inc.file, inc.line)
        return f"{indent}{deep}{sign} {inc.kind} {self.shown(target)} ({where}){note}"

    def empty_includes(self, typ: str, other: bool) -> dict[int, list[IncludeUse]]:
        """Typed includes that added no rules of ``typ``, by the chain index they precede."""
        rules = self.stack.other_rules if other else self.stack.rules
        out: dict[int, list[IncludeUse]] = {}
        for use in self.stack.includes:
            if use.type != typ or use.other != other or use.added or not use.ok:
                continue
            if use.include.kind == "@include":
                continue
            index = sum(1 for r in rules[: use.position] if r.type == typ)
            out.setdefault(index, []).append(use)
        return out

    def chain_lines(self, chain: tuple[Rule, ...], typ: str, other: bool) -> list[str]:
        empty = self.empty_includes(typ, other)
        heads = [
            "  " * (1 + min(len(r.origin), _MAX_INDENT)) + self.where(r.file, r.line) for r in chain
        ]
        column = min(max((len(h) for h in heads), default=0), 34)
        # libpam reads other twice for the service other: the second half repeats the first
        half = len(chain) // 2
        again = half if other and self.stack.name == "other" and len(chain) % 2 == 0 else -1
        lines: list[str] = []
        shown: tuple[Include, ...] = ()
        for i, rule in enumerate(chain):
            if i == again and i:
                lines.append("  (libpam reads other a second time: the same rules run again)")
                shown = ()
            for use in empty.get(i, []):
                lines.append(self.include_mark(use.include, len(use.origin), f": no {typ} rules"))
            for depth, inc in enumerate(rule.origin):
                if shown[depth : depth + 1] != (inc,):
                    shown = rule.origin[:depth]
                    lines.append(self.include_mark(inc, depth))
            shown = rule.origin
            if rule.kind == "substack":
                continue
            silent = rule.type_token if rule.type_token.startswith("-") else ""
            words = [silent, self.control(chain, i), rule.module, *rule.args, _status(rule)]
            body = " ".join(w if k == 1 else self.shown(w) for k, w in enumerate(words) if w)
            lines.extend(_wrap(f"{heads[i].ljust(column)}  ", body, self.width))
        for use in empty.get(len(chain), []):
            lines.append(self.include_mark(use.include, len(use.origin), f": no {typ} rules"))
        return lines

    def lines(self, module_type: str | None = None) -> list[str]:
        stack, width = self.stack, self.width
        source = stack.source or "(no file; other only)"
        lines = _wrap("", f"service {self.shown(stack.name)}: {self.shown(source)}", width)
        if stack.start.crash:
            label, _, why = stack.start.crash.partition(": ")
            what = {"hang": "never returns", "not predicted": "not predicted"}.get(
                label, f"libpam crashes ({label})"
            )
            lines += _wrap("", f"pam_start: {what}: {self.shown(why or label)}", width)
        elif stack.start.code:
            reason = f"pam_start: {describe(stack.start.code).name} ({stack.start.reason})"
            lines += _wrap("", self.shown(reason), width)
        types = [module_type] if module_type else list(MODULE_TYPES)
        for typ in types:
            own = stack.own_chain(typ)
            if own or self.empty_includes(typ, False):
                lines.append(typ)
                lines += self.chain_lines(own, typ, False)
                if not own:
                    used = "other's" if stack.other_chain(typ) else "no"
                    lines.append(f"  (no {typ} rules: {used} {typ} rules are used)")
        for typ in types:
            chain = stack.other_chain(typ)
            if not chain:
                continue
            if stack.own_chain(typ):
                count = sum(1 for r in chain if r.kind != "substack")
                name = self.shown(stack.name)
                text = f"other: {typ} (not used: {count} rules; {name} has its own)"
                lines += _wrap("", text, width)
                continue
            lines.append(f"other: {typ}")
            lines += self.chain_lines(chain, typ, True)
        if self.confdir is not None:
            lines += _wrap("", f"(files in {self.shown(self.confdir)})", width)
        return lines


def short_show_lines(stack: Stack, module_type: str | None = None, width: int = 80) -> list[str]:
    """The text ``show`` prints by default: every line at most ``width`` columns."""
    return ShortView(stack, width).lines(module_type)
