"""The base of every dialog: Escape closes it with ``None``; its look is the ``Dialog`` rules
of ``app.tcss``; inputs do not blink in stable mode (snapshots, screenshots)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input

if TYPE_CHECKING:
    from pamexplorer.tui.app import PamExplorerApp

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def on_mount(self) -> None:
        if cast("PamExplorerApp", self.app).options.stable:
            for field in self.query(Input):
                field.cursor_blink = False

    def action_cancel(self) -> None:
        self.dismiss(None)
