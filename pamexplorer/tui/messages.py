"""Messages screens post to the app (handled there with ``@on``): screens never call into it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pamexplorer.runner import ProfileRun
    from pamexplorer.session import PamSession


@dataclass
class TransactionOpened(Message):
    """A transaction is open: the app ends it on quit if its screen has not."""

    session: PamSession


@dataclass
class LeaveTransaction(Message):
    """A screen leaves an open transaction behind: pam_end when idle, killed in a call."""

    session: PamSession


@dataclass
class RunOpened(Message):
    """A profile run is under way: the app ends its transaction on quit if its screen has not."""

    run: ProfileRun


@dataclass
class LeaveRun(Message):
    """A screen leaves a profile run behind: ended like a transaction (``ProfileRun.close``)."""

    run: ProfileRun


class BackToPicker(Message):
    """Leave the current screen for the one below, or for the service picker."""
