"""The front end's half of a trace (pure Python; no libpam, no stack layer).

The shim in a tracing child writes every event (JSON arrays, see ``pamtrace.c``) to the
session's flight recorder as it happens: a memfd the front end made for the child
(``spawning.flight_recorder``), written with plain ``pwrite`` calls in C, with no frame and no
Python per event. When a record frame arrives, the front end reads the call's events from the
recorder, from where the last call's ended; when the child dies or hangs mid-call, it reads
how far the stack got from there too. Each record frame says ``trace_unavailable`` ("" when
tracing, else why not); a child without a recorder sends the events in the frame instead
(``trace_events``).

A child forked by a long-lived front end (the fork server's) leaves the assembly to the front
end, which has the stack layer loaded and its files cached; a one-shot command's child
assembles the trace itself and sends it in the record, so the command never loads the stack
layer (the front end keeps pam_start's events to map slots to rules should a later call crash).

A module can write to the recorder, as to anything else in its process (the shim's memory
included): what is read there is parsed as untrusted input, and anything that is not the
shim's makes the trace unreliable, never an error. The records' codes come on the
authenticated channel only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pamexplorer.engine.trace.events import parse_untrusted
from pamexplorer.pam.codes import Function
from pamexplorer.pam.records import CallRecord, Message, Trace, unavailable
from pamexplorer.pam.secrets import Secrets

if TYPE_CHECKING:
    from pamexplorer.engine.trace.assemble import TraceBuilder


#: The most of a flight recorder read for one call.
RECORDER_READ_LIMIT = 16 << 20
#: One read's size: a call's events usually fit in one (a read allocates its whole size first,
#: and 16 MiB costs an mmap and a munmap each time: some 20 us).
RECORDER_CHUNK = 64 << 10


@dataclass
class TraceCollector:
    """The events of one session: pam_start's (slot lookups), the current call's, and where
    the next call's begin in the flight recorder. Events are kept as the text the child wrote
    (JSON arrays, each followed by a comma) and parsed by the builder, which needs no parse
    for a pam_start it has seen before (``TraceBuilder.add_text``)."""

    service: str = ""
    confdir: str | None = None
    #: None: the child said nothing (tracing off); "": on; else why it is unavailable.
    unavailable: str | None = None
    start_record: CallRecord | None = None
    start_events: str = ""
    events: str = ""
    builder: TraceBuilder | None = None
    #: The stack call in flight: (function, flags).
    in_flight: tuple[Function, int] | None = None
    #: Answers given at echo-off prompts: never shown in a trace (a module's arguments or log
    #: lines may repeat them).
    secrets: Secrets = field(default_factory=Secrets)
    #: The flight recorder (a memfd the child writes; -1: none) and where the next call's
    #: events begin in it.
    recorder: int = -1
    recorded: int = 0

    def begin(self, service: str, confdir: str | None) -> None:
        self.service, self.confdir = service, confdir

    def note_answers(self, messages: Sequence[Message], answers: Sequence[str | None]) -> None:
        self.secrets.learn(messages, answers)

    def feed_record(self, frame: dict[str, Any]) -> None:
        """A ``record`` frame: whether the child traces at all, and the call's events."""
        if "trace_unavailable" in frame:
            self.unavailable = str(frame["trace_unavailable"])
        if self.unavailable != "":
            return
        sent = frame.get("trace_events")
        self.events = str(sent) + "," if sent else self._read()

    def _read(self) -> str:
        """The events the child recorded since the last read, as text."""
        if self.recorder < 0:
            return ""
        chunks = []
        got = 0
        while got < RECORDER_READ_LIMIT:
            try:
                data = os.pread(
                    self.recorder, min(RECORDER_CHUNK, RECORDER_READ_LIMIT - got), self.recorded
                )
            except OSError:
                break
            self.recorded += len(data)
            got += len(data)
            chunks.append(data)
            if len(data) < RECORDER_CHUNK:
                break
        return b"".join(chunks).decode("ascii", "replace")

    def attach(self, record: CallRecord) -> CallRecord:
        """``record`` with its trace: the child's, or assembled here from its events."""
        events, self.events = self.events, ""
        if record.function == "pam_start":
            self.start_record, self.start_events = record, events
        self.in_flight = None
        if record.trace is not None or self.unavailable is None:
            return record
        trace = (
            unavailable(self.unavailable)
            if self.unavailable
            else self.secrets.scrub_trace(self.prepare().add_text(record, events))
        )
        # The session made this record a moment ago and nobody else holds it: set the trace
        # in place (dataclasses.replace costs more than a fast libpam call).
        object.__setattr__(record, "trace", trace)
        return record

    def prepare(self) -> TraceBuilder:
        """The builder, made on first use (the session asks while the child runs pam_start)."""
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
            builder = self.prepare()
            builder.add_text(self.start_record, self.start_events)
        function, flags = self.in_flight
        events, _ = parse_untrusted(self._read())
        return self.secrets.scrub_trace(builder.crashed(function, flags, events))
