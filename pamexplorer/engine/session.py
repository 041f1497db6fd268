"""One transaction in one engine child: requests out, authentic replies and module output in.

A child's end is learnt from its exit (a pidfd in the poll set), not from the end of its
stream: a module's grandchild may hold the channel open long after the child died. Module
output is read all along, so a module never blocks on a full pipe, and at most
:data:`OUTPUT_LIMIT` bytes of it are kept per call.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType

from pamexplorer.engine.errors import (
    EngineCrashed,
    EngineError,
    check_timeout,
    describe_death,
    tampered,
)
from pamexplorer.engine.protocol import (
    AnswersReply,
    CallRequest,
    ChannelClosed,
    ChannelTampered,
    EndRequest,
    Frame,
    GetItemRequest,
    PutenvRequest,
    Request,
    SetItemRequest,
    StartRequest,
    close_quietly,
)
from pamexplorer.engine.spawning import DirectForker, Spawner, kill_tree
from pamexplorer.engine.trace.collect import TraceCollector
from pamexplorer.pam.codes import Function, MessageStyle
from pamexplorer.pam.conversation import Conversation, ConversationAborted
from pamexplorer.pam.records import CallRecord, Message

#: Module output kept per call (stdout and stderr together); the rest is read and dropped.
OUTPUT_LIMIT = 256 * 1024
_READ_SIZE = 1 << 16


def truncation_line(dropped: int) -> str:
    """The last output line of a call whose output went over :data:`OUTPUT_LIMIT`."""
    return f"[output truncated after {OUTPUT_LIMIT // 1024} KiB: {dropped} more bytes not kept]"


class OutputCapture:
    """The module output pipe of one child: read whenever readable, kept up to a bound."""

    def __init__(self, fd: int, limit: int = OUTPUT_LIMIT) -> None:
        self.fd = fd
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0
        #: Every writer closed the pipe (the module closed stdout and stderr, or the child died).
        self.eof = fd < 0

    def read(self) -> None:
        """Read what is there, without blocking."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def take(self) -> list[str]:
        """The lines of the current call, and a last line saying what was dropped, if any."""
        self.read()
        lines = [line.decode("utf-8", "replace") for line in bytes(self.kept).splitlines()]
        if self.dropped:
            lines.append(truncation_line(self.dropped))
        self.kept = bytearray()
        self.dropped = 0
        return lines


class RequestInFlight(EngineError):
    """A request while another thread's request on the same session waits for its reply."""


_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


def live_sessions() -> list[Session]:
    return list(_sessions)


class Session:
    """One transaction in one engine child. Always reaches ``pam_end`` when it can."""

    def __init__(
        self,
        server: Spawner,
        conversation: Conversation,
        timeout: float | None,
    ) -> None:
        self.server = server
        self.conversation = conversation
        self._timeout = check_timeout(timeout)
        child = server.spawn()
        self.pid = child.pid
        self.channel = child.channel
        self.out_fd = child.output
        self.pidfd = child.pidfd
        self.recorder = child.recorder
        self.output = OutputCapture(child.output)
        _sessions.add(self)
        self.start_record: CallRecord | None = None
        self.crashed: EngineCrashed | None = None
        self.ended = False
        self.crash_output: list[str] = []  # module output that came before a crash
        #: The libpam call waiting for its reply, if any: a front end interrupted then must
        #: abort (the module may never return); otherwise ``end`` still runs pam_end.
        self.in_flight: str | None = None
        self._aborted = False
        self._trace = TraceCollector(recorder=child.recorder)
        self._lock = threading.RLock()  # requests, abort and close against each other
        self._exchanging = 0  # threads inside an exchange (at most one in correct use)
        self._close_pending = False

    @property
    def timeout(self) -> float | None:
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        self._timeout = check_timeout(seconds)

    # -- requests -----------------------------------------------------------------------------
    def start(
        self,
        service: str,
        user: str | None,
        confdir: str | None = None,
        items: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        trace: bool = True,
    ) -> CallRecord:
        """``pam_start``; with ``trace`` (the default) every record carries a ``trace``."""
        frame = StartRequest(
            op="start",
            service=service,
            user=user,
            confdir=confdir,
            items=dict(items or {}),
            env=dict(env or {}),
            trace=trace,
            # a one-shot front end (a direct fork) lets the child assemble the trace; a
            # long-lived one assembles it here, with the stack layer loaded and cached
            assemble=isinstance(self.server, DirectForker),
        )
        self._trace.begin(service, confdir)
        # while the child runs pam_start, the stack the trace is assembled against is read
        meanwhile = self._trace.prepare if trace and not frame["assemble"] else None
        record = self._record(frame, "pam_start", meanwhile)
        self.start_record = record
        if record.code != 0:
            self.ended = True  # libpam released the handle; the child has nothing more to do
            self._close()
        return record

    def call(self, function: Function, flags: int = 0) -> CallRecord:
        frame = CallRequest(op="call", function=function.value, flags=int(flags))
        self._trace.in_flight = (function, int(flags))
        return self._record(frame, function.value)

    def set_item(self, item: str, value: str) -> int:
        frame = SetItemRequest(op="set_item", item=item, value=value)
        return int(self._value(frame, "pam_set_item") or 0)

    def get_item(self, item: str) -> str | None:
        value = self._value(GetItemRequest(op="get_item", item=item), "pam_get_item")
        return None if value is None else str(value)

    def putenv(self, entry: str) -> int:
        return int(self._value(PutenvRequest(op="putenv", entry=entry), "pam_putenv") or 0)

    def end(self) -> CallRecord | None:
        """``pam_end``; None when the transaction is already over (ended, failed or crashed)."""
        if self.ended or self.crashed is not None:
            self._close()
            return None
        try:
            record = self._record(EndRequest(op="end"), "pam_end")
        except RequestInFlight:
            raise  # another thread's request: this one changed nothing
        except BaseException:
            if self.in_flight is not None and self.crashed is None:
                self._signal_child()  # interrupted before the reply: pam_end may never return
            self.ended = True
            self._close()
            raise
        self.ended = True
        self._close()
        return record

    def abort(self) -> None:
        """Kill the child at once, with every process it started, typically to end a call
        that hangs; safe from any thread. The call in flight raises ``EngineCrashed("aborted")``."""
        with self._lock:
            self._aborted = True
            self._signal_child()

    def _signal_child(self) -> None:
        """Kill the child and all it started, unless the session is closed already (then its
        pid may no longer be ours)."""
        if self.out_fd >= 0:
            kill_tree(self.pid, self.pidfd)

    def close(self) -> None:
        """End the transaction on any path, never raising: pam_end when the child is idle; a
        kill when a request is in flight (the module may never return). With the call running
        in another thread, this returns at once: that thread sees the kill and cleans up."""
        with self._lock:
            busy = self._exchanging > 0 or self.in_flight is not None
            if busy and self.open:
                self._aborted = True
                self._signal_child()
                self.ended = True
                if self._exchanging:
                    self._close_pending = True
                    return
        if busy:
            self._close()
            return
        try:
            self.end()
        except RequestInFlight:
            self.close()  # a request started meanwhile: kill it
        except EngineError:
            self._close()

    @property
    def open(self) -> bool:
        return not self.ended and self.crashed is None

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the exchange loop --------------------------------------------------------------------
    def _record(
        self, frame: Request, during: str, meanwhile: Callable[[], object] | None = None
    ) -> CallRecord:
        reply = self._exchange(frame, during, meanwhile)
        if reply.get("event") != "record":
            raise EngineError(f"unexpected reply to {during}: {reply.get('event')!r}")
        record = CallRecord.from_dict(reply["record"])
        self._trace.feed_record(reply)
        output = self.output.take()
        if output:
            record = CallRecord(**{**record.__dict__, "output": tuple(output)})
        return self._trace.attach(record)

    def _value(self, frame: Request, during: str) -> str | int | None:
        reply = self._exchange(frame, during)
        value = reply.get("value")
        return value if value is None or isinstance(value, str | int) else str(value)

    def _exchange(
        self, frame: Request, during: str, meanwhile: Callable[[], object] | None = None
    ) -> Frame:
        """Send ``frame`` and answer the child's conversations until its reply; ``meanwhile``
        runs once the request is on its way (work the reply needs, done while the child
        works)."""
        with self._lock:
            if self.crashed is not None:
                raise self.crashed
            if self.ended:
                raise EngineError(f"{during} after the transaction ended")
            if self._exchanging:
                running = self.in_flight or "another request"
                raise RequestInFlight(f"{during} while {running} is in flight")
            self._exchanging += 1
        try:
            return self._converse_until_reply(frame, during, meanwhile)
        finally:
            with self._lock:
                self._exchanging -= 1
                close_now = self._close_pending and not self._exchanging
            if close_now:
                self._close()

    def _converse_until_reply(
        self, frame: Request, during: str, meanwhile: Callable[[], object] | None = None
    ) -> Frame:
        # A conversation that raises (Ctrl-C at a prompt included) gets its prompts refused,
        # but the call's reply is still read before the error is raised: the module sees
        # PAM_CONV_ERR, the call returns, and the next request gets its own reply. A
        # SystemExit (SIGTERM or SIGHUP to a one-shot front end) leaves at once instead: the
        # call stays in flight, and closing the session kills the child.
        failure: BaseException | None = None
        try:
            self.channel.send(frame)
            self.in_flight = during
            if meanwhile is not None:
                meanwhile()
            while True:
                reply = self._receive(during)
                event = reply.get("event")
                if event == "conversation":
                    if failure is not None:
                        self.channel.send(AnswersReply(op="answers", answers=[], abort=True))
                        continue
                    try:
                        self._converse(reply)
                    except ConversationAborted:
                        pass  # the module got PAM_CONV_ERR; the call goes on
                    except SystemExit:
                        raise
                    except BaseException as err:
                        failure = err
                    continue
                self.in_flight = None
                if event == "error":
                    raise EngineError(str(reply.get("message")))
                if failure is not None:
                    raise failure
                return reply
        except ChannelClosed:
            self.in_flight = None
            raise self._died(during) from None
        except ChannelTampered:
            self.in_flight = None
            raise self._tampered(during) from None

    def _receive(self, during: str) -> Frame:
        """The next authentic frame. Raises ChannelClosed once the child has exited (after
        reading what it sent before), ChannelTampered for a frame it did not send, and
        EngineCrashed when the timeout passes."""
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        channel, output = self.channel, self.output
        poller = select.poll()
        if not channel.eof:
            poller.register(channel.fileno(), select.POLLIN)
        if not output.eof:
            poller.register(output.fd, select.POLLIN)
        if self.pidfd >= 0:
            poller.register(self.pidfd, select.POLLIN)
        while True:
            frame = channel.pending()
            if frame is not None:
                return frame
            if channel.eof and self.pidfd < 0:
                raise ChannelClosed("end of stream")  # no pidfd: the end of stream must do
            wait_ms = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out(during)
                wait_ms = max(1, int(left * 1000))
            exited = False
            for fd, _ in poller.poll(wait_ms):
                if fd == self.pidfd:
                    exited = True
                elif fd == output.fd:
                    output.read()
                    if output.eof:  # every writer closed it: POLLHUP for ever after
                        poller.unregister(fd)
                else:
                    channel.feed()
                    if channel.eof:
                        poller.unregister(fd)
            if exited:
                channel.drain()
                output.read()
                frame = channel.pending()
                if frame is not None:
                    return frame
                raise ChannelClosed("the engine child exited")

    def _converse(self, event: Frame) -> None:
        messages = [Message(MessageStyle[m["style"]], m["text"]) for m in event.get("messages", [])]
        try:
            answers = list(self.conversation.respond(messages))
        except BaseException:
            self.channel.send(AnswersReply(op="answers", answers=[], abort=True))
            raise
        self._trace.note_answers(messages, answers)  # echo-off answers: scrubbed from traces
        self.channel.send(AnswersReply(op="answers", answers=answers, abort=False))

    # -- death --------------------------------------------------------------------------------
    def _died(self, during: str) -> EngineCrashed:
        death = self.server.wait_exit(self.pid)
        if self._aborted:
            error = EngineCrashed("aborted", during, f"aborted during {during}")
        elif death is None:
            self._signal_child()
            death = self.server.wait_exit(self.pid, 1.0)
            error = EngineCrashed("crash", during, f"engine child lost during {during}")
        else:
            error = describe_death(death, during)
        return self._crashed(error, reaped=death is not None)

    def _timed_out(self, during: str) -> EngineCrashed:
        self._signal_child()
        death = self.server.wait_exit(self.pid)
        seconds = f"{self._timeout:g}"
        error = EngineCrashed("timeout", during, f"timed out after {seconds} s in {during}")
        return self._crashed(error, reaped=death is not None)

    def _tampered(self, during: str) -> EngineCrashed:
        """Something other than the engine wrote to the channel: nothing the child says can be
        believed any more. Killed, with its group, and reported as a crash of its own kind."""
        self._signal_child()
        death = self.server.wait_exit(self.pid)
        return self._crashed(tampered(during), reaped=death is not None)

    def _crashed(self, error: EngineCrashed, reaped: bool) -> EngineCrashed:
        error.trace = self._trace.crashed()
        self.in_flight = None
        self.crashed = error
        self.crash_output = self.output.take()
        self._close(reaped=reaped)
        return error

    def _close(self, reaped: bool = False) -> None:
        with self._lock:
            if self.out_fd < 0:
                return
            close_quietly(self.out_fd)
            self.out_fd = -1
            self.output.eof = True
            self.channel.close()
            if self.pidfd >= 0:
                close_quietly(self.pidfd)
                self.pidfd = -1
            if self.recorder >= 0:
                close_quietly(self.recorder)
                self.recorder = self._trace.recorder = -1
        if not reaped:  # a crash collected the exit status already
            self.server.forget(self.pid)
