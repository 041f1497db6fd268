"""Plain-text rendering of call records, shared by ``call``, ``run`` and ``simulate``.

One call is one line: ``pam_authenticate  PAM_AUTH_ERR (7)  Authentication failure  2.1 ms``,
then its conversation and module output indented under it. Color only on a terminal without
``NO_COLOR``; text from modules is never markup here, and its control characters are shown escaped.
A multi-line message (a MOTD) is shown as lines, each escaped, aligned under the first.

Shared formats, so every face writes them alike: :func:`fail_delay_text` (one unit: ms),
:func:`message_lines`, :data:`CODE_WIDTH` for the result column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TextIO

from pamexplorer.pam.codes import Code, MessageStyle, flag_names
from pamexplorer.pam.records import CallRecord
from pamexplorer.pam.text import printable, printable_lines

__all__ = [
    "CODE_WIDTH",
    "HEAD_WIDTH",
    "NO_ANSWER",
    "STYLE_LABEL",
    "call_head",
    "call_line",
    "crash_lines",
    "detail_lines",
    "fail_delay_text",
    "function_head",
    "message_line",
    "message_lines",
    "output_lines",
    "paint",
    "printable",
    "printable_lines",
    "use_color",
]

STYLE_LABEL = {
    MessageStyle.PAM_PROMPT_ECHO_OFF: "prompt (echo off)",
    MessageStyle.PAM_PROMPT_ECHO_ON: "prompt (echo on)",
    MessageStyle.PAM_ERROR_MSG: "error",
    MessageStyle.PAM_TEXT_INFO: "info",
}

#: Shown for a prompt that got no answer (the conversation gave up on it).
NO_ANSWER = "no answer: the module got PAM_CONV_ERR"

#: Width of the function column (``pam_close_session`` fits; longer heads widen it per run).
HEAD_WIDTH = 18
#: Width of the result column: the longest ``NAME (N)`` libpam defines, so every line aligns.
CODE_WIDTH = max(len(f"{c.name} ({c.value})") for c in Code)


def fail_delay_text(usec: int) -> str:
    """``fail delay 2000 ms``: what a module asked ``pam_fail_delay`` for, in milliseconds,
    exact (``0.5 ms`` for 500 µs). The one format of every face."""
    ms = f"{usec / 1000:.3f}".rstrip("0").rstrip(".")
    return f"fail delay {ms} ms"


def message_lines(
    style: MessageStyle, text: str, answer: str | None, no_answer: str = NO_ANSWER
) -> list[str]:
    """``info: text`` or ``prompt (echo off): Password:  -> ********``; a multi-line text as
    several lines, the later ones indented under the first; a prompt without an answer says so.
    """
    label = f"{STYLE_LABEL[style]}: "
    lines = printable_lines(text)
    shown = [label + lines[0], *(" " * len(label) + line for line in lines[1:])]
    if answer is not None:
        shown[-1] += f"  -> {printable(answer)}"
    elif style.is_prompt:
        shown[-1] += f"  -> {no_answer}"
    return shown


def message_line(
    style: MessageStyle, text: str, answer: str | None, no_answer: str = NO_ANSWER
) -> str:
    """:func:`message_lines` on one line: newlines inside the text shown as ``\\n``."""
    shown = f"{STYLE_LABEL[style]}: {printable(text.rstrip(chr(10)))}"
    if answer is not None:
        return f"{shown}  -> {printable(answer)}"
    return f"{shown}  -> {no_answer}" if style.is_prompt else shown


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, ok: bool, color: bool) -> str:
    if not color:
        return text
    return f"\x1b[{'32' if ok else '31'}m{text}\x1b[0m"


def function_head(function: str, flags: int) -> str:
    """``pam_setcred(PAM_ESTABLISH_CRED)``."""
    return function if not flags else f"{function}({'|'.join(flag_names(flags))})"


def call_head(function: str, flags: int, code: int, name: str, width: int = HEAD_WIDTH) -> str:
    """The function and result columns, padded so the lines of one output align."""
    return f"{function_head(function, flags):<{width}}  {f'{name} ({code})':<{CODE_WIDTH}}"


def call_line(record: CallRecord, color: bool = False, width: int = HEAD_WIDTH) -> str:
    head = call_head(record.function, record.flags, record.code, record.name, width)
    tail = f"  {printable(record.text)}  {record.duration_ms:.1f} ms"
    return paint(head, record.ok, color) + tail


def detail_lines(
    record: CallRecord, verbose: bool = False, no_answer: str = NO_ANSWER
) -> Iterator[str]:
    """The indented lines under a call: messages, module output, fail delay, and with
    ``verbose`` the items and PAM environment after it."""
    for message in record.messages:
        for line in message_lines(message.style, message.text, message.answer, no_answer):
            yield f"    {line}"
    yield from output_lines(record.output)
    if record.fail_delay_us:
        yield f"    {fail_delay_text(record.fail_delay_us)}"
    if verbose:
        for key, value in record.items.items():
            if value is not None:
                yield f"    item {printable(key)} = {printable(value)}"
        for key, value in record.env.items():
            yield f"    env {printable(key)}={printable(value)}"


def output_lines(output: Iterable[str]) -> Iterator[str]:
    for line in output:
        yield f"    output: {printable(line)}"


def crash_lines(
    during: str, message: str, output: Iterable[str], color: bool = False, width: int = HEAD_WIDTH
) -> Iterator[str]:
    """The call a crash or timeout cut short, as a call line with no result, then what the
    module printed before it died, under that call (not under the call before)."""
    head = f"{during:<{width}}  {'(no result)':<{CODE_WIDTH}}"
    yield paint(head, False, color) + f"  {printable(message)}"
    yield from output_lines(output)
