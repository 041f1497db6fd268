"""Choose the flags of the next call (``f``) or of ``pam_setcred`` (``c``)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from pamexplorer.pam.codes import Flag


class FlagsModal(ModalScreen[int | None]):
    """Space toggles a flag, Enter uses the selection, Escape leaves things as they were."""

    BINDINGS = [
        Binding("enter", "use", "Use flags", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, selected: int, accepted: int | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.selected = selected
        self.accepted = accepted

    def compose(self) -> ComposeResult:
        with Vertical(id="flags-box", classes="dialog") as box:
            box.border_title = self.title_text
            selections = []
            for flag in Flag:
                label = Text(flag.name or hex(flag.value))
                label.append(f"  {flag.value:#06x}", style="dim")
                if self.accepted is not None and not flag & self.accepted:
                    label.append("  (not accepted: libpam may refuse)", style="dim")
                selections.append(Selection(label, flag.value, bool(self.selected & flag)))
            yield SelectionList[int](*selections, id="flags-list")
            yield Static(Text("space toggles · enter uses · escape cancels"), classes="hint")

    def action_use(self) -> None:
        flags = 0
        for value in self.query_one(SelectionList).selected:
            flags |= int(value)
        self.dismiss(flags)

    def action_cancel(self) -> None:
        self.dismiss(None)
