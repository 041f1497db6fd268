"""The timeline of a transaction: one entry per call, crash, item change or live message.

Rendering stays linear in the number of messages: while a call runs, its live messages are
counted and only the newest few are drawn, at most every :data:`LIVE_REFRESH_S`; a finished
call draws its first :data:`MESSAGES_SHOWN` messages and says how many more there were. Text
from modules goes through :func:`render.shown` (control characters escaped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, cast

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pamexplorer.pam.codes import MessageStyle, flag_names
from pamexplorer.pam.text import fail_delay_text
from pamexplorer.tui.render import (
    FAIL_MARK,
    OK_MARK,
    code_label,
    code_style,
    duration_text,
    shown,
    shown_line,
)

if TYPE_CHECKING:
    from pamexplorer.pam.records import CallRecord, Message, Trace
    from pamexplorer.tui.app import PamExplorerApp

EntryKind = Literal["call", "running", "crash", "note", "separator"]

#: Messages drawn under a finished call; the rest are counted.
MESSAGES_SHOWN = 200
#: Messages drawn under a running call (the newest ones).
LIVE_TAIL = 8
#: How often a running call's entry is redrawn while messages arrive.
LIVE_REFRESH_S = 0.1

_STYLE_MARK = {
    MessageStyle.PAM_PROMPT_ECHO_OFF: "?",
    MessageStyle.PAM_PROMPT_ECHO_ON: "?",
    MessageStyle.PAM_ERROR_MSG: "!",
    MessageStyle.PAM_TEXT_INFO: "i",
}


@dataclass
class Entry:
    """What one line group of the timeline shows; ``record`` is set for finished calls."""

    kind: EntryKind
    title: str
    record: CallRecord | None = None
    flags: int = 0
    detail: str = ""
    live: list[Message] = field(default_factory=list)
    #: A crashed call's trace, up to where the engine child stopped (secrets scrubbed).
    trace: Trace | None = None
    #: The libpam function a crash happened in (``pam_authenticate``).
    function: str = ""


def call_head(function: str, flags: int) -> Text:
    """``pam_setcred(PAM_ESTABLISH_CRED)``, or the bare name when no flag is passed (as
    ``call`` prints it)."""
    if not flags:
        return Text(function, style="bold")
    return Text.assemble((function, "bold"), f"({'|'.join(flag_names(flags))})")


def render_entry(entry: Entry, hide_durations: bool) -> Text:
    if entry.kind == "call" and entry.record is not None:
        return render_record(entry.record, hide_durations)
    text = Text()
    if entry.kind == "running":
        text.append("… ", style="bold yellow")
        text.append_text(call_head(entry.title, entry.flags))
        text.append("  running (k aborts)", style="yellow")
        hidden = len(entry.live) - LIVE_TAIL
        if hidden > 0:
            text.append(f"\n    … {hidden:,} earlier messages", style="dim")
        for message in entry.live[-LIVE_TAIL:]:
            text.append("\n")
            text.append_text(message_line(message.style, message.text, None, asking=True))
    elif entry.kind == "crash":
        text.append(f"{FAIL_MARK} ", style="bold red")
        text.append(shown(entry.title), style="bold red")
        if entry.detail:
            text.append("\n    ")
            text.append(shown(entry.detail), style="red")
    elif entry.kind == "separator":
        text.append(f"── {entry.title} ", style="dim")
        text.append("─" * 40, style="dim")
    else:
        text.append("· ", style="dim")
        text.append(shown(entry.title))
        if entry.detail:
            text.append("\n    ")
            text.append(shown(entry.detail), style="dim")
    return text


def message_line(style: MessageStyle, text: str, answer: str | None, asking: bool = False) -> Text:
    """``    i Welcome``; a multi-line message keeps its lines, indented under the first."""
    line = Text("    ")
    line.append(_STYLE_MARK.get(style, "?") + " ", style="bold cyan")
    line.append(shown(text).replace("\n", "\n      "))
    if style.is_prompt:
        line.append(" ")
        if answer is not None:
            line.append(shown_line(answer), style="italic")
        else:
            line.append("(asking)" if asking else "(no answer)", style="italic")
    return line


def render_record(record: CallRecord, hide_durations: bool) -> Text:
    text = Text()
    mark = OK_MARK if record.code == 0 else FAIL_MARK
    text.append(f"{mark} ", style=code_style(record.code))
    text.append_text(call_head(record.function, record.flags))
    text.append("  ")
    text.append(code_label(record.code), style=code_style(record.code))
    text.append("  ")
    text.append(shown_line(record.text), style="italic")
    text.append("  ")
    text.append(duration_text(record.duration_ms, hide_durations), style="dim")
    for exchange in record.messages[:MESSAGES_SHOWN]:
        text.append("\n")
        text.append_text(message_line(exchange.style, exchange.text, exchange.answer))
    more = len(record.messages) - MESSAGES_SHOWN
    if more > 0:
        text.append(f"\n    … {more:,} more messages not shown", style="dim")
    for line in record.output[:MESSAGES_SHOWN]:
        text.append("\n    > ", style="dim")
        text.append(shown_line(line), style="dim")
    more = len(record.output) - MESSAGES_SHOWN
    if more > 0:
        text.append(f"\n    … {more:,} more output lines not shown", style="dim")
    if record.fail_delay_us:
        text.append(f"\n    {fail_delay_text(record.fail_delay_us)}", style="dim")
    return text


class Timeline(OptionList):
    """Calls in the order they ran; the highlighted one is explained in the detail pane."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []
        self._live_index: int | None = None
        self._live_pending = False

    @property
    def hide_durations(self) -> bool:
        return cast("PamExplorerApp", self.app).hide_durations

    def add(self, entry: Entry) -> int:
        self.entries.append(entry)
        self.add_option(
            Option(render_entry(entry, self.hide_durations), disabled=entry.kind == "separator")
        )
        index = len(self.entries) - 1
        if entry.kind != "separator":
            self.highlighted = index
        self.follow()
        return index

    def separate(self, title: str) -> None:
        """A rule between transactions (none before the first)."""
        if any(e.kind != "separator" for e in self.entries):
            self.add(Entry("separator", title))

    def follow(self) -> None:
        """Keep the highlighted (newest) entry in view once its new height is laid out."""
        self.call_after_refresh(self.scroll_to_highlight)

    def refresh_entry(self, index: int) -> None:
        self.replace_option_prompt_at_index(
            index, render_entry(self.entries[index], self.hide_durations)
        )

    def add_live(self, index: int, message: Message) -> None:
        """A message arriving during a call: kept at once, drawn with the next redraw (at most
        every LIVE_REFRESH_S), so thousands of messages cost thousands of appends, not
        thousands of redraws."""
        self.entries[index].live.append(message)
        self._live_index = index
        if not self._live_pending:
            self._live_pending = True
            self.set_timer(LIVE_REFRESH_S, self._draw_live)

    def _draw_live(self) -> None:
        self._live_pending = False
        index = self._live_index
        if index is not None and self.entries[index].kind == "running":
            self.refresh_entry(index)
            self.follow()

    def replace(self, index: int, entry: Entry) -> None:
        self.entries[index] = entry
        if self._live_index == index:
            self._live_index = None
        self.refresh_entry(index)
        self.highlighted = None
        self.highlighted = index
        self.follow()

    def clear(self) -> None:
        self.entries.clear()
        self._live_index = None
        self.clear_options()

    @property
    def selected_entry(self) -> Entry | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.entries):
            return None
        return self.entries[self.highlighted]
