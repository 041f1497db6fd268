"""The code reference: all 32 return codes with the live ``pam_strerror`` text."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from pamexplorer.pam.codes import all_codes, describe
from pamexplorer.tui.render import code_explanation


class CodeReferenceScreen(Screen[None]):
    """A table of every code; the highlighted one is explained below it."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    AUTO_FOCUS = "#codes-table"

    def __init__(self, code: int | None = None) -> None:
        super().__init__()
        self.initial_code = code

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[Text] = DataTable(id="codes-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Return codes (libpam 1.5.2)"
        yield table
        detail = Static(id="code-detail")
        detail.border_title = "Explanation"
        yield detail
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Code reference"
        table: DataTable[Text] = self.query_one(DataTable)
        table.add_column(Text("#", justify="right"), key="number", width=3)
        table.add_column("Name", key="name")
        table.add_column("pam_strerror", key="text")
        for info in all_codes():
            table.add_row(
                Text(str(info.code), justify="right"),
                Text(info.name),
                Text(info.text),
                key=str(info.code),
            )
        if self.initial_code is not None:
            table.move_cursor(row=table.get_row_index(str(self.initial_code)))
        self.show_code(self.initial_code or 0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.show_code(int(event.row_key.value))

    def show_code(self, code: int) -> None:
        self.query_one("#code-detail", Static).update(code_explanation(describe(code)))
