"""The engine child: runs one :class:`Transaction` on behalf of a front end, then exits.

It is forked from the fork server with the protocol socket and the output pipe already in
place (stdout and stderr point at the pipe, so whatever modules print is captured). Everything
it knows arrives over the socket; answers to prompts, secrets included, never travel through
its arguments or environment.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import signal
import socket
from collections.abc import Sequence
from typing import NoReturn

from pamexplorer.engine.environment import child_environment
from pamexplorer.engine.protocol import (
    AnswersReply,
    Channel,
    ChannelClosed,
    ChannelTampered,
    ConversationEvent,
    ErrorEvent,
    Frame,
    MessageFrame,
    RecordEvent,
    ValueEvent,
    child_channel,
)
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
            ConversationEvent(
                event="conversation",
                messages=[MessageFrame(style=m.style.name, text=m.text) for m in messages],
            )
        )
        reply = self.channel.receive()
        if reply.get("op") != "answers" or reply.get("abort"):
            raise ConversationAborted("the front end cancelled the conversation")
        answers: AnswersReply = reply  # type: ignore[assignment]
        return list(answers["answers"])


class ChildServer:
    def __init__(self, channel: Channel, recorder: int = -1) -> None:
        self.channel = channel
        self.recorder = recorder  # the front end's flight recorder for the trace
        self.transaction: Transaction | None = None

    def serve(self) -> None:
        try:
            while True:
                request = self.channel.receive()
                if not self.handle(request):
                    return
        except (ChannelClosed, ChannelTampered):
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
                self.reply_error(f"unknown request {op!r}")
        except (TransactionError, KeyError, ValueError, TypeError) as err:
            self.reply_error(str(err))
        return True

    def start(self, request: Frame) -> CallRecord:
        if self.transaction is not None:
            raise TransactionError("this engine child already started a transaction")
        self.transaction = child_transaction(
            request, RemoteConversation(self.channel), self.recorder
        )
        return self.transaction.start()

    def require(self) -> Transaction:
        if self.transaction is None:
            raise TransactionError("no transaction started")
        return self.transaction

    def reply_record(self, record: CallRecord) -> None:
        libpam.flush_stdio()
        frame = RecordEvent(event="record", record=record.to_dict())
        if isinstance(self.transaction, TracedTransaction):  # what the front end's trace needs
            frame["trace_unavailable"] = self.transaction.unavailable
            events = self.transaction.record_events()
            if events:
                frame["trace_events"] = events
        self.channel.send(frame)

    def reply_value(self, value: str | int | None) -> None:
        self.channel.send(ValueEvent(event="value", value=value))

    def reply_error(self, message: str) -> None:
        self.channel.send(ErrorEvent(event="error", message=message))


#: prctl(2) options: whether the process may dump core or be ptrace-attached by its uid;
#: whether orphans among its descendants are reparented to it (not to PID 1).
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before the fork server forks


def make_undumpable() -> None:
    """No core dump and no /proc/PID/mem for this process: it may hold a typed password."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0)")


def adopt_orphans() -> None:
    """What a module daemonizes (fork, setsid, exit) stays our descendant, so that ending the
    transaction by force (``spawning.kill_tree``) reaches it too."""
    _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def become_child(proto_fd: int, output_fd: int, recorder_fd: int = -1) -> NoReturn:
    """Right after ``fork``: set the process up as an engine child, serve, and exit.

    The child leads a new session and process group (no controlling terminal: a module cannot
    open ``/dev/tty``, and ``kill(0, ...)`` reaches the child's own group only), adopts what
    its modules daemonize, and cannot dump core. stdin reads /dev/null, stdout and stderr go
    to the output pipe, the protocol socket is fd 3 and the trace's flight recorder fd 4 (both
    close-on-exec: a program a module runs gets neither), every other descriptor is closed,
    the environment is cut to
    :data:`INHERITED_ENV`, and signals are back to their defaults (SIGINT ignored: the front
    end decides when we stop, so that Ctrl-C there still lets ``pam_end`` run here). The first
    frame read is the front end's key (``protocol.child_channel``), before any module loads.
    """
    code = 0
    try:
        os.setsid()
        make_undumpable()
        adopt_orphans()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        keep = child_environment(os.environ)
        for name in list(os.environ):
            if name not in keep:
                del os.environ[name]  # unsetenv: modules see the C environment
        # Out of the way first: either descriptor may sit on 0-3 (a front end started with
        # stdout closed gets its socket there).
        proto = fcntl.fcntl(proto_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        output = fcntl.fcntl(output_fd, fcntl.F_DUPFD_CLOEXEC, 10)
        recorder = fcntl.fcntl(recorder_fd, fcntl.F_DUPFD_CLOEXEC, 10) if recorder_fd >= 0 else -1
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(proto, 3, inheritable=False)
        if recorder >= 0:
            recorder = os.dup2(recorder, 4, inheritable=False)
        os.closerange(5 if recorder >= 0 else 4, os.sysconf("SC_OPEN_MAX"))
        ChildServer(child_channel(socket.socket(fileno=3)), recorder).serve()
    except BaseException:
        code = 70
    finally:
        os._exit(code)
