"""The PAM environment (``pam_getenvlist``) and a line to ``pam_putenv``."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from pamexplorer.tui.render import shown_line
from pamexplorer.tui.screens.modal import Dialog


def render_env(env: dict[str, str]) -> Text:
    if not env:
        return Text("(the PAM environment is empty)", style="dim")
    text = Text()
    for i, (key, value) in enumerate(env.items()):
        if i:
            text.append("\n")
        text.append(shown_line(key), style="bold")
        text.append("=")
        text.append(shown_line(value))
    return text


class EnvironmentModal(Dialog[str]):
    """Dismisses with a ``NAME=value`` (set) or ``NAME`` (unset) to pass to pam_putenv."""

    BINDINGS = [Binding("escape", "cancel", "Close")]
    AUTO_FOCUS = "#env-input"

    def __init__(self, env: dict[str, str], open_transaction: bool) -> None:
        super().__init__()
        self.env = env
        self.open_transaction = open_transaction

    def compose(self) -> ComposeResult:
        with Vertical(id="env-box", classes="dialog") as box:
            box.border_title = "PAM environment"
            yield Static(render_env(self.env), id="env-list")
            yield Input(placeholder="NAME=value to set, NAME to unset", id="env-input")
            where = "pam_putenv now" if self.open_transaction else "set after the next pam_start"
            yield Static(Text(f"enter: {where} · escape closes"), classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)
