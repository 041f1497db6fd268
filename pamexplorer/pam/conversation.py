"""The PAM conversation: messages in, one answer per message out, or an abort.

A :class:`Conversation` sees decoded :class:`Message` objects and never C memory; the bridge in
:func:`make_conv_callback` turns its answers into ``calloc``ed responses that libpam frees, and
an abort (or any error in the conversation) into ``PAM_CONV_ERR`` for the module.
"""

from __future__ import annotations

import ctypes
import getpass
import itertools
import re
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TextIO, TypeVar

from pamexplorer.pam import libpam
from pamexplorer.pam.codes import Code, MessageStyle

Scripted = TypeVar("Scripted")

#: What an echo-off answer is recorded as, everywhere.
REDACTED = "********"


class ConversationAborted(Exception):
    """Raised by a conversation to refuse answering; the module gets ``PAM_CONV_ERR``."""


@dataclass(frozen=True)
class Message:
    style: MessageStyle
    text: str


@dataclass(frozen=True)
class Exchange:
    """A message as shown, with the answer given; echo-off answers are :data:`REDACTED`."""

    style: MessageStyle
    text: str
    answer: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style.name, "text": self.text, "answer": self.answer}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(MessageStyle[data["style"]], data["text"], data["answer"])


class Conversation(Protocol):
    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        """One answer per message (``None`` for info and error messages)."""
        ...


def record_exchange(message: Message, answer: str | None) -> Exchange:
    """The record kept of one message: never the text of an echo-off answer."""
    if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF and answer is not None:
        answer = REDACTED
    return Exchange(message.style, message.text, answer)


def decode_message(style: int, raw: bytes | None) -> Message:
    """A message from C; text that is not UTF-8 shows with replacement characters."""
    try:
        kind = MessageStyle(style)
    except ValueError:
        kind = MessageStyle.PAM_ERROR_MSG  # libpam never sends others; show rather than drop
    return Message(kind, (raw or b"").decode("utf-8", "replace"))


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


class ConversationBridge:
    """What libpam's callbacks reach during one transaction: the conversation, and the fail
    delay a module asked for. Records what passed through during the current call.

    libpam hands both callbacks the ``appdata_ptr`` of the ``pam_conv`` given to ``pam_start``;
    it carries :attr:`key`, so one pair of C callbacks, made once, serves every transaction.
    """

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.exchanges: list[Exchange] = []
        self.waited_ns = 0  # time spent waiting on the conversation, not in modules
        self.fail_delay_us: int | None = None
        self.key = next(_bridge_keys)
        _bridges[self.key] = self

    def reset(self) -> None:
        self.exchanges = []
        self.waited_ns = 0
        self.fail_delay_us = None

    def pam_conv(self) -> libpam.PamConv:
        """The ``struct pam_conv`` to give ``pam_start``."""
        return libpam.PamConv(CONV_CALLBACK, self.key)

    def convert(self, count: int, messages: Any, p_response: Any) -> int:
        # Never let an exception cross into C: every failure is PAM_CONV_ERR for the module.
        started = time.perf_counter_ns()
        try:
            return self._answer(count, messages, p_response)
        except Exception:
            return int(Code.PAM_CONV_ERR)
        finally:
            self.waited_ns += time.perf_counter_ns() - started

    def _answer(self, count: int, messages: Any, p_response: Any) -> int:
        p_response[0] = None
        if count <= 0:
            return int(Code.PAM_CONV_ERR)
        decoded = [
            decode_message(messages[i].contents.msg_style, messages[i].contents.msg)
            for i in range(count)
        ]
        try:
            answers = list(self.conversation.respond(decoded))
        except ConversationAborted:
            self.exchanges.extend(record_exchange(m, None) for m in decoded)
            return int(Code.PAM_CONV_ERR)
        if len(answers) != count:
            answers = (answers + [None] * count)[:count]
        self.exchanges.extend(record_exchange(m, a) for m, a in zip(decoded, answers, strict=True))
        array = libpam.libc.calloc(count, ctypes.sizeof(libpam.PamResponse))
        if not array:
            return int(Code.PAM_BUF_ERR)
        responses = ctypes.cast(array, ctypes.POINTER(libpam.PamResponse))
        slots = ctypes.cast(array, ctypes.POINTER(ctypes.c_void_p))  # resp is each 1st word
        stride = ctypes.sizeof(libpam.PamResponse) // ctypes.sizeof(ctypes.c_void_p)
        try:
            for i, answer in enumerate(answers):
                if answer is not None:
                    slots[i * stride] = libpam.libc.strdup(answer.encode("utf-8"))
        except BaseException:
            # Nothing reaches libpam: free what was copied so far, and the array.
            for i in range(count):
                if slots[i * stride]:
                    libpam.libc.free(slots[i * stride])
            libpam.libc.free(array)
            raise
        p_response[0] = responses
        return int(Code.PAM_SUCCESS)


_bridge_keys = itertools.count(1)
_bridges: weakref.WeakValueDictionary[int, ConversationBridge] = weakref.WeakValueDictionary()


def _dispatch_conv(count: int, messages: Any, p_response: Any, appdata: int | None) -> int:
    bridge = _bridges.get(appdata or 0)
    if bridge is None:
        return int(Code.PAM_CONV_ERR)
    return bridge.convert(count, messages, p_response)


def _dispatch_delay(retval: int, usec: int, appdata: int | None) -> None:
    bridge = _bridges.get(appdata or 0)
    if bridge is not None:
        bridge.fail_delay_us = int(usec)


#: The C callbacks, made once for the life of the process (libpam may call them any time).
CONV_CALLBACK = libpam.conv_func(_dispatch_conv)
DELAY_CALLBACK = libpam.DelayFunc(_dispatch_delay)


class TerminalConversation:
    """Asks a person at the controlling terminal; echo-off prompts do not echo.

    Info and error messages are written to ``out`` (stderr by default) as they arrive, so the
    person sees them before the next prompt. End of input aborts the conversation.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            try:
                if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF:
                    answers.append(getpass.getpass(message.text, stream=self.out))
                elif message.style is MessageStyle.PAM_PROMPT_ECHO_ON:
                    self.out.write(message.text)
                    self.out.flush()
                    line = sys.stdin.readline()
                    if not line:
                        raise EOFError
                    answers.append(line.rstrip("\n"))
                else:
                    self.out.write(message.text + "\n")
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
