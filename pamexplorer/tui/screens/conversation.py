"""One modal per conversation prompt. Escape cancels: the module then gets PAM_CONV_ERR."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.tui.render import shown, shown_line
from pamexplorer.tui.screens.modal import Dialog


class ConversationModal(Dialog[str]):
    """Ask the person what a module asked; dismiss with the answer, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel (PAM_CONV_ERR)")]
    AUTO_FOCUS = "#conversation-answer"

    def __init__(self, style: MessageStyle, prompt: str, function: str) -> None:
        super().__init__()
        self.style = style
        self.prompt = prompt
        self.function = function

    @property
    def echo_off(self) -> bool:
        return self.style == MessageStyle.PAM_PROMPT_ECHO_OFF

    def compose(self) -> ComposeResult:
        with Vertical(id="conversation-box", classes="dialog") as box:
            box.border_title = Text(f"{shown_line(self.function)} asks")
            box.border_subtitle = self.style.name
            yield Static(Text(shown(self.prompt)), id="conversation-prompt")
            yield Input(
                password=self.echo_off,
                id="conversation-answer",
                placeholder="hidden answer (echo off)" if self.echo_off else "answer (echo on)",
            )
            yield Static(
                Text("Enter answers · Escape cancels (the module gets PAM_CONV_ERR)"),
                id="conversation-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)
