"""The timeline of a transaction: one entry per call, crash, item change or live message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from pamexplorer.pam.codes import MessageStyle, flag_names
from pamexplorer.tui.render import FAIL_MARK, OK_MARK, code_label, code_style, duration_text

if TYPE_CHECKING:
    from pamexplorer.pam.conversation import Message
    from pamexplorer.pam.records import CallRecord

EntryKind = Literal["call", "running", "crash", "note"]

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


def call_head(function: str, flags: int) -> Text:
    """``pam_setcred(PAM_ESTABLISH_CRED)``, or the bare name when no flag is passed (as
    ``call`` prints it)."""
    if not flags:
        return Text(function, style="bold")
    return Text.assemble((function, "bold"), f"({'|'.join(flag_names(flags))})")


def render_entry(entry: Entry, stable: bool) -> Text:
    if entry.kind == "call" and entry.record is not None:
        return render_record(entry.record, stable)
    text = Text()
    if entry.kind == "running":
        text.append("… ", style="bold yellow")
        text.append_text(call_head(entry.title, entry.flags))
        text.append("  running (k aborts)", style="yellow")
        for message in entry.live:
            text.append("\n")
            text.append_text(message_line(message.style, message.text, None))
    elif entry.kind == "crash":
        text.append(f"{FAIL_MARK} ", style="bold red")
        text.append(entry.title, style="bold red")
        if entry.detail:
            text.append("\n    ")
            text.append(entry.detail, style="red")
    else:
        text.append("· ", style="dim")
        text.append(entry.title)
        if entry.detail:
            text.append("\n    ")
            text.append(entry.detail, style="dim")
    return text


def message_line(style: MessageStyle, text: str, answer: str | None) -> Text:
    line = Text("    ")
    line.append(_STYLE_MARK.get(style, "?") + " ", style="bold cyan")
    line.append(text)
    if style.is_prompt:
        line.append(" ")
        line.append(answer if answer is not None else "(no answer)", style="italic")
    return line


def render_record(record: CallRecord, stable: bool) -> Text:
    text = Text()
    mark = OK_MARK if record.code == 0 else FAIL_MARK
    text.append(f"{mark} ", style=code_style(record.code))
    text.append_text(call_head(record.function, record.flags))
    text.append("  ")
    text.append(code_label(record.code), style=code_style(record.code))
    text.append("  ")
    text.append(record.text, style="italic")
    text.append("  ")
    text.append(duration_text(record.duration_ms, stable), style="dim")
    for exchange in record.messages:
        text.append("\n")
        text.append_text(message_line(exchange.style, exchange.text, exchange.answer))
    for line in record.output:
        text.append("\n    > ", style="dim")
        text.append(line, style="dim")
    if record.fail_delay_us:
        text.append(f"\n    fail delay requested: {record.fail_delay_us} µs", style="dim")
    return text


class Timeline(OptionList):
    """Calls in the order they ran; the highlighted one is explained in the detail pane."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.entries: list[Entry] = []

    @property
    def stable(self) -> bool:
        return bool(getattr(self.app, "stable", False))

    def add(self, entry: Entry) -> int:
        self.entries.append(entry)
        self.add_option(Option(render_entry(entry, self.stable)))
        index = len(self.entries) - 1
        self.highlighted = index
        self.follow()
        return index

    def follow(self) -> None:
        """Keep the highlighted (newest) entry in view once its new height is laid out."""
        self.call_after_refresh(self.scroll_to_highlight)

    def refresh_entry(self, index: int) -> None:
        self.replace_option_prompt_at_index(index, render_entry(self.entries[index], self.stable))

    def replace(self, index: int, entry: Entry) -> None:
        self.entries[index] = entry
        self.refresh_entry(index)
        self.highlighted = None
        self.highlighted = index
        self.follow()

    @property
    def selected_entry(self) -> Entry | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.entries):
            return None
        return self.entries[self.highlighted]
