"""Edit the PAM items a person may set: tty, rhost, ruser, xdisplay, user_prompt, ..."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from pamexplorer.pam.codes import SETTABLE_ITEMS

ITEM_NAMES: tuple[str, ...] = tuple(item.short for item in SETTABLE_ITEMS)


class ItemsModal(ModalScreen[dict[str, str] | None]):
    """Dismisses with the items whose value changed (empty string: leave unset)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, values: dict[str, str | None]) -> None:
        super().__init__()
        self.values = values

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="items-box", classes="dialog") as box:
            box.border_title = "PAM items"
            for name in ITEM_NAMES:
                with Horizontal(classes="item-row"):
                    yield Label(Text(name), classes="item-name")
                    field = Input(self.values.get(name) or "", id=f"item-{name}")
                    if getattr(self.app, "stable", False):
                        field.cursor_blink = False
                    yield field
            yield Static(
                Text("tab moves · enter sets the changed items · escape cancels"), classes="hint"
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        changed: dict[str, str] = {}
        for name in ITEM_NAMES:
            value = self.query_one(f"#item-{name}", Input).value
            if value != (self.values.get(name) or ""):
                changed[name] = value
        self.dismiss(changed)

    def action_cancel(self) -> None:
        self.dismiss(None)
