"""The fork server: a small single-threaded process, started once, that forks engine children.

Why: a transaction must run in its own process, and forking a warm interpreter that already
loaded libpam costs about a millisecond, while starting Python costs tens. Forking the front end
itself is unsafe (the TUI has threads), so this process, which never has threads, does it.

The control socket's frames are declared in ``engine.protocol`` (:class:`SpawnRequest`,
:class:`Spawned`, :class:`Exited`). The server exits when the front end closes the control
socket (the front end exited or died): its children see their channels close and run pam_end on
their own; the process groups of those still running after :data:`SHUTDOWN_GRACE` are killed.
"""

from __future__ import annotations

import gc
import os
import selectors
import signal
import socket
import sys
import time
from types import FrameType

from pamexplorer.engine import tracer
from pamexplorer.engine.child import adopt_orphans, become_child
from pamexplorer.engine.protocol import (
    ChannelClosed,
    Exited,
    Spawned,
    close_quietly,
    receive_control,
    send_control,
)
from pamexplorer.engine.spawning import (
    SHUTDOWN_GRACE,
    children,
    kill_tree,
    open_pidfd,
    reap,
)

# Imported for its side effect: libpam and the transaction code are loaded before any fork.
from pamexplorer.pam import transaction as _transaction

# The trace shim, loaded once before any fork (no child pays for it). The children leave the
# trace's assembly to the front end: no stack layer here.
tracer.load()


def warm_up() -> None:
    """Before the first fork: run the Python every child runs first (a transaction's setup,
    the trace shim's calls with no recorder; no PAM call, no module), so that children start
    from specialised bytecode and ctypes' first-call state instead of each redoing that (three
    fewer pages copied per traced child), then freeze the heap, so that the children's garbage
    collections leave what was here before the fork alone (fewer pages copied on write;
    measured about 0.1 ms less per child)."""
    shim = tracer.load()
    for _ in range(16):
        _transaction.Transaction("warm-up", None)
        tracer.TracedTransaction("warm-up", None, assemble=False)
        if shim is not None:  # ctypes makes what a first call needs here, not in each child
            shim.begin(-1)
            shim.flush()
            shim.end()
    gc.freeze()


class Terminated(Exception):
    """SIGTERM: kill every child's group now and exit."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


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
                    self.shutdown(SHUTDOWN_GRACE)
                    return

    def on_control(self) -> bool:
        try:
            received = receive_control(self.control, 3)
        except (ConnectionResetError, OSError):
            return False
        if received is None:
            return False
        frame, fds = received
        if frame.get("op") == "spawn" and len(fds) in (2, 3):  # 2: no flight recorder
            self.spawn(fds[0], fds[1], fds[2] if len(fds) == 3 else -1)
        for fd in fds:
            close_quietly(fd)
        return True

    def spawn(self, proto_fd: int, output_fd: int, recorder_fd: int) -> None:
        pid = os.fork()
        if pid == 0:
            become_child(proto_fd, output_fd, recorder_fd)
        self.children.add(pid)
        pidfd = open_pidfd(pid)  # not reaped yet: surely this child
        try:
            self.send(Spawned(pid=pid), [pidfd] if pidfd >= 0 else [])
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def reap(self) -> None:
        """Reap whatever ended: an engine child (its group killed first, then what it left
        behind, and the front end told), or a process adopted from a child that died."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            if pid not in self.children:
                os.waitpid(pid, 0)  # an orphan adopted, then killed by sweep()
                continue
            status = reap(pid, block=True)
            assert status is not None  # block=True waits until it is there
            self.children.discard(pid)
            self.send(Exited(exit=pid, status=status))
            self.sweep()

    def sweep(self) -> None:
        """Kill what a dead child left outside its group (``pam_exec`` runs its command in a
        session of its own): as a subreaper, this process adopted it."""
        for pid in children(os.getpid()):
            if pid not in self.children:
                kill_tree(pid)

    def send(self, frame: Spawned | Exited, fds: list[int] | None = None) -> None:
        try:
            send_control(self.control, frame, fds or [])
        except OSError:
            pass

    def shutdown(self, grace: float) -> None:
        """The front end is gone or going: children still running after ``grace`` seconds
        (a hung module) are killed, with their process groups, and reaped."""
        deadline = time.monotonic() + grace
        while self.children and time.monotonic() < deadline:
            time.sleep(0.02)
            self.reap()
        for pid in list(self.children):
            kill_tree(pid)
        while self.children:
            try:
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                break
            self.reap()


def main() -> None:
    adopt_orphans()  # orphans of our descendants are reparented to us, not to PID 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front end's Ctrl-C is not ours
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nor its hangup: it closes our socket
    signal.signal(signal.SIGTERM, _terminate)
    fd = int(sys.argv[1])
    control = socket.socket(fileno=fd)
    warm_up()
    server = ForkServer(control)
    try:
        server.serve()
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.shutdown(0)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, ChannelClosed):
        pass
