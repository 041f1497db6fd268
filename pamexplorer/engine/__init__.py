"""One PAM transaction per child process.

``Engine`` (blocking) and ``AsyncEngine`` (asyncio) start sessions; a ``Session`` sends calls to
its child and gets ``CallRecord``s back. A child that crashes, exits, hangs or lies costs only
itself: the call in flight raises ``EngineCrashed`` saying what happened (``kind``: crash,
timeout, aborted, or tampered when module code wrote to the engine's channel).

Layout: ``protocol`` (every frame of both channels, the signed child channel), ``errors``,
``spawning`` (children forked here or by the fork server, reaped with everything they
started), ``session`` (one transaction), ``client`` (``Engine``), ``aio`` (asyncio), and the
child side: ``child`` and ``forkserver``, the only ones that load libpam.
"""

from typing import Any

from pamexplorer.engine.client import (
    CRASH_KINDS,
    MAX_TIMEOUT,
    OUTPUT_LIMIT,
    Engine,
    EngineCrashed,
    EngineError,
    Session,
    TimeoutRangeError,
    check_timeout,
)

__all__ = [
    "CRASH_KINDS",
    "MAX_TIMEOUT",
    "OUTPUT_LIMIT",
    "AsyncConversation",
    "AsyncEngine",
    "AsyncSession",
    "Engine",
    "EngineCrashed",
    "EngineError",
    "Session",
    "TimeoutRangeError",
    "check_timeout",
]


def __getattr__(name: str) -> Any:
    # The asyncio client is imported on first use: the CLI never needs asyncio.
    if name in ("AsyncConversation", "AsyncEngine", "AsyncSession"):
        from pamexplorer.engine import aio

        return getattr(aio, name)
    raise AttributeError(name)
