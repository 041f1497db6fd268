"""The blocking engine client: :class:`Engine` starts one :class:`Session` per transaction,
each in its own child.

The CLI, the runner and the tests use it directly; the asyncio client wraps it. The parts live
in ``errors`` (what is raised), ``spawning`` (making and reaping children) and ``session`` (one
transaction); their public names are re-exported here and from ``pamexplorer.engine``.
"""

from __future__ import annotations

import atexit
import signal
import threading
from collections.abc import Mapping
from types import FrameType

from pamexplorer.engine.errors import (
    CRASH_KINDS,
    MAX_TIMEOUT,
    EngineCrashed,
    EngineError,
    ExitStatus,
    TimeoutRangeError,
    check_timeout,
    describe_death,
)
from pamexplorer.engine.session import OUTPUT_LIMIT, Session, live_sessions
from pamexplorer.engine.spawning import (
    SHUTDOWN_GRACE,
    Child,
    DirectForker,
    ForkServerClient,
    Spawner,
    direct_forker,
    fork_server,
    stop_fork_server,
)
from pamexplorer.pam.conversation import Conversation, NoConversation

__all__ = [
    "CRASH_KINDS",
    "MAX_TIMEOUT",
    "OUTPUT_LIMIT",
    "SHUTDOWN_GRACE",
    "Child",
    "DirectForker",
    "Engine",
    "EngineCrashed",
    "EngineError",
    "ExitStatus",
    "ForkServerClient",
    "Session",
    "Spawner",
    "TimeoutRangeError",
    "check_timeout",
    "close_all_sessions",
    "describe_death",
    "fork_server",
]

#: Seconds an idle session's pam_end may take at exit before its child is killed.
EXIT_GRACE = 2.0


def close_all_sessions() -> None:
    """Quitting: every call in flight is killed at once, then every idle transaction gets
    pam_end (each child reaped)."""
    sessions = [s for s in live_sessions() if s.open]
    for session in sessions:
        if session.in_flight is not None:
            session.abort()
    for session in sessions:
        session.close()


@atexit.register
def _at_exit() -> None:
    """pam_end for every transaction still open and idle, a kill for those in flight; then
    every child forked here is reaped and the fork server stopped (it kills what is left)."""
    close_all_sessions()
    direct_forker.reap_all(EXIT_GRACE)
    stop_fork_server()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # once is enough: cleanup is under way
    raise SystemExit(128 + signum)


class Engine:
    """Starts transactions, each in a fresh child process.

    Children come from a warm fork server by default, which is safe in any process. A
    single-threaded front end that runs a few transactions and exits (the CLI) passes
    ``direct=True`` to fork them itself and skip starting the server.
    """

    def __init__(self, timeout: float | None = None, direct: bool = False) -> None:
        self.timeout = check_timeout(timeout)
        self.direct = direct

    @staticmethod
    def prestart() -> None:
        """Start the fork server now, so the first transaction is as cheap as the rest."""
        fork_server()

    @staticmethod
    def reap_on_signals() -> None:
        """For one-shot front ends (``call``, ``run``), from the main thread: SIGTERM and SIGHUP
        end the process through ``SystemExit(128 + signal)``, so that sessions close on the
        way out (a call in flight is killed with its process group) and every child is reaped
        before the process exits. Without this, such a signal kills the front end alone and a
        hung child lives on."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) is signal.SIG_DFL:  # never over someone's handler
                    signal.signal(sig, _exit_on_signal)

    @staticmethod
    def close_all() -> None:
        """Quit: kill calls in flight at once, pam_end for idle sessions."""
        close_all_sessions()

    def session(self, conversation: Conversation | None = None) -> Session:
        """A child ready for ``start``; most callers want :meth:`start`."""
        single_threaded = threading.active_count() == 1
        spawner: Spawner = direct_forker if self.direct and single_threaded else fork_server()
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
        check_timeout(timeout)
        session = self.session(conversation)
        if timeout is not None:
            session.timeout = timeout
        try:
            session.start(service, user, confdir=confdir, items=items, env=env, trace=trace)
        except BaseException:
            session.close()
            raise
        return session
