"""The resolved stack of a service: one line per rule, file:line, include/substack marks,
module status; the rules of the type the current call runs are highlighted."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from pamexplorer.tui.stack_rows import StackRow, load_stack_rows

TYPES = ("auth", "account", "password", "session")


def render_rows(rows: list[StackRow], highlight: str | None, error: str | None) -> Group:
    """A grid: file:line on the left, the rule (wrapping) on the right, a heading per type."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    current = None
    origin = ""
    for row in rows:
        if row.type != current:
            if current is not None:
                grid.add_row("", "")
            current = row.type
            origin = ""
            heading = Text(
                f" {row.type} ", style="bold reverse" if row.type == highlight else "bold"
            )
            marker = Text("◀ this call" if row.type == highlight else "", style="bold")
            grid.add_row(heading, marker)
        indent = "  " * row.depth
        if row.mark != origin:
            origin = row.mark
            if row.mark:
                grid.add_row("", Text(f"{indent}↳ {row.mark}", style="cyan"))
        rule = Text(indent)
        rule.append(row.control, style="bold" if row.type == highlight else "")
        rule.append(" ")
        rule.append(row.module, style="" if row.status_ok else "red")
        if row.status:
            rule.append(f" ({row.status})", style="" if row.status_ok else "bold red")
        if row.args:
            rule.append(" " + " ".join(row.args), style="dim")
        grid.add_row(Text(row.where), rule)
    parts: list[Text | Table] = []
    if error:
        parts.append(Text(error, style="bold red"))
    if rows:
        parts.append(grid)
    elif not error:
        parts.append(Text("(no rules)", style="dim"))
    return Group(*parts)


class StackView(Static):
    """Shows a service's resolved stack; ``highlight`` names the module type in use."""

    highlight: reactive[str | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[StackRow] = []
        self.error: str | None = None

    def load(self, service: str, confdir: Path | None) -> None:
        self.rows, self.error = load_stack_rows(service, confdir)
        self.update(render_rows(self.rows, self.highlight, self.error))

    def watch_highlight(self, highlight: str | None) -> None:
        self.update(render_rows(self.rows, highlight, self.error))
