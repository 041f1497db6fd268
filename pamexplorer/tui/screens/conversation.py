"""One modal per conversation prompt. Escape cancels: the module then gets PAM_CONV_ERR."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from pamexplorer.pam.codes import MessageStyle


class ConversationModal(ModalScreen[str | None]):
    """Ask the person what a module asked; dismiss with the answer, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel (PAM_CONV_ERR)")]

    def __init__(self, style: MessageStyle, prompt: str, function: str) -> None:
        super().__init__()
        self.style = style
        self.prompt = prompt
        self.function = function

    @property
    def echo_off(self) -> bool:
        return self.style == MessageStyle.PAM_PROMPT_ECHO_OFF

    def compose(self) -> ComposeResult:
        with Vertical(id="conversation-box") as box:
            box.border_title = Text(f"{self.function} asks")
            box.border_subtitle = self.style.name
            yield Static(Text(self.prompt), id="conversation-prompt")
            field = Input(
                password=self.echo_off,
                id="conversation-answer",
                placeholder="hidden answer (echo off)" if self.echo_off else "answer (echo on)",
            )
            if getattr(self.app, "stable", False):
                field.cursor_blink = False
            yield field
            yield Static(
                Text("Enter answers · Escape cancels (the module gets PAM_CONV_ERR)"),
                id="conversation-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
