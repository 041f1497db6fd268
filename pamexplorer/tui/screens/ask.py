"""A one-line question, e.g. the user name for the next ``pam_start``."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from pamexplorer.tui.render import shown
from pamexplorer.tui.screens.modal import Dialog


class AskModal(Dialog[str]):
    AUTO_FOCUS = "#ask-input"

    def __init__(self, title: str, question: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = self.title_text
            yield Static(Text(shown(self.question)))
            yield Input(self.value, id="ask-input", select_on_focus=False)
            yield Static(Text("enter saves · escape cancels"), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)
