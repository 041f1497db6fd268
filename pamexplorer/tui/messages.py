"""Messages screens post to the app (handled there with ``@on``): screens never call into it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pamexplorer.engine.aio import AsyncSession


@dataclass
class LeaveTransaction(Message):
    """A screen leaves an open transaction behind: pam_end when idle, killed in a call."""

    session: AsyncSession


@dataclass
class TransactionOpened(Message):
    """A transaction is open: the app ends it on quit if its screen has not."""

    session: AsyncSession


@dataclass
class TransactionClosed(Message):
    """A transaction ended on its screen (pam_end, crash, abort): nothing left to end."""

    session: AsyncSession


class BackToPicker(Message):
    """Leave the current screen for the one below, or for the service picker."""
