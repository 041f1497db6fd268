"""The blocking engine client: one :class:`Session` per transaction, each in its own child.

The CLI, the runner and the tests use it directly; the asyncio client wraps it.
"""

from __future__ import annotations

import array
import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import pamexplorer
from pamexplorer.engine.environment import child_environment
from pamexplorer.engine.protocol import Channel, ChannelClosed, Frame, close_quietly
from pamexplorer.engine.trace.collect import TraceCollector
from pamexplorer.pam.codes import Function, MessageStyle
from pamexplorer.pam.conversation import Conversation, ConversationAborted, NoConversation
from pamexplorer.pam.records import CallRecord, Message, Trace


class EngineError(Exception):
    """A request the child refused (bad item name, call before start, ...)."""


class EngineCrashed(EngineError):
    """The child died, exited, was aborted or timed out while a call was in flight."""

    def __init__(
        self,
        kind: str,
        during: str,
        message: str,
        signal_name: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind  # "crash" | "timeout" | "aborted"
        self.during = during
        self.message = message
        self.signal = signal_name
        self.status = status
        #: The trace of the call up to where the child stopped (None: not traced).
        self.trace: Trace | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "signal": self.signal,
            "status": self.status,
            "during": self.during,
            "message": self.message,
            **({"trace": self.trace.to_dict()} if self.trace is not None else {}),
        }


@dataclass(frozen=True)
class ExitStatus:
    """How an engine child ended: killed by a signal, or exited with a status."""

    signal: str | None
    status: int | None

    @classmethod
    def from_wait(cls, raw: int) -> ExitStatus:
        if os.WIFSIGNALED(raw):
            return cls(signal.Signals(os.WTERMSIG(raw)).name, None)
        return cls(None, os.waitstatus_to_exitcode(raw))


def describe_death(death: ExitStatus, during: str) -> EngineCrashed:
    if death.signal is not None:
        return EngineCrashed("crash", during, f"{death.signal} during {during}", death.signal)
    return EngineCrashed(
        "crash",
        during,
        f"module exited with status {death.status} during {during}",
        status=death.status,
    )


class Spawner(Protocol):
    """Makes engine children and learns how they ended."""

    def spawn(self) -> tuple[int, Channel, int]:
        """A new engine child: (pid, protocol channel, read end of its output pipe)."""
        ...

    def kill(self, pid: int) -> None: ...

    def wait_exit(self, pid: int, timeout: float = 5.0) -> ExitStatus | None: ...

    def forget(self, pid: int) -> None:
        """Nobody will ask for this child's exit status."""
        ...


class DirectForker:
    """Forks engine children from this very process.

    Only for front ends that have a single thread (``pamexplorer call``): a one-shot command
    then pays for no second interpreter. With more than one thread running, forking is unsafe
    (another thread may hold a lock the child needs): :class:`Engine` then uses the fork server.
    The child's environ is cut to ``engine.environment.INHERITED_ENV``, but
    ``/proc/PID/environ`` still
    shows the block this process was exec'd with: use it only when that block holds none of
    our secrets (the runner's ``{env: NAME}`` answers live there; it uses the fork server).
    """

    def __init__(self) -> None:
        self.unreaped: set[int] = set()

    def spawn(self) -> tuple[int, Channel, int]:
        self._reap()
        proto_ours, proto_child = socket.socketpair()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            proto_ours.close()
            close_quietly(out_r)
            # Imported here, in the child: libpam is loaded in engine children only.
            from pamexplorer.engine.child import become_child

            become_child(proto_child.fileno(), out_w)
        proto_child.close()
        close_quietly(out_w)
        os.set_blocking(out_r, False)
        return pid, Channel(proto_ours), out_r

    def kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait_exit(self, pid: int, timeout: float = 5.0) -> ExitStatus | None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if done:
                return ExitStatus.from_wait(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.002)

    def forget(self, pid: int) -> None:
        self.unreaped.add(pid)
        self._reap()

    def _reap(self) -> None:
        for pid in list(self.unreaped):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.unreaped.discard(pid)


class ForkServerClient:
    """The front end's connection to its fork server (one per process, started lazily)."""

    def __init__(self, extra_env: Mapping[str, str] | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = child_environment(os.environ)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(pamexplorer.__file__)))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra_env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pamexplorer.engine.forkserver", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        theirs.close()
        self.sock = ours
        self.send_lock = threading.Lock()
        self.recv_lock = threading.Lock()
        self.exits: dict[int, int] = {}
        self.pids: list[int] = []
        self.forgotten: set[int] = set()  # children whose exit nobody will wait for
        self.exit_lock = threading.Lock()

    def spawn(self) -> tuple[int, Channel, int]:
        """A new engine child: (pid, protocol channel, read end of its output pipe)."""
        proto_ours, proto_child = socket.socketpair()
        out_r, out_w = os.pipe()
        try:
            with self.recv_lock:
                with self.send_lock:
                    fds = array.array("i", [proto_child.fileno(), out_w])
                    self.sock.sendmsg(
                        [json.dumps({"op": "spawn"}).encode()],
                        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())],
                    )
                while not self.pids:
                    self._read_one(None)
                pid = self.pids.pop(0)
        except BaseException:
            proto_ours.close()
            close_quietly(out_r)
            raise
        finally:
            proto_child.close()
            close_quietly(out_w)
        os.set_blocking(out_r, False)
        return pid, Channel(proto_ours), out_r

    def kill(self, pid: int) -> None:
        with self.send_lock:
            try:
                self.sock.send(json.dumps({"op": "kill", "pid": pid}).encode())
            except OSError:
                pass

    def wait_exit(self, pid: int, timeout: float = 5.0) -> ExitStatus | None:
        """The child's exit status as the fork server reaped it, or None if it never came."""
        deadline = time.monotonic() + timeout
        with self.recv_lock:
            while pid not in self.exits:
                left = deadline - time.monotonic()
                if left <= 0 or not self._read_one(left):
                    return None
            with self.exit_lock:
                return ExitStatus.from_wait(self.exits.pop(pid))

    def _read_one(self, timeout: float | None) -> bool:
        if self.sock.fileno() < 0:
            raise EngineError("the engine's fork server was stopped")
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        data = self.sock.recv(1 << 16)
        if not data:
            raise EngineError("the engine's fork server stopped")
        frame: Frame = json.loads(data)
        if "pid" in frame:
            self.pids.append(int(frame["pid"]))
        elif "exit" in frame:
            pid = int(frame["exit"])
            with self.exit_lock:
                if pid in self.forgotten:
                    self.forgotten.discard(pid)
                else:
                    self.exits[pid] = int(frame["status"])
        return True

    def forget(self, pid: int) -> None:
        """Nobody will ask for this child's exit status: do not keep it."""
        with self.exit_lock:
            if self.exits.pop(pid, None) is None:
                self.forgotten.add(pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.sock.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_server: ForkServerClient | None = None
_server_lock = threading.Lock()


def fork_server() -> ForkServerClient:
    """The shared fork server, started on first use and restarted if it died."""
    global _server
    with _server_lock:
        if _server is None or not _server.alive():
            _server = ForkServerClient()
        return _server


@atexit.register
def _stop_fork_server() -> None:
    """At exit: pam_end for every transaction still open and idle, then stop the server."""
    global _server
    for session in list(_sessions):
        if session.open and session.in_flight is None:
            session.close()
    if _server is not None:
        _server.close()
        _server = None


_direct = DirectForker()
_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


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
        self.timeout = timeout
        self.pid, self.channel, self.out_fd = server.spawn()
        _sessions.add(self)
        self.start_record: CallRecord | None = None
        self.crashed: EngineCrashed | None = None
        self.ended = False
        self.crash_output: list[str] = []  # module output that came before a crash
        #: The libpam call waiting for its reply, if any: a front end interrupted then must
        #: abort (the module may never return); otherwise ``end`` still runs pam_end.
        self.in_flight: str | None = None
        self._aborted = False
        self._pending_output = b""
        self._trace = TraceCollector()

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
        frame = {
            "op": "start",
            "service": service,
            "user": user,
            "confdir": confdir,
            "items": dict(items or {}),
            "env": dict(env or {}),
            "trace": trace,
            # a one-shot front end (a direct fork) lets the child assemble the trace; a
            # long-lived one assembles it here, with the stack layer loaded and cached
            "assemble": self.server is _direct,
        }
        self._trace.begin(service, confdir)
        record = self._record(frame, "pam_start")
        self.start_record = record
        if record.code != 0:
            self.ended = True  # libpam released the handle; the child has nothing more to do
            self._close()
        return record

    def call(self, function: Function, flags: int = 0) -> CallRecord:
        frame = {"op": "call", "function": function.value, "flags": int(flags)}
        self._trace.in_flight = (function, int(flags))
        return self._record(frame, function.value)

    def set_item(self, item: str, value: str) -> int:
        return int(self._value({"op": "set_item", "item": item, "value": value}, "pam_set_item"))

    def get_item(self, item: str) -> str | None:
        value = self._value({"op": "get_item", "item": item}, "pam_get_item")
        return None if value is None else str(value)

    def putenv(self, entry: str) -> int:
        return int(self._value({"op": "putenv", "entry": entry}, "pam_putenv"))

    def end(self) -> CallRecord | None:
        """``pam_end``; None when the transaction is already over (ended, failed or crashed)."""
        if self.ended or self.crashed is not None:
            self._close()
            return None
        try:
            record = self._record({"op": "end"}, "pam_end")
        finally:
            self.ended = True
            self._close()
        return record

    def abort(self) -> None:
        """Kill the child, typically to end a call that hangs; safe from any thread."""
        self._aborted = True
        self.server.kill(self.pid)

    def close(self) -> None:
        """End the transaction on any path, from the thread that owns the session: pam_end
        when the child is idle; a kill when a call was interrupted before its reply came (the
        module may never return). Never raises."""
        if self.in_flight is not None and self.open:
            self.abort()
            self.ended = True
            self._close()
            return
        try:
            self.end()
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
    def _record(self, frame: Frame, during: str) -> CallRecord:
        reply = self._exchange(frame, during)
        if reply.get("event") != "record":
            raise EngineError(f"unexpected reply to {during}: {reply.get('event')!r}")
        record = CallRecord.from_dict(reply["record"])
        self._trace.feed_record(reply)
        output = self._take_output(final=True)
        if output:
            record = CallRecord(**{**record.__dict__, "output": tuple(output)})
        return self._trace.attach(record)

    def _value(self, frame: Frame, during: str) -> Any:
        reply = self._exchange(frame, during)
        return reply.get("value")

    def _exchange(self, frame: Frame, during: str) -> Frame:
        if self.crashed is not None:
            raise self.crashed
        if self.ended:
            raise EngineError(f"{during} after the transaction ended")
        # A conversation that raises (Ctrl-C at a prompt included) gets its prompts refused,
        # but the call's reply is still read before the error is raised: the module sees
        # PAM_CONV_ERR, the call returns, and the next request gets its own reply.
        failure: BaseException | None = None
        try:
            self.channel.send(frame)
            self.in_flight = during
            while True:
                reply = self._receive(during)
                event = reply.get("event")
                if event == "trace":
                    self._trace.feed(reply)
                    continue
                if event == "conversation":
                    if failure is not None:
                        self.channel.send({"op": "answers", "abort": True})
                        continue
                    try:
                        self._converse(reply)
                    except ConversationAborted:
                        pass  # the module got PAM_CONV_ERR; the call goes on
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

    def _receive(self, during: str) -> Frame:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        poller = select.poll()
        poller.register(self.channel.fileno(), select.POLLIN)
        poller.register(self.out_fd, select.POLLIN)
        while True:
            frame = self.channel.pending()
            if frame is not None:
                return frame
            wait_ms = None
            if deadline is not None:
                wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
            events = poller.poll(wait_ms)
            if not events and deadline is not None and time.monotonic() >= deadline:
                raise self._timed_out(during)
            for fd, _ in events:
                if fd == self.out_fd:
                    self._read_output()
                else:
                    self.channel.feed()

    def _converse(self, event: Frame) -> None:
        messages = [Message(MessageStyle[m["style"]], m["text"]) for m in event.get("messages", [])]
        try:
            answers = list(self.conversation.respond(messages))
        except BaseException:
            self.channel.send({"op": "answers", "abort": True})
            raise
        self._trace.note_answers(messages, answers)  # echo-off answers: scrubbed from the trace
        self.channel.send({"op": "answers", "answers": answers})

    # -- output and death ---------------------------------------------------------------------
    def _read_output(self) -> None:
        while True:
            try:
                chunk = os.read(self.out_fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                return
            if not chunk:
                return
            self._pending_output += chunk

    def _take_output(self, final: bool) -> list[str]:
        self._read_output()
        data = self._pending_output
        if not final:
            cut = data.rfind(b"\n") + 1
            data, self._pending_output = data[:cut], data[cut:]
        else:
            self._pending_output = b""
        return [line.decode("utf-8", "replace") for line in data.splitlines()]

    def _died(self, during: str) -> EngineCrashed:
        death = self.server.wait_exit(self.pid)
        if self._aborted:
            error = EngineCrashed("aborted", during, f"aborted during {during}")
        elif death is None:
            error = EngineCrashed("crash", during, f"engine child lost during {during}")
        else:
            error = describe_death(death, during)
        error.trace = self._trace.crashed()
        self.crashed = error
        self.crash_output = self._take_output(final=True)
        self._close()
        return error

    def _timed_out(self, during: str) -> EngineCrashed:
        self.server.kill(self.pid)
        self.server.wait_exit(self.pid)
        seconds = f"{self.timeout:g}"
        error = EngineCrashed("timeout", during, f"timed out after {seconds} s in {during}")
        error.trace = self._trace.crashed()
        self.crashed = error
        self.crash_output = self._take_output(final=True)
        self._close()
        return error

    def _close(self) -> None:
        if self.out_fd >= 0:
            close_quietly(self.out_fd)
            self.out_fd = -1
            self.channel.close()
            if self.crashed is None:  # a crash already collected the exit status
                self.server.forget(self.pid)


class Engine:
    """Starts transactions, each in a fresh child process.

    Children come from a warm fork server by default, which is safe in any process. A
    single-threaded front end that runs a few transactions and exits (the CLI) passes
    ``direct=True`` to fork them itself and skip starting the server.
    """

    def __init__(self, timeout: float | None = None, direct: bool = False) -> None:
        self.timeout = timeout
        self.direct = direct

    @staticmethod
    def prestart() -> None:
        """Start the fork server now, so the first transaction is as cheap as the rest."""
        fork_server()

    def session(self, conversation: Conversation | None = None) -> Session:
        """A child ready for ``start``; most callers want :meth:`start`."""
        single_threaded = threading.active_count() == 1
        spawner: Spawner = _direct if self.direct and single_threaded else fork_server()
        return Session(spawner, conversation or NoConversation(), self.timeout)

    def start(
        self,
        service: str,
        user: str | None,
        confdir: str | None = None,
        items: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        conversation: Conversation | None = None,
        timeout: float | None = None,
        trace: bool = True,
    ) -> Session:
        session = self.session(conversation)
        if timeout is not None:
            session.timeout = timeout
        try:
            session.start(service, user, confdir=confdir, items=items, env=env, trace=trace)
        except BaseException:
            session.close()
            raise
        return session
