"""Making engine children: forked here (:class:`DirectForker`) or by the fork server
(:class:`ForkServerClient`), and learning how they ended.

Every child is the leader of its own session and process group (``setsid`` in
``child.become_child``), so whatever a module starts belongs to that group. When a child is
reaped, its group is killed first (while the unreaped child still holds the group id, so the
signal cannot reach a stranger): a transaction leaves no process behind, and ``kill(0, ...)``
from a module reaches its own group only, never the front end.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import NamedTuple, Protocol

import pamexplorer
from pamexplorer.engine.environment import child_environment
from pamexplorer.engine.errors import EngineError, ExitStatus
from pamexplorer.engine.protocol import (
    Channel,
    SpawnRequest,
    close_quietly,
    front_end_channel,
    receive_control,
    send_control,
)

#: Seconds a direct child gets to exit once its channel is closed, before it is killed.
REAP_WAIT = 2.0
#: Seconds the fork server gives its children to finish once the front end is gone.
SHUTDOWN_GRACE = 1.5


class Child(NamedTuple):
    """A new engine child, as the front end holds it."""

    pid: int
    channel: Channel  # keyed: the hello went out already
    output: int  # read end of the module output pipe (non-blocking)
    pidfd: int  # readable once the child has exited; -1 where pidfds are missing
    recorder: int  # the trace's flight recorder (a memfd the child writes); -1: none


def flight_recorder() -> int:
    """A new memfd for a child's trace events (``engine.trace.collect``); -1 where there are
    no memfds. The child writes it as modules run; the front end reads each call's events from
    it, and how far a call got when the child died or hung."""
    try:
        return os.memfd_create("pamexplorer-trace", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return -1


class Spawner(Protocol):
    """Makes engine children and learns how they ended."""

    def spawn(self) -> Child: ...

    def wait_exit(self, pid: int, timeout: float = 5.0) -> ExitStatus | None:
        """The child's exit status once it has ended (None if that did not happen in time)."""
        ...

    def forget(self, pid: int) -> None:
        """Nobody will ask for this child's exit status."""
        ...


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def children(pid: int) -> list[int]:
    """The children of ``pid``, from /proc (every thread's list)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as listing:
                found.extend(int(child) for child in listing.read().split())
        except (OSError, ValueError):
            pass
    return found


def _signal(pid: int, sig: int, pidfd: int = -1) -> bool:
    try:
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        return False
    return True


def kill_tree(pid: int, pidfd: int = -1) -> None:
    """SIGKILL to the engine child ``pid`` and every process descended from it.

    The tree is frozen first (SIGSTOP, walked until no new process shows up), so nothing forks
    away while it is read; then everything is killed. This reaches what left the child's
    process group too (``pam_exec`` runs its command in a session of its own). ``pidfd``
    (when there is one) makes sure the first signal goes to the right process; the rest are
    children of stopped processes, whose pids cannot be reused until they are reaped.
    """
    if not _signal(pid, signal.SIGSTOP, pidfd):
        return
    frozen = [pid]
    seen = {pid}
    for _ in range(3):  # a fork under way when its parent stopped may still land: look again
        queue = list(frozen)
        grew = False
        while queue:
            for child in children(queue.pop()):
                if child not in seen and _signal(child, signal.SIGSTOP):
                    seen.add(child)
                    frozen.append(child)
                    queue.append(child)
                    grew = True
        if not grew:
            break
    _signal(pid, signal.SIGKILL, pidfd)
    for child in frozen[1:]:
        _signal(child, signal.SIGKILL)


def reap(pid: int, block: bool) -> int | None:
    """Reap the child ``pid``, its process group killed first; its raw wait status, or None
    while it runs. Raises ``ChildProcessError`` when ``pid`` is not (or no longer) our child."""
    flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
    if os.waitid(os.P_PID, pid, flags) is None:
        return None
    kill_group(pid)  # the zombie still owns the group id: only its own group is hit
    _, status = os.waitpid(pid, 0)
    return status


def open_pidfd(pid: int) -> int:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


class DirectForker:
    """Forks engine children from this very process.

    Only for front ends that have a single thread (``pamexplorer call``): a one-shot command
    then pays for no second interpreter. With more than one thread running, forking is unsafe
    (another thread may hold a lock the child needs): :class:`Engine` then uses the fork server.
    The child's environ is cut to ``engine.environment.INHERITED_ENV``, but
    ``/proc/PID/environ`` still shows the block this process was exec'd with: use it only when
    that block holds none of our secrets (the runner's ``{env: NAME}`` answers live there; it
    uses the fork server).
    """

    def __init__(self) -> None:
        self.unreaped: set[int] = set()

    def spawn(self) -> Child:
        self._reap()
        proto_ours, proto_child = socket.socketpair()
        out_r, out_w = os.pipe()
        recorder = flight_recorder()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            proto_ours.close()
            close_quietly(out_r)
            # Imported here, in the child: libpam is loaded in engine children only.
            from pamexplorer.engine.child import become_child

            become_child(proto_child.fileno(), out_w, recorder)
        self.unreaped.add(pid)
        proto_child.close()
        close_quietly(out_w)
        os.set_blocking(out_r, False)
        pidfd = open_pidfd(pid)  # not reaped yet: the pid is surely this child's
        return Child(pid, front_end_channel(proto_ours), out_r, pidfd, recorder)

    def wait_exit(self, pid: int, timeout: float = 5.0) -> ExitStatus | None:
        try:
            status = reap(pid, block=False)
            if status is None:
                pidfd = open_pidfd(pid)  # not reaped: surely this child
                try:
                    if pidfd >= 0:
                        select.select([pidfd], [], [], timeout)
                    else:
                        deadline = time.monotonic() + timeout
                        while (
                            not os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                            and time.monotonic() < deadline
                        ):
                            time.sleep(0.002)
                finally:
                    close_quietly(pidfd)
                status = reap(pid, block=False)
        except ChildProcessError:
            self.unreaped.discard(pid)
            return None
        if status is None:
            return None
        self.unreaped.discard(pid)
        return ExitStatus.from_wait(status)

    def forget(self, pid: int) -> None:
        """Reap the child now: a one-shot front end never exits before its child is reaped.
        Called once its channel is closed, so it is exiting already (pam_end done, or killed);
        one that does not within :data:`REAP_WAIT` seconds is killed."""
        if pid in self.unreaped and self.wait_exit(pid, REAP_WAIT) is None:
            kill_tree(pid)
            self.wait_exit(pid, REAP_WAIT)
        self._reap()

    def _reap(self) -> None:
        for pid in list(self.unreaped):
            try:
                done = reap(pid, block=False) is not None
            except ChildProcessError:
                done = True
            if done:
                self.unreaped.discard(pid)

    def reap_all(self, grace: float) -> None:
        """Before this process exits: every child reaped, those still running after ``grace``
        seconds (a hung module, a pam_end that hangs) killed first."""
        deadline = time.monotonic() + grace
        while self.unreaped and time.monotonic() < deadline:
            self._reap()
            if self.unreaped:
                time.sleep(0.005)
        for pid in list(self.unreaped):
            try:
                kill_tree(pid)
                reap(pid, block=True)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.unreaped.discard(pid)


class ForkServerClient:
    """The front end's connection to its fork server (one per process, started lazily)."""

    def __init__(self, extra_env: Mapping[str, str] | None = None) -> None:
        import subprocess  # here: a one-shot command that forks its children never needs it

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
        self.spawned: list[tuple[int, int]] = []  # (pid, pidfd) replies not yet claimed
        self.forgotten: set[int] = set()  # children whose exit nobody will wait for
        self.exit_lock = threading.Lock()

    def spawn(self) -> Child:
        proto_ours, proto_child = socket.socketpair()
        out_r, out_w = os.pipe()
        recorder = flight_recorder()
        fds = [proto_child.fileno(), out_w, *([recorder] if recorder >= 0 else [])]
        try:
            with self.recv_lock:
                with self.send_lock:
                    send_control(self.sock, SpawnRequest(op="spawn"), fds)
                while not self.spawned:
                    self._read_one(None)
                pid, pidfd = self.spawned.pop(0)
        except BaseException:
            proto_ours.close()
            close_quietly(out_r)
            close_quietly(recorder)
            raise
        finally:
            proto_child.close()
            close_quietly(out_w)
        os.set_blocking(out_r, False)
        try:
            channel = front_end_channel(proto_ours)
        except BaseException:
            proto_ours.close()
            close_quietly(out_r)
            close_quietly(pidfd)
            close_quietly(recorder)
            raise
        return Child(pid, channel, out_r, pidfd, recorder)

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
        try:
            received = receive_control(self.sock, 1)
        except OSError:
            received = None
        if received is None:
            raise EngineError("the engine's fork server stopped")
        frame, fds = received
        if "pid" in frame and len(fds) == 1:
            self.spawned.append((int(frame["pid"]), fds[0]))
        elif "pid" in frame:  # no pidfd (an old kernel): death is seen at end of stream
            self.spawned.append((int(frame["pid"]), -1))
            for fd in fds:
                close_quietly(fd)
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
        """Stop the server: it gives its children :data:`SHUTDOWN_GRACE` seconds, then kills
        their groups; this waits for that."""
        self.sock.close()
        for _, pidfd in self.spawned:
            close_quietly(pidfd)
        self.spawned.clear()
        import subprocess

        try:
            self.process.wait(timeout=SHUTDOWN_GRACE + 3)
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


def stop_fork_server() -> None:
    global _server
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


direct_forker = DirectForker()
