"""Rich renderings shared by the screens.

Everything a module, a service file or a person wrote reaches the screen through :func:`shown`
(or :func:`shown_line`) as :class:`rich.text.Text`, never as markup and never raw: control
characters (ESC, OSC 52 clipboard writes, title changes, BEL, C1 controls) are shown escaped,
so a module cannot act on the terminal. A prompt like ``[sudo] password for alice:`` shows
exactly as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from pamexplorer.pam.text import printable, printable_lines

if TYPE_CHECKING:
    from pamexplorer.pam.codes import CodeInfo

OK_MARK = "✓"
FAIL_MARK = "✗"


def shown(text: str) -> str:
    """Text that is not ours, safe for the terminal: line breaks kept (an MOTD reads as lines),
    every other control character shown as an escape (``\\x1b]52;...``)."""
    if text.isprintable():
        return text
    return "\n".join(printable_lines(text))


def shown_line(text: str) -> str:
    """Like :func:`shown`, on one line: a line break shows as ``\\n``."""
    return printable(text)


def code_label(code: int) -> str:
    """``PAM_AUTH_ERR (7)``."""
    from pamexplorer.pam.codes import describe  # the code table: not needed by the first frame

    return f"{describe(code).name} ({code})"


def code_style(code: int) -> str:
    return "bold green" if code == 0 else "bold red"


def code_explanation(info: CodeInfo, head: bool = True) -> Text:
    """Number, name, live text (``head``), explanation and usual causes of one code."""
    text = Text()
    if head:
        text.append(f"{info.name} ({info.code})", style=code_style(info.code))
        text.append("  ")
        text.append(info.text, style="italic")
        text.append("\n")
    text.append(info.explanation)
    if info.causes:
        text.append("\nUsual causes:", style="bold")
        for cause in info.causes:
            text.append("\n  • ")
            text.append(cause)
    return text


def duration_text(duration_ms: float, hidden: bool) -> str:
    """A call's duration; hidden (``-- ms``) for snapshot tests, whose runs vary."""
    if hidden:
        return "-- ms"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    return f"{duration_ms:.1f} ms"
