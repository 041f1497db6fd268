"""The detail pane: what the selected call's code means, and the items and PAM env after it."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from pamexplorer.pam.codes import describe
from pamexplorer.tui.render import code_explanation
from pamexplorer.tui.widgets.timeline import Entry

_ITEM_ORDER = (
    "service",
    "user",
    "tty",
    "rhost",
    "ruser",
    "xdisplay",
    "user_prompt",
    "authtok_type",
)


def render_detail(entry: Entry | None) -> Text:
    if entry is None:
        return Text(
            "No call yet. Press a to authenticate, m for acct_mgmt, n for a new transaction,\n"
            "? for the code reference; ctrl+p lists every action.",
            style="dim",
        )
    if entry.record is None:
        text = Text(entry.title, style="bold")
        if entry.detail:
            text.append("\n")
            text.append(entry.detail)
        return text
    record = entry.record
    text = code_explanation(describe(record.code))
    text.append("\n\nItems after the call:", style="bold")
    for name in sorted(record.items, key=lambda n: (*_ITEM_ORDER, n).index(n)):
        value = record.items[name]
        text.append(f"\n  {name:<13}")
        text.append(value if value is not None else "(unset)", style="" if value else "dim")
    text.append("\nPAM environment after the call:", style="bold")
    if not record.env:
        text.append(" (empty)", style="dim")
    for key, value in record.env.items():
        text.append(f"\n  {key}=")
        text.append(value)
    if record.fail_delay_us:
        text.append(f"\nFail delay requested: {record.fail_delay_us} µs", style="bold")
    return text


class CallDetail(VerticalScroll):
    """Scrollable explanation of the highlighted timeline entry."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(render_detail(None), id="call-detail-text")

    def show(self, entry: Entry | None) -> None:
        self.query_one("#call-detail-text", Static).update(render_detail(entry))
