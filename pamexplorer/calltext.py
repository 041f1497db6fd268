"""Plain-text rendering of call records, shared by ``call``, ``run`` and ``simulate``.

One call is one line: ``pam_authenticate  PAM_AUTH_ERR (7)  Authentication failure  2.1 ms``,
then its conversation and module output indented under it. Color only on a terminal without
``NO_COLOR``; text from modules is never markup here, and its control characters are shown escaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TextIO

from pamexplorer.pam.codes import MessageStyle, flag_names
from pamexplorer.pam.records import CallRecord

STYLE_LABEL = {
    MessageStyle.PAM_PROMPT_ECHO_OFF: "prompt (echo off)",
    MessageStyle.PAM_PROMPT_ECHO_ON: "prompt (echo on)",
    MessageStyle.PAM_ERROR_MSG: "error",
    MessageStyle.PAM_TEXT_INFO: "info",
}

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """One line a terminal shows as written: control characters (newlines, escape sequences a
    module may send) become visible escapes instead of acting on the terminal."""
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable()
        else _ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        for ch in text
    )


def message_line(style: MessageStyle, text: str, answer: str | None) -> str:
    """``info: text`` or ``prompt (echo off): Password:  -> ********``."""
    shown = f"{STYLE_LABEL[style]}: {printable(text.rstrip(chr(10)))}"
    return shown if answer is None else f"{shown}  -> {printable(answer)}"


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, ok: bool, color: bool) -> str:
    if not color:
        return text
    return f"\x1b[{'32' if ok else '31'}m{text}\x1b[0m"


def call_head(function: str, flags: int, code: int, name: str) -> str:
    head = function if not flags else f"{function}({'|'.join(flag_names(flags))})"
    return f"{head:<18}  {f'{name} ({code})':<22}"


def call_line(record: CallRecord, color: bool = False) -> str:
    head = call_head(record.function, record.flags, record.code, record.name)
    return paint(head, record.ok, color) + f"  {record.text}  {record.duration_ms:.1f} ms"


def detail_lines(record: CallRecord, verbose: bool = False) -> Iterator[str]:
    """The indented lines under a call: messages, module output, fail delay, and with
    ``verbose`` the items and PAM environment after it."""
    for message in record.messages:
        yield f"    {message_line(message.style, message.text, message.answer)}"
    for line in record.output:
        yield f"    output: {printable(line)}"
    if record.fail_delay_us:
        yield f"    fail delay requested: {record.fail_delay_us / 1000:.0f} ms"
    if verbose:
        for key, value in record.items.items():
            if value is not None:
                yield f"    item {key} = {printable(value)}"
        for key, value in record.env.items():
            yield f"    env {printable(key)}={printable(value)}"
