"""The engine child: runs one :class:`Transaction` on behalf of a front end, then exits.

It is forked from the fork server with the protocol socket and the output pipe already in
place (stdout and stderr point at the pipe, so whatever modules print is captured). Everything
it knows arrives over the socket; answers to prompts, secrets included, never travel through
its arguments or environment.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Sequence
from typing import Any, NoReturn

from pamexplorer.engine.environment import child_environment
from pamexplorer.engine.protocol import Channel, ChannelClosed, Frame
from pamexplorer.engine.tracer import TracedTransaction, child_transaction
from pamexplorer.pam import libpam
from pamexplorer.pam.codes import Function
from pamexplorer.pam.conversation import ConversationAborted
from pamexplorer.pam.records import CallRecord, Message
from pamexplorer.pam.transaction import Transaction, TransactionError


class RemoteConversation:
    """Asks the front end over the channel and waits for its answers."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        libpam.flush_stdio()
        self.channel.send(
            {
                "event": "conversation",
                "messages": [{"style": m.style.name, "text": m.text} for m in messages],
            }
        )
        reply = self.channel.receive()
        if reply.get("op") != "answers" or reply.get("abort"):
            raise ConversationAborted("the front end cancelled the conversation")
        answers: list[str | None] = list(reply.get("answers", []))
        return answers


class ChildServer:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.transaction: Transaction | None = None

    def serve(self) -> None:
        try:
            while True:
                request = self.channel.receive()
                if not self.handle(request):
                    return
        except ChannelClosed:
            return
        finally:
            # The front end went away or asked to stop: still end the transaction properly.
            if self.transaction is not None and not self.transaction.ended:
                self.transaction.end()
            libpam.flush_stdio()

    def handle(self, request: Frame) -> bool:
        """Answer one request; False ends the child."""
        op = request.get("op")
        try:
            if op == "start":
                self.reply_record(self.start(request))
            elif op == "call":
                txn = self.require()
                self.reply_record(txn.call(Function(request["function"]), int(request["flags"])))
            elif op == "set_item":
                self.reply_value(self.require().set_item(request["item"], request["value"]))
            elif op == "get_item":
                self.reply_value(self.require().get_item(request["item"]))
            elif op == "putenv":
                self.reply_value(self.require().putenv(request["entry"]))
            elif op == "end":
                record = self.require().end()
                self.reply_record(record)
                return False
            else:
                self.channel.send({"event": "error", "message": f"unknown request {op!r}"})
        except (TransactionError, KeyError, ValueError, TypeError) as err:
            self.channel.send({"event": "error", "message": str(err)})
        return True

    def start(self, request: Frame) -> CallRecord:
        if self.transaction is not None:
            raise TransactionError("this engine child already started a transaction")
        self.transaction = child_transaction(
            request, RemoteConversation(self.channel), self.channel
        )
        return self.transaction.start()

    def require(self) -> Transaction:
        if self.transaction is None:
            raise TransactionError("no transaction started")
        return self.transaction

    def reply_record(self, record: CallRecord) -> None:
        libpam.flush_stdio()
        frame: Frame = {"event": "record", "record": record.to_dict()}
        if isinstance(self.transaction, TracedTransaction):  # what the front end's trace needs
            frame["trace_events"] = self.transaction.stream_rest()
            frame["trace_unavailable"] = self.transaction.unavailable
        self.channel.send(frame)

    def reply_value(self, value: Any) -> None:
        self.channel.send({"event": "value", "value": value})


def become_child(proto_fd: int, output_fd: int) -> NoReturn:
    """Right after ``fork``: set the process up as an engine child, serve, and exit.

    stdin reads /dev/null, stdout and stderr go to the output pipe, every other descriptor
    but the protocol socket is closed, the environment is cut to :data:`INHERITED_ENV`, and
    signals are back to their defaults (SIGINT ignored: the front end decides when we stop,
    so that Ctrl-C there still lets ``pam_end`` run here).
    """
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        keep = child_environment(os.environ)
        for name in list(os.environ):
            if name not in keep:
                del os.environ[name]  # unsetenv: modules see the C environment
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.dup2(proto_fd, 3)
        os.closerange(4, os.sysconf("SC_OPEN_MAX"))
        ChildServer(Channel(socket.socket(fileno=3))).serve()
    except BaseException:
        code = 70
    finally:
        os._exit(code)
