"""The service picker: system (or confdir) services and the lab, filtered as you type."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList
from textual.widgets.option_list import Option

from pamexplorer.tui.render import shown_line
from pamexplorer.tui.sources import ServiceGroup, confdir_group, lab_group, system_group
from pamexplorer.tui.widgets.stack_view import StackView

if TYPE_CHECKING:
    from pamexplorer.tui.app import PamExplorerApp


class PickerScreen(Screen[None]):
    """Type to filter, up/down to move, Enter opens the highlighted service."""

    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("down", "move(1)", "Next", show=False, priority=True),
        Binding("up", "move(-1)", "Previous", show=False, priority=True),
        Binding("pagedown", "move(10)", "Page down", show=False, priority=True),
        Binding("pageup", "move(-10)", "Page up", show=False, priority=True),
        Binding("f2", "profiles", "Profiles", tooltip="Open a profile or a lab lesson"),
        Binding("f1", "app.codes", "Codes", tooltip="Return code reference"),
        Binding("escape", "clear", "Clear/Quit", tooltip="Clear the filter; quit when empty"),
    ]
    AUTO_FOCUS = "#filter"

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[ServiceGroup] = []

    @property
    def pam_app(self) -> PamExplorerApp:
        return cast("PamExplorerApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        field = Input(placeholder="type to filter services", id="filter")
        if self.pam_app.options.stable:
            field.cursor_blink = False
        yield field
        with Horizontal(id="picker-body"):
            services = OptionList(id="services")
            services.border_title = "Services"
            services.can_focus = False
            yield services
            preview = StackView(id="preview")
            preview.border_title = "Resolved stack"
            preview.can_focus = False
            yield preview
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Pick a service"
        options = self.pam_app.options
        if options.lab:
            self.groups = [lab_group()]
        elif options.confdir is not None:
            self.groups = [confdir_group(Path(options.confdir)), lab_group()]
        else:
            self.groups = [system_group(), lab_group()]
        self.fill("")

    def fill(self, query: str) -> None:
        services = self.query_one("#services", OptionList)
        needle = query.strip().lower()
        options: list[Option] = []
        first: int | None = None
        for index, group in enumerate(self.groups):
            names = [n for n in group.services if needle in n.lower()]
            if not names:
                continue
            options.append(Option(Text(shown_line(group.title), style="bold"), disabled=True))
            for name in names:
                if first is None:
                    first = len(options)
                options.append(Option(Text(f"  {shown_line(name)}"), id=f"{index}:{name}"))
        if first is None:
            options.append(
                Option(Text(f"no service matches {shown_line(repr(query))}"), disabled=True)
            )
            self.query_one(StackView).clear_options()
        services.set_options(options)  # one update, not one per service
        services.highlighted = first

    def on_input_changed(self, event: Input.Changed) -> None:
        self.fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_open()

    def action_move(self, delta: int) -> None:
        services = self.query_one("#services", OptionList)
        if services.highlighted is None:
            return
        count = services.option_count
        index = services.highlighted
        step = 1 if delta > 0 else -1
        moved = 0
        target = index
        probe = index
        while moved < abs(delta):
            probe += step
            if not 0 <= probe < count:
                break
            if not services.get_option_at_index(probe).disabled:
                target = probe
                moved += 1
        services.highlighted = target

    def selected(self) -> tuple[ServiceGroup, str] | None:
        option = self.query_one("#services", OptionList).highlighted_option
        if option is None or option.id is None:
            return None
        index, _, name = option.id.partition(":")
        return self.groups[int(index)], name

    def confdir_of(self, group: ServiceGroup) -> Path | None:
        if group.key == "lab":
            return self.pam_app.lab_dir()
        return group.confdir

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        choice = self.selected()
        if choice is None:
            return
        group, name = choice
        preview = self.query_one(StackView)
        preview.load(name, self.confdir_of(group))
        label = f"{shown_line(name)} · {group.key}"
        if group.key == "lab":
            label += f" · user {self.pam_app.user_for('lab')}"
        preview.border_subtitle = Text(label)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        choice = self.selected()
        if choice is None:
            return
        from pamexplorer.tui.screens.transaction import TransactionScreen

        group, name = choice
        self.app.push_screen(TransactionScreen(name, self.confdir_of(group), group=group.key))

    def action_clear(self) -> None:
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""
        else:
            self.app.exit(0)

    def action_profiles(self) -> None:
        from pamexplorer.tui.screens.profile_picker import ProfilePickerScreen

        self.app.push_screen(ProfilePickerScreen())
