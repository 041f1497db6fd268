"""Pick a profile or lab lesson: the bundled curriculum and a person's own profiles."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList
from textual.widgets.option_list import Option


class ProfilePickerScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    AUTO_FOCUS = "#profiles"

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        profiles = OptionList(id="profiles")
        profiles.border_title = "Profiles and lessons (enter opens)"
        yield profiles
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from pamexplorer.profile import discover

        self.sub_title = "Profiles"
        profiles = self.query_one(OptionList)
        for entry in discover():
            text = Text()
            text.append(f"{entry.name:<24}", style="bold")
            text.append(" ")
            if entry.error:
                text.append(entry.error, style="red")
            else:
                text.append(entry.title)
            if not entry.bundled:
                text.append("  (yours)", style="dim")
            profiles.add_option(
                Option(text, id=str(len(self.paths)), disabled=entry.error is not None)
            )
            self.paths.append(str(entry.path))
        if profiles.option_count:
            profiles.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        from pamexplorer.tui.screens.profile import ProfileScreen

        if event.option.id is not None:
            self.app.push_screen(ProfileScreen(self.paths[int(event.option.id)]))
