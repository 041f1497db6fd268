"""The C side of the conversation: libpam's callbacks, routed to a :class:`Conversation`.

Engine children only (ctypes): it turns a conversation's answers into ``calloc``ed responses that
libpam frees, and an abort (or any error in the conversation) into ``PAM_CONV_ERR``.
"""

from __future__ import annotations

import ctypes
import itertools
import time
import weakref
from typing import Any

from pamexplorer.pam import libpam
from pamexplorer.pam.codes import Code, MessageStyle
from pamexplorer.pam.conversation import Conversation, ConversationAborted
from pamexplorer.pam.records import Exchange, Message, record_exchange


def decode_message(style: int, raw: bytes | None) -> Message:
    """A message from C; text that is not UTF-8 shows with replacement characters."""
    try:
        kind = MessageStyle(style)
    except ValueError:
        kind = MessageStyle.PAM_ERROR_MSG  # libpam never sends others; show rather than drop
    return Message(kind, (raw or b"").decode("utf-8", "replace"))


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
