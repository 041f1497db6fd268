"""Rich renderings shared by the screens.

Everything a module or a person wrote reaches the screen as :class:`rich.text.Text`, never as
markup, so a prompt like ``[sudo] password for alice:`` shows exactly as written.
"""

from __future__ import annotations

from rich.text import Text

from pamexplorer.pam.codes import CodeInfo, describe

OK_MARK = "✓"
FAIL_MARK = "✗"


def code_label(code: int) -> str:
    """``PAM_AUTH_ERR (7)``."""
    return f"{describe(code).name} ({code})"


def code_style(code: int) -> str:
    return "bold green" if code == 0 else "bold red"


def code_explanation(info: CodeInfo) -> Text:
    """Number, name, live text, explanation and usual causes of one code."""
    text = Text()
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


def duration_text(duration_ms: float, stable: bool) -> str:
    """A call's duration; hidden in stable mode (screenshots, snapshot tests)."""
    if stable:
        return "-- ms"
    if duration_ms >= 1000:
        return f"{duration_ms / 1000:.2f} s"
    return f"{duration_ms:.1f} ms"
