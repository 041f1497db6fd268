"""The PAM conversation: messages in, one answer per message out, or an abort.

A :class:`Conversation` sees decoded :class:`Message` objects and never C memory (no ctypes
here: front ends import this); ``pam.bridge`` turns its answers into ``calloc``ed responses that
libpam frees, and an abort (or any error in the conversation) into ``PAM_CONV_ERR``.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TextIO, TypeVar

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.pam.records import REDACTED, Exchange, Message, record_exchange
from pamexplorer.pam.text import printable_lines

__all__ = [
    "REDACTED",
    "Conversation",
    "ConversationAborted",
    "Exchange",
    "LineConversation",
    "Message",
    "NoConversation",
    "ScriptedConversation",
    "TerminalConversation",
    "record_exchange",
]

Scripted = TypeVar("Scripted")


class ConversationAborted(Exception):
    """Raised by a conversation to refuse answering; the module gets ``PAM_CONV_ERR``."""


class Conversation(Protocol):
    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        """One answer per message (``None`` for info and error messages)."""
        ...


class NoConversation:
    """Answers info and error messages, aborts on any prompt."""

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        if any(m.style.is_prompt for m in messages):
            raise ConversationAborted("no answer available for a prompt")
        return [None] * len(messages)


@dataclass
class ScriptedConversation(Generic[Scripted]):
    """Answers prompts from a script: the first pattern that matches the prompt text wins,
    else the next unused ``ordered`` entry; with neither, the conversation aborts.

    Entries are answers as text; a subclass may script something else (the runner scripts
    indexes of a profile's answers) and turn an entry into text in :meth:`answer`.
    """

    patterns: list[tuple[re.Pattern[str], Scripted]] = field(default_factory=list)
    ordered: list[Scripted] = field(default_factory=list)

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            if not message.style.is_prompt:
                answers.append(None)
                continue
            entry = next((e for p, e in self.patterns if p.search(message.text)), None)
            if entry is None:
                if not self.ordered:
                    raise ConversationAborted(f"no scripted answer for prompt {message.text!r}")
                entry = self.ordered.pop(0)
            answers.append(self.answer(entry, message.text))
        return answers

    def answer(self, entry: Scripted, prompt: str) -> str:
        return str(entry)


class TerminalConversation:
    """Asks a person at the controlling terminal; echo-off prompts do not echo.

    Info and error messages are written to ``out`` (stderr by default) as they arrive, so the
    person sees them before the next prompt. Module text is written with its control
    characters escaped (a multi-line message as several lines). End of input aborts the
    conversation.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            *above, last = printable_lines(message.text)
            for line in above:
                self.out.write(line + "\n")
            try:
                if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF:
                    answers.append(getpass.getpass(last, stream=self.out))
                elif message.style is MessageStyle.PAM_PROMPT_ECHO_ON:
                    self.out.write(last)
                    self.out.flush()
                    line = sys.stdin.readline()
                    if not line:
                        raise EOFError
                    answers.append(line.rstrip("\n"))
                else:
                    self.out.write(last + "\n")
                    answers.append(None)
            except EOFError:
                raise ConversationAborted("end of input at a prompt") from None
        return answers


class LineConversation:
    """Answers each prompt with the next line of a stream (stdin when not a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            if not message.style.is_prompt:
                answers.append(None)
                continue
            line = self.stream.readline()
            if not line:
                raise ConversationAborted("end of input at a prompt")
            answers.append(line.rstrip("\r\n"))
        return answers
