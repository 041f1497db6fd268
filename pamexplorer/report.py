"""Reports of profile runs: plain text for people, JSON and JUnit XML for machines.

Every format is built from :class:`~pamexplorer.runner.ProfileResult`, whose secrets the runner
already scrubbed; nothing here reads a profile's answers. Text that is not ours (titles, file
names, module messages and output) never acts on a terminal: text shows control characters as
escapes, JSON escapes them, JUnit XML holds only characters XML allows.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from pamexplorer.calltext import fail_delay_text, message_line, printable, trace_lines
from pamexplorer.pam.codes import MessageStyle
from pamexplorer.runner import (
    CRASHED,
    ERROR,
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    ProfileResult,
    StepResult,
)

FORMATS = ("text", "json", "junit")
_LABEL = {
    PASSED: "PASS",
    FAILED: "FAIL",
    SKIPPED: "SKIP",
    CRASHED: "CRASH",
    ERROR: "ERROR",
    NOT_RUN: "NOT RUN",  # a run a face finished early
}


def render(results: Sequence[ProfileResult], fmt: str, *, several: bool | None = None) -> str:
    """``fmt`` is text, json or junit; JSON is a list when ``several`` (default: > 1 result)."""
    if fmt == "json":
        return to_json(results, several=len(results) > 1 if several is None else several)
    if fmt == "junit":
        return to_junit(results)
    return to_text(results)


# --------------------------------------------------------------------------------------------


#: What ``json.dumps(ensure_ascii=False)`` leaves raw that a terminal or a strict UTF-8
#: reader chokes on: DEL, C1 controls, lone surrogates (undecodable bytes of file names).
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff]")


def to_json(results: Sequence[ProfileResult], *, several: bool = True) -> str:
    data: Any = [r.to_dict() for r in results]
    if not several and len(results) == 1:
        data = data[0]
    return json_text(data)


def json_text(data: Any) -> str:
    """Indented JSON, UTF-8 text kept readable, control characters and surrogates escaped."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# --------------------------------------------------------------------------------------------


def _message_line(message: dict[str, Any]) -> str:
    answer = message.get("answer")
    return message_line(
        MessageStyle[str(message["style"])],
        str(message["text"]),
        None if answer is None else str(answer),
    )


def _code(step: StepResult) -> str:
    if step.code is None:
        return step.name or "-"
    return f"{step.name} ({step.code}) {step.text}".rstrip()


def text_profile(result: ProfileResult) -> list[str]:
    where = f" [{printable(result.path)}]" if result.path else ""
    lines = [f"{_LABEL[result.status]:5} {printable(result.title)}{where}"]
    if result.status == ERROR and not result.steps:
        lines.append(f"      {printable(result.reason or '')}")
        return lines
    context = f"service {printable(result.service)}, config {result.config}"
    if result.user is not None:
        context += f", user {printable(result.user)}"
    lines.append(f"      {context}")
    if result.status == SKIPPED:
        lines.append(f"      skipped: {printable(result.reason or '')}")
        return lines
    # Without a trace (no C compiler at install), one line says so, not one per step.
    unavailable = _unavailable(result.steps)
    if unavailable is not None:
        lines.append(f"      trace unavailable: {printable(unavailable)}")
    for step in result.steps:
        mark = "ok" if step.ok else _MARK.get(step.status, "FAIL")
        expected = ""
        if step.expected and step.expected != ("PAM_SUCCESS",):
            expected = f"  (expected {' or '.join(step.expected)})"
        lines.append(f"  {mark:4} {printable(step.step):32} {printable(_code(step))}{expected}")
        for message in step.messages:
            lines.append(f"        {_message_line(message)}")
        for out in step.output:
            lines.append(f"        output: {printable(out)}")
        if step.fail_delay_us:
            lines.append(f"        {fail_delay_text(step.fail_delay_us)}")
        if unavailable is None:
            lines.extend(f"    {line}" for line in trace_lines(step.trace))
        if step.status is not NOT_RUN:
            for problem in step.problems:
                lines.append(f"        ! {printable(problem)}")
    if result.status == CRASHED:
        lines.append(f"      crashed: {printable(result.reason or '')}")
    return lines


_MARK = {NOT_RUN: "--", ERROR: "ERR"}


def _unavailable(steps: Sequence[StepResult]) -> str | None:
    """The reason, when no step that called libpam has a trace and all say the same why."""
    traces = [s.trace for s in steps if s.trace is not None]
    if traces and all(not t.available for t in traces) and len({t.reason for t in traces}) == 1:
        return traces[0].reason
    return None


def to_text(results: Sequence[ProfileResult]) -> str:
    lines: list[str] = []
    for result in results:
        lines.extend(text_profile(result))
        lines.append("")
    counts = {s: sum(1 for r in results if r.status == s) for s in _LABEL}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines.append(f"{len(results)} profile(s): {summary}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------


#: Characters XML 1.0 cannot hold (most C0 controls, surrogates, U+FFFE/U+FFFF), and those
#: it discourages that a terminal may act on (DEL, C1 controls).
_XML_INVALID = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """``text`` as XML may hold it: characters XML forbids shown as escapes."""
    return _XML_INVALID.sub(lambda m: printable(m.group()), text)


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: _xml(v) for k, v in attrs.items()})


def _step_details(step: StepResult) -> str:
    lines = [f"{step.function}: {_code(step)}"]
    if step.expected:
        lines.append(f"expected: {' or '.join(step.expected)}")
    lines.extend(f"! {p}" for p in step.problems)
    lines.extend(_message_line(message) for message in step.messages)
    lines.extend(f"output: {printable(o)}" for o in step.output)
    # The per-module lines, each module's log lines and "decided by ..." (or why not traced).
    lines.extend(line.removeprefix("    ") for line in trace_lines(step.trace))
    return "\n".join(lines)


def to_junit(results: Sequence[ProfileResult]) -> str:
    """One ``testsuite`` per profile, one ``testcase`` per step (pam_start included)."""
    suites = ET.Element("testsuites", name="pamexplorer")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        suite = _sub(suites, "testsuite", name=result.profile)
        if result.path:
            suite.set("file", _xml(result.path))
        props = ET.SubElement(suite, "properties")
        _sub(props, "property", name="title", value=result.title)
        _sub(props, "property", name="status", value=result.status.value)
        if result.reason:
            _sub(props, "property", name="reason", value=result.reason)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        elapsed = 0.0
        if result.status in (ERROR, SKIPPED) and not result.steps:
            case = _sub(
                suite,
                "testcase",
                classname=result.profile,
                name="load" if result.status == ERROR else "profile",
            )
            counts["tests"] += 1
            if result.status == ERROR:
                _sub(case, "error", message=result.reason or "bad profile")
                counts["errors"] += 1
            else:
                _sub(case, "skipped", message=result.reason or "skipped")
                counts["skipped"] += 1
        for step in result.steps:
            counts["tests"] += 1
            elapsed += step.duration_ms / 1000
            case = _sub(
                suite,
                "testcase",
                classname=result.profile,
                name=f"{step.index:02d} {step.step}",
                time=f"{step.duration_ms / 1000:.6f}",
            )
            if step.status is CRASHED:
                detail = _sub(case, "error", message=step.text, type="crash")
                counts["errors"] += 1
            elif step.status is ERROR:  # an expectation this build cannot judge
                detail = _sub(case, "error", message="; ".join(step.problems), type="error")
                counts["errors"] += 1
            elif step.status is NOT_RUN:
                _sub(case, "skipped", message="not run")
                counts["skipped"] += 1
                continue
            elif not step.ok:
                detail = _sub(
                    case,
                    "failure",
                    message="; ".join(step.problems),
                    type=step.name or "failure",
                )
                counts["failures"] += 1
            else:
                detail = ET.SubElement(case, "system-out")
            detail.text = _xml(_step_details(step))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{elapsed:.6f}")
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
