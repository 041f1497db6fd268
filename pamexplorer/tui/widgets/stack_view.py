"""The resolved stack of a service: one line per rule, file:line, include/substack marks,
module status; the rules of the type the current call runs are highlighted."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from pamexplorer.tui.stack_rows import StackRow, load_stack_rows

TYPES = ("auth", "account", "password", "session")


def render_rows(rows: list[StackRow], highlight: str | None, error: str | None) -> Text:
    text = Text()
    if error:
        text.append(error, style="bold red")
        text.append("\n")
    current = None
    width = max((len(row.where) for row in rows), default=0)
    for row in rows:
        if row.type != current:
            current = row.type
            if text:
                text.append("\n")
            style = "bold reverse" if row.type == highlight else "bold"
            text.append(f" {row.type} ", style=style)
            if row.type == highlight:
                text.append(" ◀ current call", style="bold")
            text.append("\n")
        text.append(f" {row.where:<{width}} ", style="dim")
        text.append("  " * row.depth)
        if row.mark:
            text.append(f"{row.mark} ", style="cyan")
        text.append(row.control, style="bold" if row.type == highlight else "")
        text.append(" ")
        text.append(row.module, style="" if row.status_ok else "red")
        if row.status:
            text.append(f" ({row.status})", style="" if row.status_ok else "bold red")
        if row.args:
            text.append(" " + " ".join(row.args), style="dim")
        text.append("\n")
    if not rows and not error:
        text.append("(no rules)", style="dim")
    return text


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
