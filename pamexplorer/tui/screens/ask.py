"""A one-line question, e.g. the user name for the next ``pam_start``."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class AskModal(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, question: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.title_text
            yield Static(Text(self.question))
            field = Input(self.value, id="ask-input")
            if getattr(self.app, "stable", False):
                field.cursor_blink = False
            yield field
            yield Static(Text("enter saves · escape cancels"), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
