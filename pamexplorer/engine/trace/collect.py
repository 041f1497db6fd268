"""The front end's half of a streamed trace: gather a child's trace frames, build each record's
trace, and the trace up to a crash (pure Python; no libpam in the front end).

The child sends ``{"event": "trace", "status": "on"}`` or ``{"event": "trace", "unavailable":
why}`` when it starts a transaction, then ``{"event": "trace", "events": [...]}`` frames as
its modules run (see ``pamtrace.c``), all before the record they belong to.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pamexplorer.engine.trace.events import Events
from pamexplorer.pam.codes import Function, MessageStyle
from pamexplorer.pam.records import REDACTED, CallRecord, Message, Trace, unavailable

if TYPE_CHECKING:
    from pamexplorer.engine.trace.assemble import TraceBuilder


@dataclass
class TraceCollector:
    service: str = ""
    confdir: str | None = None
    #: None: the child said nothing (tracing off); "": on; else why it is unavailable.
    unavailable: str | None = None
    events: Events = field(default_factory=Events)
    builder: TraceBuilder | None = None
    #: The stack call in flight: (function, flags).
    in_flight: tuple[Function, int] | None = None
    #: Answers given at echo-off prompts: never shown in a trace (a module's arguments or log
    #: lines may repeat them).
    secrets: set[str] = field(default_factory=set)

    def note_answers(self, messages: Sequence[Message], answers: Sequence[str | None]) -> None:
        self.secrets.update(secret_answers(messages, answers))

    def begin(self, service: str, confdir: str | None) -> None:
        self.service, self.confdir = service, confdir

    def feed(self, frame: dict[str, Any]) -> None:
        if "unavailable" in frame:
            self.unavailable = str(frame["unavailable"])
        elif frame.get("status") == "on":
            self.unavailable = ""
        events = frame.get("events")
        if events:
            self.events.extend(events)

    def _builder(self) -> TraceBuilder:
        if self.builder is None:
            # imported on first use: the stack layer is not needed to run calls untraced
            from pamexplorer.engine.trace.assemble import TraceBuilder

            self.builder = TraceBuilder.for_service(
                self.service, self.confdir, unavailable=self.unavailable or ""
            )
        return self.builder

    def attach(self, record: CallRecord) -> CallRecord:
        """``record`` with its trace, from the frames that came before it."""
        events, self.events = self.events, Events()
        self.in_flight = None
        if self.unavailable is None:
            return record
        if self.unavailable:
            return replace(record, trace=unavailable(self.unavailable))
        return replace(record, trace=scrubbed(self._builder().add(record, events), self.secrets))

    def crashed(self) -> Trace | None:
        """The trace of the call in flight when the child died, up to where it stopped."""
        if self.unavailable is None:
            return None
        if self.unavailable:
            return unavailable(self.unavailable)
        if self.in_flight is None:
            return None
        function, flags = self.in_flight
        return scrubbed(self._builder().crashed(function, flags, self.events), self.secrets)


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
