"""The front end's half of a streamed trace (pure Python; no libpam, no stack layer).

An engine child builds each record's trace itself (``engine.tracer``) and sends it in the
record. It also streams a copy of the raw events as they happen: ``{"event": "trace",
"status": "on"}`` or ``{"event": "trace", "unavailable": why}`` when it starts a transaction,
then ``{"event": "trace", "events": [...]}`` frames (see ``pamtrace.c``). The front end keeps
them only to tell, when the child dies or hangs mid-call, how far the stack got: that is the
one case where it assembles a trace itself (and loads the stack layer to do it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from pamexplorer.pam.codes import Function, MessageStyle
from pamexplorer.pam.records import REDACTED, CallRecord, Message, Trace, unavailable


@dataclass
class TraceCollector:
    """The streamed events of one session: pam_start's (slot lookups) and the current call's."""

    service: str = ""
    confdir: str | None = None
    #: None: the child said nothing (tracing off); "": on; else why it is unavailable.
    unavailable: str | None = None
    start_record: CallRecord | None = None
    start_events: list[list[Any]] = field(default_factory=list)
    events: list[list[Any]] = field(default_factory=list)
    #: The stack call in flight: (function, flags).
    in_flight: tuple[Function, int] | None = None
    #: Answers given at echo-off prompts: never shown in a trace (a module's arguments or log
    #: lines may repeat them).
    secrets: set[str] = field(default_factory=set)

    def begin(self, service: str, confdir: str | None) -> None:
        self.service, self.confdir = service, confdir

    def note_answers(self, messages: Sequence[Message], answers: Sequence[str | None]) -> None:
        self.secrets.update(secret_answers(messages, answers))

    def feed(self, frame: dict[str, Any]) -> None:
        if "unavailable" in frame:
            self.unavailable = str(frame["unavailable"])
        elif frame.get("status") == "on":
            self.unavailable = ""
        events = frame.get("events")
        if events:
            self.events.extend(events)

    def attach(self, record: CallRecord) -> CallRecord:
        """A record arrived (with its trace, built by the child): the streamed copy is done."""
        if record.function == "pam_start":
            self.start_record, self.start_events = record, self.events
        self.events = []
        self.in_flight = None
        return record

    def crashed(self) -> Trace | None:
        """The trace of the call in flight when the child died, up to where it stopped."""
        if self.unavailable is None:
            return None
        if self.unavailable:
            return unavailable(self.unavailable)
        if self.in_flight is None or self.start_record is None:
            return None
        # imported here: only a crash needs the stack layer in the front end
        from pamexplorer.engine.trace.assemble import TraceBuilder
        from pamexplorer.engine.trace.events import Events

        builder = TraceBuilder.for_service(self.service, self.confdir)
        start = Events()
        start.extend(self.start_events)
        builder.add(self.start_record, start)
        call = Events()
        call.extend(self.events)
        function, flags = self.in_flight
        return scrubbed(builder.crashed(function, flags, call), self.secrets)


def secret_answers(messages: Sequence[Message], answers: Sequence[str | None]) -> list[str]:
    """The answers given at echo-off prompts."""
    return [
        answer
        for message, answer in zip(messages, answers, strict=False)
        if answer and message.style is MessageStyle.PAM_PROMPT_ECHO_OFF
    ]


def scrubbed(trace: Trace, secrets: Collection[str]) -> Trace:
    """``trace`` with every secret in its texts replaced by REDACTED."""
    if not secrets:
        return trace
    ordered = sorted(secrets, key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, REDACTED)
        return text

    return trace.map_text(scrub)
