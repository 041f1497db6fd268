"""Choose the flags of the next call (``f``) or of ``pam_setcred`` (``c``).

Each flag shows ``[x]`` or ``[ ]`` in text, so the choice reads the same without colour.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static

from pamexplorer.pam.codes import Flag
from pamexplorer.tui.screens.modal import Dialog

FLAGS: tuple[Flag, ...] = tuple(Flag)


class FlagsModal(Dialog[int]):
    """Space toggles a flag, Enter uses the selection, Escape leaves things as they were."""

    BINDINGS = [
        Binding("space", "toggle_flag", "Toggle", priority=True),
        Binding("enter", "use", "Use flags", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, selected: int, accepted: int | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.selected = int(selected)
        self.accepted = accepted

    def label(self, flag: Flag) -> Text:
        text = Text("[x] " if self.selected & flag else "[ ] ", style="bold")
        text.append(flag.name or hex(flag.value))
        text.append(f"  {flag.value:#06x}", style="dim")
        if self.accepted is not None and not flag & self.accepted:
            text.append("  not for this call", style="dim")
        return text

    def compose(self) -> ComposeResult:
        with Vertical(id="flags-box", classes="dialog") as box:
            box.border_title = self.title_text
            yield OptionList(*(self.label(flag) for flag in FLAGS), id="flags-list")
            yield Static(Text("space toggles · enter uses · escape cancels"), classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(OptionList).highlighted = 0

    def action_toggle_flag(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        flag = FLAGS[options.highlighted]
        self.selected ^= flag.value
        options.replace_option_prompt_at_index(options.highlighted, self.label(flag))

    def action_use(self) -> None:
        self.dismiss(self.selected)
