"""Edit the PAM items a person may set: tty, rhost, ruser, xdisplay, user_prompt, ...

The first field has the focus on open; Tab moves between fields without selecting their text,
so a key typed after Tab adds to a value instead of replacing it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static

from pamexplorer.pam.codes import SETTABLE_ITEMS
from pamexplorer.tui.render import shown_line
from pamexplorer.tui.screens.modal import Dialog

ITEM_NAMES: tuple[str, ...] = tuple(item.short for item in SETTABLE_ITEMS)


class ItemsModal(Dialog[dict[str, str]]):
    """Dismisses with the items whose value changed (empty string: leave unset)."""

    AUTO_FOCUS = f"#item-{ITEM_NAMES[0]}"

    def __init__(self, values: dict[str, str | None]) -> None:
        super().__init__()
        self.values = values

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="items-box", classes="dialog", can_focus=False) as box:
            box.border_title = "PAM items"
            for name in ITEM_NAMES:
                with Horizontal(classes="item-row"):
                    yield Label(Text(name), classes="item-name")
                    yield Input(self.start_value(name), id=f"item-{name}", select_on_focus=False)
            yield Static(
                Text("tab moves · enter sets the changed items · escape cancels"), classes="hint"
            )

    def start_value(self, name: str) -> str:
        """The value as the field shows it: a module's control characters escaped."""
        return shown_line(self.values.get(name) or "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        changed: dict[str, str] = {}
        for name in ITEM_NAMES:
            value = self.query_one(f"#item-{name}", Input).value
            if value != self.start_value(name):
                changed[name] = value
        self.dismiss(changed)
