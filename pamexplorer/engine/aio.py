"""The asyncio engine client for the TUI: the blocking client, run in worker threads.

Each call runs in a thread so the event loop never waits on libpam; prompts are handed back to
the loop, where an ``async`` conversation (a modal, say) answers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from pamexplorer.engine.client import Engine, Session
from pamexplorer.pam.codes import Function
from pamexplorer.pam.records import CallRecord, Message


class AsyncConversation(Protocol):
    async def respond(self, messages: Sequence[Message]) -> list[str | None]: ...


class _LoopConversation:
    """A blocking conversation that runs an async one on the event loop and waits for it."""

    def __init__(self, conversation: AsyncConversation, loop: asyncio.AbstractEventLoop) -> None:
        self.conversation = conversation
        self.loop = loop

    def respond(self, messages: Sequence[Message]) -> list[str | None]:
        future = asyncio.run_coroutine_threadsafe(self.conversation.respond(messages), self.loop)
        return future.result()


class AsyncSession:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def start_record(self) -> CallRecord | None:
        return self.session.start_record

    @property
    def open(self) -> bool:
        return self.session.open

    @property
    def pid(self) -> int:
        return self.session.pid

    async def call(self, function: Function, flags: int = 0) -> CallRecord:
        return await asyncio.to_thread(self.session.call, function, flags)

    async def set_item(self, item: str, value: str) -> int:
        return await asyncio.to_thread(self.session.set_item, item, value)

    async def get_item(self, item: str) -> str | None:
        return await asyncio.to_thread(self.session.get_item, item)

    async def putenv(self, entry: str) -> int:
        return await asyncio.to_thread(self.session.putenv, entry)

    async def end(self) -> CallRecord | None:
        return await asyncio.to_thread(self.session.end)

    @property
    def in_flight(self) -> str | None:
        """The libpam call waiting for its reply, if any."""
        return self.session.in_flight

    def abort(self) -> None:
        """Kill the child; the call in flight raises ``EngineCrashed(kind="aborted")``."""
        self.session.abort()

    async def close(self) -> None:
        """Quit this transaction: a call in flight is killed at once (no thread, no wait); an
        idle one gets pam_end."""
        if self.session.in_flight is not None:
            self.session.close()
            return
        await asyncio.to_thread(self.session.close)


class AsyncEngine:
    def __init__(self, timeout: float | None = None) -> None:
        self.engine = Engine(timeout)

    async def prestart(self) -> None:
        await asyncio.to_thread(Engine.prestart)

    async def start(
        self,
        service: str,
        user: str | None,
        confdir: str | None = None,
        items: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        conversation: AsyncConversation | None = None,
        timeout: float | None = None,
    ) -> AsyncSession:
        loop = asyncio.get_running_loop()
        bridge = None if conversation is None else _LoopConversation(conversation, loop)
        session = await asyncio.to_thread(
            self.engine.start, service, user, confdir, items, env, bridge, timeout
        )
        return AsyncSession(session)
