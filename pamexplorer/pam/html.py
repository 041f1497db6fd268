"""HTML and plain text for records and codes, as a notebook shows them. Pure: no ctypes.

Every piece of text that came from a module, a file or a person goes through :func:`text`
(``html.escape`` after control characters are made visible), so nothing a module sends is ever
interpreted as markup. Echo-off answers are already :data:`~pamexplorer.pam.records.REDACTED`
in the records; nothing here could show a password.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pamexplorer.pam.codes import CodeInfo, describe, flag_names
from pamexplorer.pam.records import CallRecord
from pamexplorer.pam.text import fail_delay_text, message_line, printable

#: Style sheet every fragment carries (a notebook shows fragments separately).
CSS = (
    "<style>"
    ".pamx{font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.45}"
    ".pamx .ok{color:#1a7f37;font-weight:bold}.pamx .bad{color:#c62828;font-weight:bold}"
    ".pamx .dim{color:#777}.pamx .msg{margin-left:1.5em}.pamx .out{margin-left:1.5em;color:#555}"
    ".pamx table{border-collapse:collapse}.pamx td,.pamx th{padding:1px 8px;text-align:left;"
    "vertical-align:top;border-bottom:1px solid #eee}"
    ".pamx td.where,.pamx td.code{white-space:nowrap}"
    ".pamx .crash{color:#fff;background:#c62828;padding:0 4px;font-weight:bold}"
    ".pamx tr.decided-row{background:#fff4d6}.pamx tr.dim td{color:#999}"
    ".pamx .decided{font-weight:bold;color:#8a5a00}"
    "</style>"
)


def visible(value: str) -> str:
    """Control characters (newlines, escape sequences) shown as escapes, one line."""
    return printable(value)


def text(value: object) -> str:
    """Any text, safe inside HTML: visible control characters, then ``html.escape``."""
    return html.escape(visible(str(value)), quote=True)


def code_label(code: int) -> str:
    """``PAM_AUTH_ERR (7)``."""
    return f"{describe(code).name} ({int(code)})"


def code_span(code: int) -> str:
    """The code label, green for success and red otherwise."""
    return f'<span class="{"ok" if code == 0 else "bad"}">{text(code_label(code))}</span>'


def call_title(function: str, flags: int) -> str:
    return function if not flags else f"{function}({'|'.join(flag_names(flags))})"


# -- call records ----------------------------------------------------------------------------


def trace_lines(record: CallRecord) -> list[str]:
    """The per-module trace of a call, one line per rule, when the engine recorded one:
    ``common-auth:2 pam_deny.so PAM_AUTH_ERR (7) -> die``, ``decided by ...``."""
    trace = getattr(record, "trace", None)
    if trace is None or getattr(trace, "status", "traced") == "unavailable":
        return []
    lines = [f"log {x.level}: {x.text}" for x in getattr(trace, "log", ())]  # libpam's own
    for module in getattr(trace, "modules", ()):
        where = f"{module.file.rsplit('/', 1)[-1]}:{module.line}"
        name = module.module.rsplit("/", 1)[-1]
        if not module.ran:
            lines.append(f"{where} {name} not run{f' ({module.skip})' if module.skip else ''}")
        elif module.code is None:
            lines.append(f"{where} {name} {module.action or 'no code'}")
        else:
            lines.append(f"{where} {name} {code_label(module.code)} -> {module.action}")
        lines += [f"    log {x.level}: {x.text}" for x in getattr(module, "log", ())]
    decided = getattr(trace, "decided_by_text", None)
    if decided:
        lines.append(f"decided by {decided}")
    return lines


def record_text(record: CallRecord) -> str:
    """A record as a few readable lines (a REPL's ``repr``)."""
    info = describe(record.code)
    lines = [
        f"{call_title(record.function, record.flags)}  {code_label(record.code)}  "
        f"{info.text}  {record.duration_ms:.1f} ms",
    ]
    if record.code:
        lines.append(f"    {info.explanation}")
    lines += [f"    {message_line(m.style, m.text, m.answer)}" for m in record.messages]
    lines += [f"    output: {visible(line)}" for line in record.output]
    lines += [f"    trace: {visible(line)}" for line in trace_lines(record)]
    if record.fail_delay_us:
        lines.append(f"    {fail_delay_text(record.fail_delay_us)}")
    items = [f"{k}={visible(v)}" for k, v in record.items.items() if v is not None]
    if items:
        lines.append(f"    items: {' '.join(items)}")
    if record.env:
        lines.append(
            f"    env: {' '.join(f'{visible(k)}={visible(v)}' for k, v in record.env.items())}"
        )
    return "\n".join(lines)


def record_body(record: CallRecord, prefix: str = "") -> str:
    """One record as an HTML fragment without the style sheet (a timeline entry); ``prefix``
    (HTML) starts its first line."""
    info = describe(record.code)
    parts = [
        f"<div>{prefix}<b>{text(call_title(record.function, record.flags))}</b> &rarr; "
        f"{code_span(record.code)} {text(info.text)} "
        f'<span class="dim">{record.duration_ms:.1f} ms</span></div>'
    ]
    if record.code:
        parts.append(f'<div class="msg dim">{text(info.explanation)}</div>')
    for message in record.messages:
        parts.append(
            f'<div class="msg">{text(message_line(message.style, message.text, message.answer))}'
            "</div>"
        )
    for line in record.output:
        parts.append(f'<div class="out">output: {text(line)}</div>')
    for line in trace_lines(record):
        # The deciding rule stands out; the rest of the trace is quieter.
        css = "msg decided" if line.startswith("decided by ") else "msg dim"
        parts.append(f'<div class="{css}">trace: {text(line)}</div>')
    if record.fail_delay_us:
        parts.append(f'<div class="msg dim">{text(fail_delay_text(record.fail_delay_us))}</div>')
    return "".join(parts)


def record_html(record: CallRecord) -> str:
    return f'{CSS}<div class="pamx">{record_body(record)}</div>'


def crash_body(message: str, output: Sequence[str] = (), prefix: str = "") -> str:
    """``SIGSEGV during pam_authenticate`` as a timeline entry, with the output before it."""
    parts = [f'<div>{prefix}<span class="crash">{text(message)}</span></div>']
    parts += [f'<div class="out">output: {text(line)}</div>' for line in output]
    return "".join(parts)


# -- codes -----------------------------------------------------------------------------------


def code_info_text(info: CodeInfo) -> str:
    lines = [f"{info.name} ({info.code})  {info.text}", f"    {info.explanation}"]
    lines += [f"    - {cause}" for cause in info.causes]
    return "\n".join(lines)


def code_table_text(infos: Sequence[CodeInfo]) -> str:
    return "\n".join(f"{i.code:>2}  {i.name:<26}  {i.text}" for i in infos)


def code_table_html(infos: Sequence[CodeInfo]) -> str:
    rows = "".join(
        f"<tr><td>{i.code}</td><td>{code_span(i.code)}</td><td>{text(i.text)}</td>"
        f"<td>{text(i.explanation)}</td></tr>"
        for i in infos
    )
    return (
        f'{CSS}<div class="pamx"><table><tr><th>#</th><th>name</th><th>pam_strerror</th>'
        f"<th>explanation</th></tr>{rows}</table></div>"
    )
