"""The shim's raw events, parsed (pure Python: the front end reads a child's flight recorder).

Each event is a JSON array (see ``pamtrace.c``): ``["L", slot, symbol, path, found, parent]`` a
``pam_sm_*`` lookup at pam_start (slot -1: no trampoline); ``["B", seq, parent, slot, flags,
argv, t_ns]`` a module invocation began; ``["E", seq, code, duration_ns]`` it returned;
``["S", seq, priority, text]`` a syslog line (seq -1: outside any invocation);
``["M", seq, count, waited_ns]`` a conversation of ``count`` messages; ``["X", why]`` the trace
lost something (out of slots, the flight recorder full). Strings carry bytes >= 0x80 as
U+0080..U+00FF.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import Any


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.isascii():
        return text
    return text.encode("latin-1", "replace").decode("utf-8", "replace")


@dataclass(frozen=True)
class Lookup:
    """libpam looked up a ``pam_sm_*`` function (slot -1: none given out)."""

    slot: int
    symbol: str
    path: str
    found: bool
    parent: int


@dataclass
class Invocation:
    """One call of a module function (``code`` None: it never returned)."""

    seq: int
    parent: int
    slot: int
    flags: int
    argv: tuple[str, ...]
    began_ns: int
    code: int | None = None
    duration_ns: int = 0
    waited_ns: int = 0
    log: list[tuple[int, str]] = field(default_factory=list)
    messages: int = 0


@dataclass
class Events:
    """What the shim recorded during one libpam call."""

    lookups: list[Lookup] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    #: syslog lines outside any invocation: (priority, text).
    log: list[tuple[int, str]] = field(default_factory=list)
    #: (invocation seq or -1, message count), in order.
    conversations: list[tuple[int, int]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    _by_seq: dict[int, Invocation] = field(default_factory=dict)

    def top(self, seq: int) -> Invocation | None:
        """The outermost invocation ``seq`` runs in (modules may start nested transactions)."""
        found = self._by_seq.get(seq)
        while found is not None and found.parent >= 0 and found.parent in self._by_seq:
            found = self._by_seq[found.parent]
        return found

    def extend(self, raw_events: Iterable[list[Any]]) -> None:
        """Add parsed events (each a non-empty list; TypeError, ValueError or IndexError for
        anything else)."""
        by_seq = self._by_seq
        for event in raw_events:
            if type(event) is not list or not event:
                raise TypeError("not an event")
            kind = event[0]
            if kind == "B":
                inv = Invocation(
                    int(event[1]),
                    int(event[2]),
                    int(event[3]),
                    int(event[4]),
                    tuple(map(_text, event[5])),
                    int(event[6]),
                )
                by_seq[inv.seq] = inv
                self.invocations.append(inv)
            elif kind == "E":
                done = by_seq.get(int(event[1]))
                if done is not None:
                    done.code = int(event[2])
                    done.duration_ns = int(event[3])
            elif kind == "S":
                line = (int(event[2]), _text(event[3]))
                owner = self.top(int(event[1]))
                (owner.log if owner is not None else self.log).append(line)
            elif kind == "M":
                owner = self.top(int(event[1]))
                count, waited = int(event[2]), int(event[3])
                self.conversations.append((owner.seq if owner else -1, count))
                if owner is not None:
                    owner.messages += count
                    owner.waited_ns += waited
                    inner = self._by_seq.get(int(event[1]))
                    if inner is not None and inner is not owner:
                        inner.waited_ns += waited
            elif kind == "L":
                self.lookups.append(
                    Lookup(int(event[1]), _text(event[2]), _text(event[3]), bool(event[4]),
                           int(event[5]))
                )  # fmt: skip
            elif kind == "X":
                self.lost.append(_text(event[1]))

    @property
    def top_invocations(self) -> list[Invocation]:
        return [inv for inv in self.invocations if inv.parent < 0]


#: What ``json.loads`` runs, without its Python layers (every traced call comes here).
_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]

#: Why a trace read from the flight recorder is unreliable when it holds something else.
GARBLED = "the flight recorder holds bytes that are not the shim's events"


def parse_untrusted(text: str) -> tuple[Events, int]:
    """The events in ``text`` (JSON arrays, each followed by a comma) up to the first thing
    that is not one, and how many characters they took. Anything that is not a shim event is
    noted in ``Events.lost`` (:data:`GARBLED`): the shim writes whole events only."""
    events = Events()
    if not text:
        return events, 0
    if text.endswith(","):  # the usual case: whole events only
        whole = "[" + text[:-1] + "]"
        try:
            raw, end = _scan(whole, 0)
        except (ValueError, StopIteration):
            pass
        else:
            if end == len(whole) and _extend(events, raw):
                return events, len(text)
            events = Events()  # one of them is not the shim's: the slow way, to keep the rest
    decoder = json.JSONDecoder()
    at = 0
    while at < len(text):
        try:
            event, end = decoder.raw_decode(text, at)
        except ValueError:
            event, end = None, at
        if not text.startswith(",", end):
            events.lost.append(GARBLED)
            break
        if not _extend(events, [event]):
            break
        at = end + 1
    return events, at


def _extend(events: Events, raw: Any) -> bool:
    """Add ``raw`` (parsed JSON) to ``events``; False (and noted) when it is not shim events."""
    try:
        if type(raw) is not list:
            raise TypeError("not a list of events")
        events.extend(raw)
    except (TypeError, ValueError, IndexError, KeyError):
        events.lost.append(GARBLED)
        return False
    return True
