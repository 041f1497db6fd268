"""Plain records of what libpam did: no ctypes, safe to import in any front end.

The engine child builds them from the ctypes side (``pam.transaction``); they cross the engine's
channel as dicts (``to_dict``/``from_dict``) and every face, report and test reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pamexplorer.pam.codes import Code, Flag, MessageStyle, flag_names

#: What an echo-off answer is recorded as, everywhere.
REDACTED = "********"


@dataclass(frozen=True)
class Message:
    """A message from a module, as the conversation receives it."""

    style: MessageStyle
    text: str


@dataclass(frozen=True)
class Exchange:
    """A message as shown, with the answer given; echo-off answers are :data:`REDACTED`."""

    style: MessageStyle
    text: str
    answer: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"style": self.style.name, "text": self.text, "answer": self.answer}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Exchange:
        return cls(MessageStyle[data["style"]], data["text"], data["answer"])


def record_exchange(message: Message, answer: str | None) -> Exchange:
    """The record kept of one message: never the text of an echo-off answer."""
    if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF and answer is not None:
        answer = REDACTED
    return Exchange(message.style, message.text, answer)


@dataclass(frozen=True)
class CallRecord:
    """What one libpam call did, as the front ends show and the reports store it."""

    function: str
    flags: int
    code: int
    name: str
    text: str
    duration_ms: float
    messages: tuple[Exchange, ...] = ()
    items: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    fail_delay_us: int | None = None
    output: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == Code.PAM_SUCCESS

    def flag_names(self) -> list[str]:
        return flag_names(self.flags)

    def __repr__(self) -> str:  # readable in a REPL; pam.html renders (lazily: no cycle)
        from pamexplorer.pam.html import record_text

        return record_text(self)

    def _repr_html_(self) -> str:  # Jupyter's rich display
        from pamexplorer.pam.html import record_html

        return record_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "flags": self.flag_names(),
            "code": self.code,
            "name": self.name,
            "text": self.text,
            "duration_ms": round(self.duration_ms, 3),
            "messages": [m.to_dict() for m in self.messages],
            "items": dict(self.items),
            "env": dict(self.env),
            "fail_delay_us": self.fail_delay_us,
            "output": list(self.output),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        flags = sum(int(Flag[f]) for f in data.get("flags", []) if f in Flag.__members__)
        return cls(
            function=data["function"],
            flags=flags,
            code=int(data["code"]),
            name=data["name"],
            text=data["text"],
            duration_ms=float(data["duration_ms"]),
            messages=tuple(Exchange.from_dict(m) for m in data.get("messages", [])),
            items=dict(data.get("items", {})),
            env=dict(data.get("env", {})),
            fail_delay_us=data.get("fail_delay_us"),
            output=tuple(data.get("output", [])),
        )
