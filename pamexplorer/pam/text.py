"""Text that is not ours, made safe to show: pure functions, no imports beyond the language.

Prompts, messages, module output, item and environment values, service and file names, argv:
any of them may hold control characters (an escape sequence that clears the screen or writes
the clipboard) or bytes that are not UTF-8 (decoded with ``surrogateescape`` from argv and file
names). :func:`printable` shows them as visible escapes, so the result can be written to any
terminal and encoded by any UTF-8 stream.
"""

from __future__ import annotations

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
