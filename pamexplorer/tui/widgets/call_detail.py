"""The detail pane: what the selected call's code means and the items and PAM environment
after it, or the selected rule of the stack as written."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from pamexplorer.explain import explain_call
from pamexplorer.pam.codes import describe
from pamexplorer.pam.records import CallRecord, LogLine, ModuleCall
from pamexplorer.pam.text import fail_delay_text
from pamexplorer.tui.render import code_explanation, code_label, code_style, shown, shown_line
from pamexplorer.tui.stack_rows import RowTrace, StackRow
from pamexplorer.tui.widgets.stack_view import log_line, rule_detail
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


def render_detail(entry: Entry | None, hide_ms: bool = False, confdir: Path | None = None) -> Text:
    if entry is None:
        return Text(KEYS_HELP, style="dim")
    if entry.record is None:
        text = Text(shown(entry.title), style="bold")
        if entry.detail:
            text.append("\n")
            text.append(shown(entry.detail))
        return text
    return render_record_detail(entry.record, hide_ms, confdir)


def trace_summary(record: CallRecord, confdir: Path | None = None) -> Text:
    """What the trace says about the call: the code in its context, the deciding rule, the
    lines libpam and the modules logged (or why there is no trace)."""
    text = Text()
    trace = record.trace
    if trace is None:
        return text
    if not trace.available:
        text.append(f"\ntrace unavailable: {shown_line(trace.reason)}", style="yellow")
        return text
    context = explain_call(record.function, record.code, trace)
    if context:
        text.append("\n")
        text.append(shown_line(context), style="bold")
    if trace.status != "traced":
        text.append(f"\ntrace {trace.status}: {shown_line(trace.reason)}", style="yellow")
    decided = trace.decided_by_text
    if decided:
        text.append("\nDecided by ", style="bold")
        text.append(shown_line(decided), style="bold yellow")
    if trace.disagreement:
        text.append("\n")
        text.append(shown_line(trace.disagreement), style="bold red")
    if trace.crashed:
        text.append("\nThe call crashed: the trace stops where it did.", style="bold red")
    lines: list[tuple[ModuleCall | None, LogLine]] = [(None, line) for line in trace.log]
    lines += [(m, line) for m in trace.modules for line in m.log]
    if lines:
        text.append("\nLog lines:", style="bold")
        for entry, line in lines:
            where = f" ({entry.where})" if entry is not None else " (libpam)"
            text.append_text(log_line(line, "  ", confdir))
            text.append(shown_line(where), style="dim")
    elif trace.status == "traced" and trace.modules:
        text.append("\nNo module logged anything.", style="dim")
    return text


def render_record_detail(
    record: CallRecord, hide_ms: bool = False, confdir: Path | None = None
) -> Text:
    if record.function == "pam_end":
        text = Text(code_label(record.code), style=code_style(record.code))
        text.append("\n")
        text.append(PAM_END)
        return text
    info = describe(record.code)
    text = Text()
    text.append(code_label(record.code), style=code_style(record.code))
    text.append("  ")
    text.append(info.text, style="italic")
    text.append_text(trace_summary(record, confdir))
    text.append("\n")
    text.append_text(code_explanation(info, head=False))
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
        text.append(f"\n{fail_delay_text(record.fail_delay_us).capitalize()}", style="bold")
    return text


class CallDetail(VerticalScroll):
    """Scrollable explanation of the highlighted timeline entry or stack rule."""

    #: The service files' directory: a lab's shows as ``@LAB@`` in log lines.
    confdir: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static(render_detail(None), id="call-detail-text")

    @property
    def hide_ms(self) -> bool:
        return bool(getattr(self.app, "hide_durations", False))

    def show(self, entry: Entry | None) -> None:
        self.query_one("#call-detail-text", Static).update(
            render_detail(entry, self.hide_ms, self.confdir)
        )
        self.border_title = "Selected call"

    def show_rule(self, row: StackRow, traced: RowTrace | None = None) -> None:
        self.query_one("#call-detail-text", Static).update(
            rule_detail(row, traced, self.hide_ms, self.confdir)
        )
        self.border_title = "Selected rule"
