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
from typing import TYPE_CHECKING, Any, TextIO

from pamexplorer.pam.codes import Code, code_name, flag_names
from pamexplorer.pam.records import CallRecord, ModuleCall, Trace
from pamexplorer.pam.text import (
    NO_ANSWER,
    STYLE_LABEL,
    fail_delay_text,
    message_line,
    message_lines,
    printable,
    printable_lines,
)

if TYPE_CHECKING:
    from pamexplorer.stack.simulate import CallResult

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
    "module_json",
    "not_run_line",
    "output_lines",
    "paint",
    "path_line",
    "printable",
    "printable_lines",
    "record_json",
    "short_where",
    "simulation_lines",
    "trace_json",
    "trace_lines",
    "use_color",
]

#: Width of the function column (``pam_close_session`` fits; longer heads widen it per run).
HEAD_WIDTH = 18
#: Width of the result column: the longest ``NAME (N)`` libpam defines, so every line aligns.
CODE_WIDTH = max(len(f"{c.name} ({c.value})") for c in Code)


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


# -- the per-module trace (``call``, ``simulate``; see engine/trace) ---------------------------


#: The pass a module of pam_chauthtok runs in (libpam adds the flag; an application may not).
PAM_PRELIM_CHECK = 0x4000
PAM_UPDATE_AUTHTOK = 0x2000


def short_where(file: str, line: int) -> str:
    """``common-auth:17``: the file's base name and the line."""
    return f"{file.rsplit('/', 1)[-1]}:{line}" if file else "?"


def path_line(
    where: str,
    module: str,
    code: int,
    action: str,
    level: int = 0,
    pass_: str | None = None,
    duration_ms: float | None = None,
    frozen_code: int | None = None,
    note: str = "",
) -> str:
    """One rule that ran: ``    common-auth:17  pam_unix.so  PAM_AUTH_ERR (7)  -> ignore  0.4 ms``;
    ``simulate`` and a traced ``call`` print the same form."""
    head = f"{pass_}: " if pass_ else ""
    result = f"{code_name(code)} ({code})"
    act = action or "-"
    if frozen_code is not None and frozen_code != code:
        act += f" (as {code_name(frozen_code)}, frozen)"
    ms = "" if duration_ms is None else f"  {duration_ms:.1f} ms"
    tail = f"  -- {note}" if note else ""
    body = f"{head}{where:<20} {module or '-':<17} {result:<24} -> {act}{ms}{tail}"
    return f"    {'  ' * level}{printable(body)}"


def not_run_line(where: str, module: str, why: str, level: int = 0) -> str:
    body = f"{where:<20} {module or '-':<17} not run: {why}"
    return f"    {'  ' * level}{printable(body)}"


def _pass_of(flags: int) -> str | None:
    if flags & PAM_PRELIM_CHECK:
        return "prelim"
    if flags & PAM_UPDATE_AUTHTOK:
        return "update"
    return None


def trace_lines(trace: Trace | None) -> Iterator[str]:
    """The lines under a traced call: one per rule of the chain (run or not), each module's
    log lines under it, the deciding rule, and a disagreement or unavailability."""
    if trace is None:
        return
    if not trace.available:
        yield f"    trace unavailable: {printable(trace.reason)}"
        return
    for line in trace.log:
        yield f"    log {line.level}: {printable(line.text)}"
    if trace.status != "traced":
        yield f"    trace {trace.status}: {printable(trace.reason)}"
    for entry in trace.modules:
        where = entry.where if entry.file else "?"
        module = entry.module_name or entry.module
        if not entry.ran:
            yield not_run_line(where, module, printable(entry.skip), entry.level)
            continue
        if entry.code is None:
            body = f"{where:<20} {module:<17} never returned ({entry.action or 'crashed'})"
            yield f"    {'  ' * entry.level}{printable(body)}"
        else:
            yield path_line(
                where,
                module,
                entry.code,
                entry.action,
                entry.level,
                _pass_of(entry.flags),
                entry.duration_ms if entry.called else None,
                entry.frozen_code,
                entry.note,
            )
        for line in entry.log:
            yield f"    {'  ' * entry.level}    log {line.level}: {printable(line.text)}"
    decided = trace.decided_by_text
    if decided:
        yield f"    decided by {printable(decided)}"
    if trace.disagreement:
        yield f"    WARNING {printable(trace.disagreement)}"


#: The keys of :meth:`ModuleCall.to_dict` that ``call --format json`` shows, in its order.
MODULE_KEYS = (
    "file", "line", "type", "control", "module", "args", "chain", "function", "flags", "ran",
    "skip", "code", "name", "action", "frozen_code", "duration_ms", "messages",
)  # fmt: skip


def module_json(entry: ModuleCall) -> dict[str, Any]:
    """One entry of ``calls[].modules[]`` in ``call --format json``: the record's own keys,
    its log lines as text."""
    data = entry.to_dict()
    return {**{key: data[key] for key in MODULE_KEYS}, "log": [line.text for line in entry.log]}


def trace_json(trace: Trace) -> dict[str, Any]:
    """The trace keys of a call in JSON (``call --format json``, ``run --format json``):
    ``modules``, ``decided_by`` and ``trace`` {status, reason, disagreement}."""
    return {
        "modules": [module_json(m) for m in trace.modules],
        "decided_by": trace.decided_by_text,
        "trace": {
            "status": trace.status,
            "reason": trace.reason,
            "disagreement": trace.disagreement,
        },
    }


def record_json(record: CallRecord) -> dict[str, Any]:
    """A call record as ``call --format json`` shows it: the record, plus the keys of
    :func:`trace_json`, whose ``trace`` also holds libpam's own ``log`` lines."""
    data = record.to_dict()
    trace = data.pop("trace", None) and record.trace
    if trace is None:
        return data
    data.update(trace_json(trace))
    data["trace"]["log"] = [line.text for line in trace.log]
    return data


def simulation_lines(call: CallResult) -> Iterator[str]:
    """``simulate``'s lines under a call, in the trace's form (:func:`trace_lines`)."""
    for step in call.steps:
        where = short_where(step.file, step.line)
        module = step.module.rsplit("/", 1)[-1]
        if not step.ran:
            yield not_run_line(where, module, step.skip, step.level)
            continue
        note = "; ".join(x for x in ("assumed" if step.assumed else "", step.note) if x)
        yield path_line(
            where, module, step.code, step.action, step.level, step.pass_, None, step.frozen_code,
            note,
        )  # fmt: skip
    decided = call.decided_by
    if decided is not None:
        module = decided.module.rsplit("/", 1)[-1]
        where = short_where(decided.file, decided.line)
        yield f"    decided by {printable(f'{where} {module} ({decided.action})')}"
