"""What the engine raises, and how a child's end is described."""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass
from typing import Any

from pamexplorer.pam.records import Trace

#: The longest ``timeout`` a session accepts, in seconds (a day).
MAX_TIMEOUT = 86400.0


class EngineError(Exception):
    """A request the child refused (bad item name, call before start, ...)."""


class EngineCrashed(EngineError):
    """The child died, exited, was aborted, timed out, or its channel was tampered with while
    a call was in flight. ``kind`` is one of :data:`CRASH_KINDS`."""

    def __init__(
        self,
        kind: str,
        during: str,
        message: str,
        signal_name: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
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


#: "tampered": a module wrote to the engine's channel; the child was killed.
CRASH_KINDS = ("crash", "timeout", "aborted", "tampered")


class TimeoutRangeError(EngineError, ValueError):
    """A timeout outside ``0 < seconds <= MAX_TIMEOUT`` (a ValueError, and an EngineError so
    that every face already reporting engine errors reports this one too)."""


def check_timeout(seconds: float | None) -> float | None:
    """``seconds`` if it is a usable timeout (None: no timeout), else :class:`TimeoutRangeError`."""
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or not 0 < seconds <= MAX_TIMEOUT
    ):
        raise TimeoutRangeError(
            f"timeout {seconds!r}: expected seconds above 0 and at most {MAX_TIMEOUT:g}"
        )
    return float(seconds)


@dataclass(frozen=True)
class ExitStatus:
    """How an engine child ended: killed by a signal, or exited with a status."""

    signal: str | None
    status: int | None

    @classmethod
    def from_wait(cls, raw: int) -> ExitStatus:
        if os.WIFSIGNALED(raw):
            number = os.WTERMSIG(raw)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            return cls(name, None)
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


def tampered(during: str) -> EngineCrashed:
    return EngineCrashed(
        "tampered", during, f"the engine channel was written to by module code during {during}"
    )
