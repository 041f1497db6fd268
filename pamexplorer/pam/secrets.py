"""Secrets typed or scripted in this process, and the one scrubber every face uses.

A module may echo an echo-off answer back anywhere: in its output, in a later message, in an
item (``PAM_AUTHTOK`` copied to ``PAM_RHOST``), in the PAM environment, in a crash. Whatever a
front end shows or stores of a call goes through :meth:`Secrets.scrub_record` (or
:meth:`Secrets.scrub` for a line of text) first, so the secret shows as :data:`REDACTED`.

``call`` wraps its conversation in :class:`RememberingConversation`, which learns each echo-off
answer as it is typed; ``run`` and the profile screen :meth:`Secrets.add` the profile's secrets.
Pure: no ctypes, any front end imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.pam.conversation import Conversation
from pamexplorer.pam.records import REDACTED, CallRecord, Exchange, Message, Trace

__all__ = ["REDACTED", "RememberingConversation", "Secrets"]


class Secrets:
    """Values that must never be shown; :meth:`scrub` replaces them in any text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Remember ``value`` (the empty string is no secret: scrubbing it would do nothing)."""
        if value:
            self.values.add(value)

    def learn(self, messages: Sequence[Message], answers: Sequence[str | None]) -> None:
        """Remember the answers given to echo-off prompts."""
        for message, answer in zip(messages, answers, strict=False):
            if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF and answer:
                self.add(answer)

    def __bool__(self) -> bool:
        return bool(self.values)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by :data:`REDACTED` (longest first, so a secret
        that contains another is hidden whole)."""
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def scrub_lines(self, lines: Iterable[str]) -> list[str]:
        return [self.scrub(line) for line in lines]

    def scrub_exchange(self, exchange: Exchange) -> Exchange:
        """Message text scrubbed; an answer that is a secret shows as :data:`REDACTED`."""
        answer = exchange.answer
        if answer is not None:
            answer = REDACTED if answer in self.values else self.scrub(answer)
        return Exchange(exchange.style, self.scrub(exchange.text), answer)

    def scrub_trace(self, trace: Trace) -> Trace:
        """``trace`` with the secrets replaced in its arguments, messages and log lines."""
        return trace.map_text(self.scrub) if self.values else trace

    def scrub_record(self, record: CallRecord) -> CallRecord:
        """``record`` as any face may show it: secrets replaced in the result text, message
        texts and answers, items, environment names and values, module output, and the
        trace's arguments, messages and log lines."""
        if not self.values:
            return record
        # A field added to CallRecord that carries text from modules must be scrubbed here too.
        return replace(
            record,
            text=self.scrub(record.text),
            messages=tuple(self.scrub_exchange(m) for m in record.messages),
            items={k: None if v is None else self.scrub(v) for k, v in record.items.items()},
            env={self.scrub(k): self.scrub(v) for k, v in record.env.items()},
            output=tuple(self.scrub(line) for line in record.output),
            trace=None if record.trace is None else self.scrub_trace(record.trace),
        )


class RememberingConversation:
    """Wraps a conversation: echo-off answers it gives are learnt by ``secrets``, and the
    messages it is shown have the secrets learnt so far scrubbed (a module that echoes the
    password in a later prompt or info message does not get it onto the terminal)."""

    def __init__(self, inner: Conversation, secrets: Secrets) -> None:
        self.inner = inner
        self.secrets = secrets

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        shown = [Message(m.style, self.secrets.scrub(m.text)) for m in messages]
        answers = list(self.inner.respond(shown))
        self.secrets.learn(messages, answers)
        return answers
