"""The fork server: a small single-threaded process, started once, that forks engine children.

Why: a transaction must run in its own process, and forking a warm interpreter that already
loaded libpam costs about a millisecond, while starting Python costs tens. Forking the front end
itself is unsafe (the TUI has threads), so this process, which never has threads, does it.

Control socket (from the front end): ``{"op": "spawn"}`` with two file descriptors attached
(the child's protocol socket and the write end of its output pipe) -> ``{"pid": N}``;
``{"op": "kill", "pid": N}``. Events: ``{"exit": N, "status": raw wait status}`` whenever a
child ends. The server exits when the front end closes the control socket.
"""

from __future__ import annotations

import array
import json
import os
import selectors
import signal
import socket
import sys
import time

from pamexplorer.engine import tracer
from pamexplorer.engine.child import become_child
from pamexplorer.engine.protocol import ChannelClosed, Frame, close_quietly

# Imported for its side effect: libpam and the transaction code are loaded before any fork.
from pamexplorer.pam import transaction as _transaction  # noqa: F401

# The trace shim and the code that assembles traces, loaded once before any fork.
tracer.preload()

#: Seconds children get to finish once the front end is gone.
SHUTDOWN_GRACE = 1.5


def _receive_request(sock: socket.socket) -> tuple[Frame, list[int]] | None:
    """One request (the control socket is SOCK_SEQPACKET: one send, one record)."""
    fds = array.array("i")
    msg, ancdata, _flags, _addr = sock.recvmsg(1 << 16, socket.CMSG_SPACE(2 * fds.itemsize))
    if not msg:
        return None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    frame: Frame = json.loads(msg.decode("utf-8"))
    return frame, list(fds)


class ForkServer:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.children: set[int] = set()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        while True:
            for key, _ in selector.select():
                if key.data == "wake":
                    try:
                        self.wake_r.recv(4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                elif not self.on_control():
                    self.shutdown()
                    return

    def on_control(self) -> bool:
        try:
            received = _receive_request(self.control)
        except (ConnectionResetError, OSError):
            return False
        if received is None:
            return False
        frame, fds = received
        if frame.get("op") == "spawn" and len(fds) == 2:
            pid = self.spawn(fds[0], fds[1])
            self.send({"pid": pid})
        elif frame.get("op") == "kill":
            pid = int(frame["pid"])
            if pid in self.children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for fd in fds:
            close_quietly(fd)
        return True

    def spawn(self, proto_fd: int, output_fd: int) -> int:
        pid = os.fork()
        if pid == 0:
            become_child(proto_fd, output_fd)
        self.children.add(pid)
        return pid

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"exit": pid, "status": status})

    def send(self, frame: Frame) -> None:
        try:
            self.control.send(json.dumps(frame).encode())
        except OSError:
            pass

    def shutdown(self) -> None:
        """The front end is gone or going: its children see their sockets close and run
        pam_end on their own; those still running after a grace period (a hung module) are
        killed."""
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self.children and time.monotonic() < deadline:
            time.sleep(0.02)
            self.reap()
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front end's Ctrl-C is not ours
    fd = int(sys.argv[1])
    control = socket.socket(fileno=fd)
    ForkServer(control).serve()


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, ChannelClosed):
        pass
