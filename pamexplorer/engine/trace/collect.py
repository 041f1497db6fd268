"""The front end's half of a streamed trace (pure Python; no libpam, no stack layer).

A tracing child streams the raw events as they happen in ``{"event": "trace", "events":
"..."}`` frames (``protocol.TraceEvent``; see ``pamtrace.c``); each record frame carries the rest
(``trace_events``: the shim's JSON arrays, as text) and ``trace_unavailable`` ("" when
tracing, else why not). A child forked by a long-lived front end (the fork server's) leaves
the assembly to the front end, which has the stack layer loaded and its files cached; a
one-shot command's child assembles the trace itself and sends it in the record, so the command
never loads the stack layer. Either way the front end keeps the stream to tell, when the child
dies or hangs mid-call, how far the stack got.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pamexplorer.engine.trace.events import Events
from pamexplorer.pam.codes import Function
from pamexplorer.pam.records import CallRecord, Message, Trace, unavailable
from pamexplorer.pam.secrets import Secrets

if TYPE_CHECKING:
    from pamexplorer.engine.trace.assemble import TraceBuilder


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
    builder: TraceBuilder | None = None
    #: The stack call in flight: (function, flags).
    in_flight: tuple[Function, int] | None = None
    #: Answers given at echo-off prompts: never shown in a trace (a module's arguments or log
    #: lines may repeat them).
    secrets: Secrets = field(default_factory=Secrets)

    def begin(self, service: str, confdir: str | None) -> None:
        self.service, self.confdir = service, confdir

    def note_answers(self, messages: Sequence[Message], answers: Sequence[str | None]) -> None:
        self.secrets.learn(messages, answers)

    def feed(self, frame: dict[str, Any]) -> None:
        """A ``trace`` frame: events streamed while a call runs (JSON arrays, as text)."""
        self.unavailable = ""
        events = frame.get("events")
        if events:
            self.events.extend(json.loads("[" + events + "]"))

    def feed_record(self, frame: dict[str, Any]) -> None:
        """A ``record`` frame: the call's last events and whether the child traces at all."""
        if "trace_unavailable" in frame:
            self.unavailable = str(frame["trace_unavailable"])
        rest = frame.get("trace_events")
        if rest:
            self.events.extend(json.loads("[" + rest + "]"))

    def attach(self, record: CallRecord) -> CallRecord:
        """``record`` with its trace: the child's, or assembled here from the stream."""
        events, self.events = self.events, []
        if record.function == "pam_start":
            self.start_record, self.start_events = record, events
        self.in_flight = None
        if record.trace is not None or self.unavailable is None:
            return record
        trace = (
            unavailable(self.unavailable)
            if self.unavailable
            else self.secrets.scrub_trace(self._builder().add(record, _parsed(events)))
        )
        # The session made this record a moment ago and nobody else holds it: set the trace
        # in place (dataclasses.replace costs more than a fast libpam call).
        object.__setattr__(record, "trace", trace)
        return record

    def _builder(self) -> TraceBuilder:
        if self.builder is None:
            # imported on first use: a one-shot command never needs the stack layer
            from pamexplorer.engine.trace.assemble import TraceBuilder

            self.builder = TraceBuilder.for_service(self.service, self.confdir)
        return self.builder

    def crashed(self) -> Trace | None:
        """The trace of the call in flight when the child died, up to where it stopped."""
        if self.unavailable is None:
            return None
        if self.unavailable:
            return unavailable(self.unavailable)
        if self.in_flight is None or self.start_record is None:
            return None
        builder = self.builder
        if builder is None:  # the child assembled so far: map the slots here, now
            builder = self._builder()
            builder.add(self.start_record, _parsed(self.start_events))
        function, flags = self.in_flight
        return self.secrets.scrub_trace(builder.crashed(function, flags, _parsed(self.events)))


def _parsed(raw_events: list[list[Any]]) -> Events:
    events = Events()
    events.extend(raw_events)
    return events
