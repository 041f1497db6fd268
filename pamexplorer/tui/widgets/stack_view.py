"""The resolved stack of a service: one line per rule (``line control module args``), a heading
per type, include/substack marks; the rules of the type the current call runs are highlighted.

The stack is read in a thread worker (service files, ELF headers of modules): never on the event
loop. A highlighted rule is announced with :class:`StackView.RuleHighlighted`, so a screen can
show the rule as written in its detail pane.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pamexplorer.tui.stack_rows import CONTROL_WIDTH, StackRow, load_stack_rows


@dataclass(frozen=True)
class StackLines:
    """What the view shows: the rows and pam_start's problem, if any."""

    rows: tuple[StackRow, ...] = ()
    error: str | None = None


def heading(module_type: str, highlighted: bool, first: StackRow) -> Text:
    text = Text(f" {module_type} ", style="bold reverse" if highlighted else "bold")
    if highlighted:
        text.append(" ◀ this call", style="bold")
    if first.from_other:
        text.append("  from other", style="dim")
    return text


def rule_line(row: StackRow, highlighted: bool) -> Text:
    """``  17 succ→23     pam_unix.so nullok``: the line, the control (cut to fit), the module,
    its status when it is not fine, the arguments dimmed."""
    text = Text("  " * row.depth)
    text.append(f"{row.line:>3} ", style="dim")
    text.append("-" if row.quiet else " ", style="bold yellow")
    text.append(f"{row.short_control:<{CONTROL_WIDTH}}", style="bold" if highlighted else "")
    text.append(" ")
    text.append(row.module, style="" if row.status_ok else "red")
    if row.status:
        text.append(f" ({row.status})", style="" if row.status_ok else "bold red")
    if row.args:
        text.append(" " + " ".join(row.args), style="dim")
    return text


def rule_detail(row: StackRow) -> Text:
    """The rule as written, where it is, where its jumps land, its module's status."""
    text = Text()
    text.append(row.where, style="bold")
    if row.mark:
        text.append(f"  ({row.mark})", style="cyan")
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


class StackView(OptionList):
    """Shows a service's resolved stack; ``highlight`` names the module type in use."""

    highlight: reactive[str | None] = reactive(None, init=False)
    lines: reactive[StackLines | None] = reactive(None, always_update=True, init=False)

    @dataclass
    class RuleHighlighted(Message):
        """The cursor is on a rule (``None``: on a heading, or the stack was reloaded)."""

        view: StackView
        row: StackRow | None

    @dataclass
    class Loaded(Message):
        view: StackView

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[StackRow] = []  # option index -> rule; headings and marks are disabled
        self.option_rows: list[StackRow | None] = []

    @property
    def error(self) -> str | None:
        return self.lines.error if self.lines else None

    def load(self, service: str, confdir: Path | None) -> None:
        """Read ``service``'s stack in a thread; the view updates when it is read."""
        self.read_stack(service, confdir)

    @work(thread=True, exclusive=True, group="stack")
    def read_stack(self, service: str, confdir: Path | None) -> None:
        try:
            rows, error = load_stack_rows(service, confdir)
        except Exception as err:  # the stack layer never raises on bad files; keep it that way
            rows, error = [], f"cannot read the stack: {type(err).__name__}: {err}"
        self.app.call_from_thread(self.set_lines, StackLines(tuple(rows), error))

    def set_lines(self, lines: StackLines) -> None:
        self.lines = lines

    def watch_lines(self, lines: StackLines | None) -> None:
        self.render_rows()
        self.post_message(self.Loaded(self))

    def watch_highlight(self, highlight: str | None) -> None:
        self.render_rows()

    def render_rows(self) -> None:
        lines = self.lines or StackLines()
        keep = self.highlighted
        self.rows = list(lines.rows)
        options: list[Option] = []
        owners: list[StackRow | None] = []

        def add(prompt: Text, row: StackRow | None = None) -> None:
            options.append(Option(prompt, disabled=row is None))
            owners.append(row)

        if lines.error:
            add(Text(lines.error, style="bold red"))
        current: str | None = None
        origin = ""
        for row in lines.rows:
            if row.type != current:
                if current is not None:
                    add(Text(""))
                current = row.type
                origin = ""
                add(heading(row.type, row.type == self.highlight, row))
            if row.mark != origin:
                indent = "  " * row.depth
                if row.mark:
                    add(Text(f"{indent}↳ {row.mark}", style="cyan"))
                else:
                    add(Text(f"{indent}↲ {row.file}", style="cyan"))
                origin = row.mark
            add(rule_line(row, row.type == self.highlight), row)
        if not lines.rows and not lines.error and self.lines is not None:
            add(Text("(no rules)", style="dim"))
        self.option_rows = owners
        self.set_options(options)
        if keep is not None and keep < len(options) and not options[keep].disabled:
            self.highlighted = keep

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        index = event.option_index
        row = self.option_rows[index] if 0 <= index < len(self.option_rows) else None
        self.post_message(self.RuleHighlighted(self, row))

    @property
    def selected_row(self) -> StackRow | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.option_rows):
            return None
        return self.option_rows[index]
