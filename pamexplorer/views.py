"""Views that display well in Jupyter and in a plain REPL: resolved stacks, the code table,
simulations, profile runs and live transactions. Each has ``_repr_html_`` (everything from a
file or a module escaped through :func:`pamexplorer.pam.html.text`) and a readable ``__repr__``.

Pure rendering over the records other layers hand out; nothing here runs libpam.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pamexplorer.lab import shown_lab_text
from pamexplorer.pam.codes import CodeInfo
from pamexplorer.pam.html import (
    CSS,
    code_info_text,
    code_label,
    code_span,
    code_table_html,
    code_table_text,
    crash_body,
    record_body,
    record_text,
    text,
    visible,
)
from pamexplorer.pam.records import CallRecord
from pamexplorer.runner import ProfileResult, StepResult
from pamexplorer.stack import Rule, Simulation, Stack

#: (file, line) of a rule -> (code, action) it gave in one call, when known (the trace).
LineCodes = Mapping[tuple[str, int], tuple[int, str]]


def line_codes(record: CallRecord | None) -> dict[tuple[str, int], tuple[int, str]]:
    """Per-line codes of one call, from its per-module trace when the engine recorded one.

    Without a trace nothing is known per line, and nothing is marked (never guessed)."""
    trace = None if record is None else record.trace
    if trace is None:
        return {}
    return {
        (entry.file, entry.line): (entry.code, entry.action)
        for entry in trace.modules
        if entry.ran and entry.code is not None
    }


def decided_line(record: CallRecord | None) -> tuple[str, int] | None:
    """(file, line) of the rule whose code became the call's code, when the trace names it."""
    rule = None if record is None or record.trace is None else record.trace.decider
    return None if rule is None else (rule.file, rule.line)


def not_run_lines(record: CallRecord | None) -> frozenset[tuple[str, int]]:
    """(file, line) of the rules the traced call did not reach (a jump, requisite, done...)."""
    trace = None if record is None else record.trace
    if trace is None:
        return frozenset()
    return frozenset((entry.file, entry.line) for entry in trace.modules if not entry.ran)


def short_where(rule_file: str, line: int, confdir: str | None) -> str:
    """``lab-login:3`` for a file inside the confdir, the full path otherwise."""
    if confdir and os.path.dirname(rule_file) == os.path.normpath(confdir):
        return f"{os.path.basename(rule_file)}:{line}"
    return f"{rule_file}:{line}"


def _rule_text(rule: Rule) -> str:
    if rule.kind == "substack":
        return f"substack {rule.module}"
    if rule.kind == "always_fail":
        return f"(always fails: {rule.fail_reason})" if rule.fail_reason else "(always fails)"
    return " ".join([rule.module, *rule.args])


@dataclass(frozen=True)
class StackView:
    """A service as ``pam_start`` resolves it, each line marked with its code when known."""

    stack: Stack
    codes: LineCodes = field(default_factory=dict)
    function: str | None = None  # the call the codes belong to
    decided: tuple[str, int] | None = None  # the rule that decided that call
    not_run: frozenset[tuple[str, int]] = frozenset()  # rules that call did not reach

    @classmethod
    def of_call(cls, stack: Stack, record: CallRecord | None) -> StackView:
        """``stack`` marked with what ``record``'s trace says: each line's code and action,
        the deciding line, the lines not run (nothing when the call was not traced)."""
        codes = line_codes(record)
        return cls(
            stack,
            codes,
            None if record is None else record.function,
            decided_line(record),
            not_run_lines(record) if codes else frozenset(),
        )

    def _rows(self) -> list[tuple[str, Rule, str, tuple[int, str] | None, str]]:
        """(origin, rule, type, its code and action, ``decided``/``not run``/"") per line."""
        rows = []
        for module_type in ("auth", "account", "session", "password"):
            own = self.stack.own_chain(module_type)
            chain, origin = (own, "") if own else (self.stack.other_chain(module_type), "other")
            for rule in chain:
                key = (rule.file, rule.line)
                mark = self.codes.get(key)
                state = ""
                if key == self.decided:
                    state = "decided"
                elif key in self.not_run and mark is None:
                    state = "not run"
                rows.append((origin, rule, module_type, mark, state))
        return rows

    def _shown(self, value: str) -> str:
        """Lab paths as the lab's templates write them (``@LAB@/checkpass``)."""
        return shown_lab_text(value, self.stack.confdir)

    def _repr_html_(self) -> str:
        stack = self.stack
        source = self._shown(stack.source or "")
        head = f"<div><b>{text(stack.service)}</b> <span class='dim'>{text(source)}"
        head += "</span></div>"
        if stack.start.crash:
            head += f"<div><span class='crash'>pam_start crashes: {text(stack.start.crash)}</span>"
            head += f" {text(stack.start.reason)}</div>"
        elif stack.start.code:
            head += (
                f"<div>pam_start: {code_span(stack.start.code)} {text(stack.start.reason)}</div>"
            )
        if self.function and self.codes:
            head += f"<div class='dim'>codes from {text(self.function)}</div>"
        elif self.function:
            head += f"<div class='dim'>{text(self.function)}: no per-line codes recorded</div>"
        rows = []
        for origin, rule, module_type, mark, state in self._rows():
            indent = "&nbsp;&nbsp;" * rule.level
            where = short_where(rule.file, rule.line, stack.confdir)
            got = ""
            if mark is not None:
                got = code_span(mark[0]) + (f" {text(mark[1])}" if mark[1] else "")
            row = ""
            if state == "decided":
                got += " <span class='decided'>&#9664; decided</span>"
                row = " class='decided-row'"
            elif state == "not run":
                got = "<span class='dim'>not run</span>"
                row = " class='dim'"
            status = (
                "" if rule.status == "found" else f"<span class='bad'>{text(rule.status)}</span>"
            )
            rows.append(
                f"<tr{row}><td>{text(module_type)}{' (other)' if origin else ''}</td>"
                f"<td>{indent}{text(rule.control)}</td><td>{text(self._shown(_rule_text(rule)))}</td>"
                f"<td class='dim where'>{text(where)}</td><td>{status}</td>"
                f"<td class='code'>{got}</td></tr>"
            )
        findings = "".join(
            f"<div class='dim'>{text(self._shown(str(f)))}</div>" for f in stack.findings
        )
        table = (
            "<table><tr><th>type</th><th>control</th><th>module</th><th>line</th><th></th>"
            f"<th>code</th></tr>{''.join(rows)}</table>"
        )
        return f'{CSS}<div class="pamx">{head}{table}{findings}</div>'

    def __repr__(self) -> str:
        stack = self.stack
        lines = [f"{stack.service}  ({self._shown(stack.source or 'no file')})"]
        if stack.start.crash:
            lines.append(f"  pam_start crashes: {stack.start.crash} {stack.start.reason}")
        elif stack.start.code:
            lines.append(f"  pam_start: {code_label(stack.start.code)} {stack.start.reason}")
        for origin, rule, module_type, mark, state in self._rows():
            got = "" if mark is None else f"  -> {code_label(mark[0])} {mark[1]}".rstrip()
            if state == "decided":
                got += "  <- decided"
            elif state == "not run":
                got = "  (not run)"
            status = "" if rule.status == "found" else f"  [{rule.status}]"
            where = short_where(rule.file, rule.line, stack.confdir)
            kind = f"{module_type}{' (other)' if origin else ''}"
            lines.append(
                f"  {kind:<9} {'  ' * rule.level}{rule.control:<12} "
                f"{visible(self._shown(_rule_text(rule)))}  {visible(where)}{status}{got}"
            )
        lines += [f"  {visible(self._shown(str(f)))}" for f in stack.findings]
        return "\n".join(lines)


@dataclass(frozen=True)
class CodeTable:
    """The return codes: number, name, ``pam_strerror`` text, explanation."""

    infos: tuple[CodeInfo, ...]

    def _repr_html_(self) -> str:
        return code_table_html(self.infos)

    def __repr__(self) -> str:
        if len(self.infos) == 1:
            return code_info_text(self.infos[0])
        return code_table_text(self.infos)

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, index: int) -> CodeInfo:
        return self.infos[index]


@dataclass(frozen=True)
class SimulationView:
    """What the dispatcher predicts, call by call, with the path through the stack."""

    simulation: Simulation
    confdir: str | None = None

    def _repr_html_(self) -> str:
        sim = self.simulation
        parts = [f"<div><b>{text(sim.service)}</b> (simulated: no module ran)</div>"]
        if sim.start.crash:
            parts.append(f"<div><span class='crash'>pam_start crashes: {text(sim.start.crash)}")
            parts.append("</span></div>")
        for call in sim.calls:
            parts.append(
                f"<div><b>{text(call.function)}</b> &rarr; {code_span(call.code)} "
                f"{text(call.text)}</div>"
            )
            for step in call.path:
                where = short_where(step.file, step.line, self.confdir)
                assumed = " (assumed)" if step.assumed else ""
                parts.append(
                    f"<div class='msg'>{text(where)} {text(step.module)} {code_span(step.code)}"
                    f"{text(assumed)} &rarr; {text(step.action)} "
                    f"{text(shown_lab_text(step.note, self.confdir))}</div>"
                )
        return f'{CSS}<div class="pamx">{"".join(parts)}</div>'

    def __repr__(self) -> str:
        sim = self.simulation
        lines = [f"{visible(sim.service)} (simulated)"]
        if sim.start.crash:
            lines.append(f"  pam_start crashes: {visible(sim.start.crash)}")
        for call in sim.calls:
            lines.append(f"  {call.function}  {code_label(call.code)}  {call.text}")
            for step in call.path:
                where = short_where(step.file, step.line, self.confdir)
                assumed = " (assumed)" if step.assumed else ""
                module = visible(step.module)
                lines.append(
                    f"      {visible(where)} {module} {code_label(step.code)}{assumed}"
                    f" -> {step.action} {visible(shown_lab_text(step.note, self.confdir))}".rstrip()
                )
        return "\n".join(lines)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.simulation, name)


def _step_code(step: StepResult) -> str:
    return "-" if step.code is None else code_label(step.code)


@dataclass(frozen=True)
class ProfileRunView:
    """A profile run: its status, then each step with its code and what differed."""

    result: ProfileResult

    def _repr_html_(self) -> str:
        res = self.result
        status_class = "ok" if res.ok else "bad"
        parts = [
            f"<div><b>{text(res.title)}</b> <span class='{status_class}'>"
            f"{text(res.status.upper())}</span> {text(res.reason or '')}</div>"
        ]
        for step in res.steps:
            code = "" if step.code is None else code_span(step.code)
            parts.append(
                f"<div class='msg'>{text(step.step)} &rarr; {code} {text(step.text)} "
                f"<span class='dim'>{text(step.status)}</span></div>"
            )
            parts += [f"<div class='msg bad'>{text(p)}</div>" for p in step.problems]
            for message in step.messages:
                parts.append(f"<div class='msg dim'>{text(message.get('text', ''))}</div>")
            parts += [f"<div class='msg dim'>log {text(line)}</div>" for line in step.log]
            if step.decided_by:
                parts.append(f"<div class='msg decided'>decided by {text(step.decided_by)}</div>")
        return f'{CSS}<div class="pamx">{"".join(parts)}</div>'

    def __repr__(self) -> str:
        res = self.result
        lines = [f"{res.title}: {res.status.upper()} {res.reason or ''}".rstrip()]
        for step in res.steps:
            lines.append(f"  {step.step:<28} {_step_code(step):<24} {step.status}")
            lines += [f"      {visible(p)}" for p in step.problems]
            lines += [f"      log {visible(line)}" for line in step.log]
            if step.decided_by:
                lines.append(f"      decided by {visible(step.decided_by)}")
        return "\n".join(lines)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.result, name)


@dataclass
class TimelineView:
    """A transaction's calls as they happened, then the crash that ended it, if any."""

    title: str
    records: Sequence[CallRecord]
    crash: str | None = None
    crash_output: Sequence[str] = ()

    def _repr_html_(self) -> str:
        body = "".join(f"<div>{record_body(r)}</div>" for r in self.records)
        if self.crash:
            body += crash_body(self.crash, self.crash_output)
        return f'{CSS}<div class="pamx"><div><b>{text(self.title)}</b></div>{body}</div>'

    def __repr__(self) -> str:
        lines = [self.title, *(record_text(r) for r in self.records)]
        if self.crash:
            lines.append(f"CRASH: {self.crash}")
            lines += [f"    output: {visible(line)}" for line in self.crash_output]
        return "\n".join(lines)
