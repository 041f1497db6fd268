"""Text that is not ours, made safe to show, and the formats every face shares: pure functions.

Prompts, messages, module output, item and environment values, service and file names, argv:
any of them may hold control characters (an escape sequence that clears the screen or writes
the clipboard) or bytes that are not UTF-8 (decoded with ``surrogateescape`` from argv and file
names). :func:`printable` shows them as visible escapes, so the result can be written to any
terminal and encoded by any UTF-8 stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pamexplorer.pam.codes import MessageStyle

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 256:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """One line a terminal shows as written: control characters (newlines, escape sequences a
    module may send) and undecodable bytes become visible escapes instead of acting on the
    terminal. Text that needs no escape is returned unchanged."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _ESCAPES.get(ch) or _escape(ch) for ch in text)


def printable_lines(text: str) -> list[str]:
    """Multi-line text (a MOTD) as lines to print one under the other, each :func:`printable`;
    a trailing newline adds no empty line."""
    if text.endswith("\n"):
        text = text[:-1]
    return [printable(line) for line in text.replace("\r\n", "\n").split("\n")]


# -- formats every face shares (call, run, the explorer, the notebook) -----------------------

#: Label of each message style, keyed by its number (``MessageStyle`` members hash as theirs;
#: importing the code table here would put it on the path of every ``pamexplorer`` start).
STYLE_LABEL: dict[int, str] = {
    1: "prompt (echo off)",  # PAM_PROMPT_ECHO_OFF
    2: "prompt (echo on)",  # PAM_PROMPT_ECHO_ON
    3: "error",  # PAM_ERROR_MSG
    4: "info",  # PAM_TEXT_INFO
}

#: Shown for a prompt that got no answer (the conversation gave up on it).
NO_ANSWER = "no answer: the module got PAM_CONV_ERR"


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
