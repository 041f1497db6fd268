"""The resolved stack of a service: one line per rule (``line control module args``), a heading
per type, include/substack marks; the rules of the type the current call runs are highlighted.

The stack is read in a thread worker (service files, ELF headers of modules): never on the event
loop. The rows, the stack layer and the code table load with the first stack read, not with the
view (the service picker's first frame shows the view empty). A highlighted rule is announced
with :class:`StackView.RuleHighlighted`, so a screen can show the rule as written in its detail
pane.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from pamexplorer.tui.render import code_label, code_style, duration_text, shown_line

if TYPE_CHECKING:  # loaded with the first stack read or the first call, not for the first frame
    from pamexplorer.pam.records import CallRecord, LogLine, ModuleCall, Trace
    from pamexplorer.tui.stack_rows import RowTrace, StackRow
    from pamexplorer.tui.widgets.timeline import Entry


@cache
def module_type_of(function: str) -> str | None:
    """The module type a libpam call runs (``auth`` for ``pam_authenticate``)."""
    from pamexplorer.pam.codes import Function

    try:
        return Function(function).module_type
    except ValueError:
        return None


#: pam_chauthtok's passes (libpam adds the flag), named in a rule's detail.
_PASSES = ((0x4000, "PAM_PRELIM_CHECK"), (0x2000, "PAM_UPDATE_AUTHTOK"))


@dataclass(frozen=True)
class StackLines:
    """What the view shows: the rows and pam_start's problem, if any."""

    rows: tuple[StackRow, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class TracedCall:
    """The call whose trace the stack shows: a finished call (``record``) or one that crashed
    (its trace stops where the child did)."""

    function: str
    trace: Trace | None
    record: CallRecord | None = None

    @classmethod
    def of(cls, record: CallRecord | None) -> TracedCall | None:
        return None if record is None else cls(record.function, record.trace, record)


def traced_call(entry: Entry | None) -> TracedCall | None:
    """What the stack shows for a timeline entry: a call's trace, or a crash's up to it."""
    if entry is None:
        return None
    if entry.record is not None:
        return TracedCall.of(entry.record)
    if entry.kind == "crash" and entry.trace is not None:
        return TracedCall(entry.function, entry.trace)
    return None


def trace_notes(call: TracedCall) -> list[Text]:
    """Lines under the traced type's heading: why there is no trace, a disagreement, a crash."""
    trace = call.trace
    notes: list[Text] = []
    if trace is None:
        return notes
    if not trace.available:
        notes.append(Text(f"trace unavailable: {shown_line(trace.reason)}", style="yellow"))
    elif trace.status != "traced":
        notes.append(Text(f"trace {trace.status}: {shown_line(trace.reason)}", style="yellow"))
    if trace.disagreement:
        notes.append(Text("trace and simulator disagree", style="bold red"))
    if trace.crashed:
        notes.append(Text("the call crashed: the trace stops there", style="bold red"))
    return notes


def heading(module_type: str, highlighted: bool, first: StackRow) -> Text:
    text = Text(f" {module_type} ", style="bold reverse" if highlighted else "bold")
    if highlighted:
        text.append(" ◀ this call", style="bold")
    if first.from_other:
        text.append("  from other", style="dim")
    return text


def rule_line(
    row: StackRow,
    highlighted: bool,
    traced: RowTrace | None = None,
    marks: bool = False,
    width: int | None = None,
) -> Text:
    """``  17 succ→23     pam_unix.so nullok``: the line, the control (cut to fit), the module,
    its status when it is not fine, the arguments dimmed. With the selected call's trace the
    module is followed by its code and libpam's action (``7 die``); the deciding rule is marked
    ``▶`` and stands out, a rule that did not run is dimmed. ``marks``: keep the marker column
    (a trace is shown); ``width``: the control column's width (the view's longest control)."""
    from pamexplorer.tui.stack_rows import CONTROL_WIDTH, outcome_text

    width = CONTROL_WIDTH if width is None else width
    decided = traced is not None and traced.decided
    not_run = traced is not None and not traced.ran
    text = Text("  " * row.depth, style="dim" if not_run else "")
    if marks:
        text.append("▶" if decided else " ", style="bold yellow")
    text.append(f"{row.line:>3} ", style="bold" if decided else "dim")
    text.append("-" if row.quiet else " ", style="bold yellow")
    control_style = "bold" if highlighted and not not_run else ""
    text.append(f"{row.short_control:<{width}}", style=control_style)
    text.append(" ")
    module_style = "" if row.status_ok else "red"
    if decided:
        module_style = "bold reverse"
    text.append(row.module, style=module_style)
    if traced is not None:
        entry = traced.last
        outcome = outcome_text(entry, row)
        if not entry.ran:
            style = "dim italic"
        elif entry.code == 0:
            style = "bold green" if decided else "green"
        else:
            style = "bold red" if decided else "red"
        text.append(" ")
        text.append(outcome, style=style)
    if row.status:
        text.append(f" ({row.status})", style="" if row.status_ok else "bold red")
    if row.args:
        text.append(" " + " ".join(row.args), style="dim")
    if not_run:
        text.stylize("dim")
    return text


def rule_detail(
    row: StackRow,
    traced: RowTrace | None = None,
    hide_ms: bool = False,
    confdir: Path | None = None,
) -> Text:
    """The rule as written, where it is, where its jumps land, its module's status; with the
    selected call's trace, what it did there (code, action, duration, messages, log lines)."""
    text = Text()
    text.append(row.where, style="bold")
    if row.mark:
        text.append(f"  ({row.mark})", style="cyan")
    if traced is not None:  # what it did first: the rule as written follows
        text.append(f"  in the selected {traced.function}:", style="bold")
        for entry in traced.entries:
            text.append_text(invocation_text(entry, row, hide_ms, confdir))
        if traced.decided:
            text.append("\n  ▶ this rule decided the call's code", style="bold yellow")
        text.append("\nThe rule:", style="bold")
    text.append("\n")
    text.append(row.rule_text)
    for jump in row.jumps:
        text.append(f"\n  {jump.on}: skip {jump.skip} → ", style="dim")
        text.append(f"line {jump.lands}" if jump.lands else "past the last rule", style="bold")
    if row.quiet:
        text.append(
            "\n  - prefix: if the module is missing, the rule is skipped without a log line",
            style="dim",
        )
    if row.status:
        text.append(f"\n  module: {row.status}", style="" if row.status_ok else "bold red")
    return text


def invocation_text(
    entry: ModuleCall, row: StackRow, hide_ms: bool, confdir: Path | None = None
) -> Text:
    """One invocation of the rule's module in a traced call, or why it did not run."""
    from pamexplorer.tui.stack_rows import action_text
    from pamexplorer.tui.widgets.timeline import message_line

    text = Text("\n  ")
    passes = [name for bit, name in _PASSES if entry.flags & bit]
    if passes:
        text.append(f"{'|'.join(passes)} pass: ", style="bold")
    if not entry.ran:
        text.append("not run: ", style="bold")
        text.append(shown_line(entry.skip or "not reached"), style="dim")
        return text
    if entry.code is None:
        text.append("never returned", style="bold red")
        text.append(f" ({shown_line(entry.action or 'crashed')})")
        return text
    text.append(code_label(entry.code), style=code_style(entry.code))
    text.append(" → ")
    text.append(action_text(entry, row), style="bold")
    if entry.frozen_code is not None and entry.frozen_code != entry.code:
        text.append(
            f" (libpam used the frozen chain's {code_label(entry.frozen_code)})", style="yellow"
        )
    if entry.called:
        text.append("  " + duration_text(entry.duration_ms, hide_ms), style="dim")
    else:
        text.append("  module not called: libpam took the code itself", style="dim")
    if entry.note:
        text.append(f"\n    {shown_line(entry.note)}", style="dim")
    for exchange in entry.messages:
        text.append("\n")
        text.append_text(message_line(exchange.style, exchange.text, exchange.answer))
    for line in entry.log:
        text.append_text(log_line(line, confdir=confdir))
    return text


def log_line(line: LogLine, indent: str = "    ", confdir: Path | None = None) -> Text:
    """``    log err: pam_unix(sshd:account): account bob has expired`` (the lab's directory
    shown as ``@LAB@``, as its service files write it)."""
    from pamexplorer.lab import shown_lab_text

    text = Text(f"\n{indent}")
    text.append(f"log {line.level}: ", style="bold magenta")
    text.append(shown_line(shown_lab_text(line.text, confdir)))
    return text


class StackView(OptionList):
    """Shows a service's resolved stack; ``highlight`` names the module type in use."""

    highlight: reactive[str | None] = reactive(None, init=False)
    #: The call selected in the timeline: its trace marks the rules of its type.
    call: reactive[TracedCall | None] = reactive(None, init=False)
    lines: reactive[StackLines | None] = reactive(None, always_update=True, init=False)

    @dataclass
    class RuleHighlighted(Message):
        """The cursor is on a rule (``None``: on a heading, or the stack was reloaded)."""

        view: StackView
        row: StackRow | None
        traced: RowTrace | None = None

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.option_rows: list[StackRow | None] = []
        self.option_traces: list[RowTrace | None] = []

    @work(thread=True, exclusive=True, group="stack")
    def load(self, service: str, confdir: Path | None) -> None:
        """Read ``service``'s stack in a thread; the view updates when it is read."""
        from pamexplorer.tui.stack_rows import load_stack_rows

        try:
            rows, error = load_stack_rows(service, confdir)
        except Exception as err:  # the stack layer never raises on bad files; keep it that way
            rows, error = [], f"cannot read the stack: {type(err).__name__}: {shown_line(str(err))}"
        if not get_current_worker().is_cancelled:  # a later load replaced this one
            self.app.call_from_thread(self.set_lines, StackLines(tuple(rows), error))

    def set_lines(self, lines: StackLines) -> None:
        self.lines = lines

    def watch_lines(self, lines: StackLines | None) -> None:
        self.render_rows()

    def watch_highlight(self, highlight: str | None) -> None:
        self.render_rows()

    def watch_call(self, call: TracedCall | None) -> None:
        self.render_rows()

    @property
    def trace_type(self) -> str | None:
        """The module type of the selected call, when it has a trace to show."""
        call = self.call
        if call is None or call.trace is None:
            return None
        return module_type_of(call.function)

    def render_rows(self) -> None:
        from pamexplorer.tui.stack_rows import CONTROL_WIDTH, trace_rows

        lines = self.lines or StackLines()
        keep = self.highlighted
        options: list[Option] = []
        owners: list[StackRow | None] = []
        traces: list[RowTrace | None] = []
        call = self.call
        trace = call.trace if call is not None else None
        trace_type = self.trace_type
        traced: dict[int, RowTrace] = {}
        if call is not None and trace is not None and trace.status == "traced":
            traced = trace_rows(lines.rows, call.function, trace)
        highlight = trace_type or self.highlight
        marks = bool(traced)
        width = max((len(row.short_control) for row in lines.rows), default=CONTROL_WIDTH)
        width = min(width, CONTROL_WIDTH)

        def add(prompt: Text, row: StackRow | None = None, done: RowTrace | None = None) -> None:
            options.append(Option(prompt, disabled=row is None))
            owners.append(row)
            traces.append(done)

        if lines.error:
            add(Text(lines.error, style="bold red"))
        current: str | None = None
        origin = ""
        for number, row in enumerate(lines.rows):
            if row.type != current:
                if current is not None:
                    add(Text(""))
                current = row.type
                origin = ""
                add(heading(row.type, row.type == highlight, row))
                if call is not None and trace is not None and row.type == trace_type:
                    for note in trace_notes(call):
                        add(note)
            if row.mark != origin:
                indent = "  " * row.depth
                if row.mark:
                    add(Text(f"{indent}↳ {row.mark}", style="cyan"))
                else:
                    add(Text(f"{indent}↲ {row.file}", style="cyan"))
                origin = row.mark
            done = traced.get(number)
            add(rule_line(row, row.type == highlight, done, marks, width), row, done)
        if not lines.rows and not lines.error and self.lines is not None:
            add(Text("(no rules)", style="dim"))
        self.option_rows = owners
        self.option_traces = traces
        self.set_options(options)
        if keep is not None and keep < len(options) and not options[keep].disabled:
            self.highlighted = keep

    def owner(self, index: int | None) -> tuple[StackRow | None, RowTrace | None]:
        """The rule on option ``index`` and what it did in the selected call (None: a
        heading, a note, or no option there)."""
        if index is None or not 0 <= index < len(self.option_rows):
            return None, None
        return self.option_rows[index], self.option_traces[index]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(self.RuleHighlighted(self, *self.owner(event.option_index)))

    @property
    def selected_row(self) -> StackRow | None:
        return self.owner(self.highlighted)[0]

    @property
    def selected_trace(self) -> RowTrace | None:
        """What the selected rule did in the selected call (None: no trace, or not reached)."""
        return self.owner(self.highlighted)[1]
