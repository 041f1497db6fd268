"""One PAM transaction per child process, forked from a warm fork server.

``Engine`` (blocking) and ``AsyncEngine`` (asyncio) start sessions; a ``Session`` sends calls to
its child and gets ``CallRecord``s back. A child that crashes, exits or hangs costs only itself:
the call in flight raises ``EngineCrashed`` saying what happened.
"""

from pamexplorer.engine.aio import AsyncConversation, AsyncEngine, AsyncSession
from pamexplorer.engine.client import Engine, EngineCrashed, EngineError, Session

__all__ = [
    "AsyncConversation",
    "AsyncEngine",
    "AsyncSession",
    "Engine",
    "EngineCrashed",
    "EngineError",
    "Session",
]
