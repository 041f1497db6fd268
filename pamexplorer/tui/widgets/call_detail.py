"""The detail pane: what the selected call's code means and the items and PAM environment
after it, or the selected rule of the stack as written."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from pamexplorer.pam.codes import describe
from pamexplorer.pam.records import CallRecord
from pamexplorer.tui.render import code_explanation, code_label, code_style, shown, shown_line
from pamexplorer.tui.stack_rows import StackRow
from pamexplorer.tui.widgets.stack_view import rule_detail
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

KEYS_HELP = (
    "No call yet. Keys:\n"
    "  a authenticate · m acct_mgmt · c setcred · o open_session · x close_session\n"
    "  p chauthtok · n new transaction (pam_start) · e pam_end · k abort a call\n"
    "  f flags for the next call · i items · v PAM environment · u user\n"
    "  tab moves between stack, calls and this pane · ? codes · ctrl+p every action"
)

PAM_END = (
    "pam_end ended the transaction: libpam ran the cleanup functions modules left with "
    "pam_set_data and freed the handle. Its code says only whether the handle was valid; "
    "no module decides anything here. n starts a new transaction."
)


def render_detail(entry: Entry | None) -> Text:
    if entry is None:
        return Text(KEYS_HELP, style="dim")
    if entry.record is None:
        text = Text(shown(entry.title), style="bold")
        if entry.detail:
            text.append("\n")
            text.append(shown(entry.detail))
        return text
    return render_record_detail(entry.record)


def render_record_detail(record: CallRecord) -> Text:
    if record.function == "pam_end":
        text = Text(code_label(record.code), style=code_style(record.code))
        text.append("\n")
        text.append(PAM_END)
        return text
    text = code_explanation(describe(record.code))
    text.append("\n\nItems after the call:", style="bold")
    for name in sorted(record.items, key=lambda n: (*_ITEM_ORDER, n).index(n)):
        value = record.items[name]
        text.append(f"\n  {name:<13}")
        text.append(
            shown_line(value) if value is not None else "(unset)", style="" if value else "dim"
        )
    text.append("\nPAM environment after the call:", style="bold")
    if not record.env:
        text.append(" (empty)", style="dim")
    for key, value in record.env.items():
        text.append(f"\n  {shown_line(key)}=")
        text.append(shown_line(value))
    if record.fail_delay_us:
        text.append(f"\nFail delay requested: {record.fail_delay_us} µs", style="bold")
    return text


class CallDetail(VerticalScroll):
    """Scrollable explanation of the highlighted timeline entry or stack rule."""

    def compose(self) -> ComposeResult:
        yield Static(render_detail(None), id="call-detail-text")

    def show(self, entry: Entry | None) -> None:
        self.query_one("#call-detail-text", Static).update(render_detail(entry))
        self.border_title = "Selected call"

    def show_rule(self, row: StackRow) -> None:
        self.query_one("#call-detail-text", Static).update(rule_detail(row))
        self.border_title = "Selected rule"
