"""Plain records of what libpam did: no ctypes, safe to import in any front end.

The engine child builds them from the ctypes side (``pam.transaction``); they cross the engine's
channel as dicts (``to_dict``/``from_dict``) and every face, report and test reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, TypeVar

from pamexplorer.pam.codes import Code, Flag, MessageStyle, flag_names

#: What an echo-off answer is recorded as, everywhere.
REDACTED = "********"

_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Give a frozen dataclass an ``__init__`` that fills the instance's ``__dict__`` directly.

    The generated one calls ``object.__setattr__`` once per field; for the records a trace
    makes per module and per call that was a third of the Python run per call (and a trace
    runs right after a wake-up, when every instruction is slow). Same signature, same
    instances: only for fields with plain defaults (no factory, no ``__post_init__``)."""
    names = []
    params = []
    defaults: dict[str, object] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default_factory is not MISSING or not f.init or hasattr(cls, "__post_init__"):
            raise TypeError(f"quick_init: {cls.__name__}.{f.name} needs the generated __init__")
        names.append(f.name)
        if f.default is MISSING:
            params.append(f.name)
        else:
            defaults[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
    values = ", ".join(f"{n!r}: {n}" for n in names)
    source = f"def __init__(self, {', '.join(params)}):\n    self.__dict__.update({{{values}}})\n"
    scope: dict[str, Any] = {}
    exec(source, defaults, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = cls.__init__.__annotations__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


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
    #: Which module did what in this call (None: the record was made without the trace).
    trace: Trace | None = None

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
            "trace": None if self.trace is None else self.trace.to_dict(),
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
            trace=Trace.from_dict(data["trace"]) if data.get("trace") else None,
        )


#: syslog priorities' level names (``LOG_EMERG`` .. ``LOG_DEBUG``).
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


@dataclass(frozen=True)
class LogLine:
    """One line a module (or libpam) sent to syslog, as formatted (``%m`` expanded)."""

    priority: int
    text: str

    @property
    def level(self) -> str:
        return LOG_LEVELS[self.priority & 7]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "priority": self.priority, "text": self.text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogLine:
        return cls(int(data.get("priority", 3)), str(data["text"]))


@quick_init
@dataclass(frozen=True)
class ModuleCall:
    """One rule of a call's chain in a traced call: the module invocation, or why it did not run.

    ``ran`` False: the rule was not reached (``skip`` says why). ``called`` False with ``ran``
    True: libpam took the code itself without calling a module (a module that did not load or
    lacks the function: PAM_MODULE_UNKNOWN; an always-fail line: PAM_PERM_DENIED).
    ``code`` is what the module returned; ``frozen_code`` the code whose action libpam used in
    pam_setcred/pam_close_session (from the last pam_authenticate/pam_open_session);
    ``action`` the action libpam took (``ok``, ``done``, ``bad``, ``die``, ``ignore``,
    ``reset``, ``jump N``, ``incomplete``, or ``crashed`` when the module never returned).
    """

    file: str
    line: int
    type: str
    control: str
    module: str
    args: tuple[str, ...] = ()
    #: How the rule was reached: ``include common-auth (sshd:3)``, outermost first.
    chain: tuple[str, ...] = ()
    level: int = 0
    function: str = ""
    flags: int = 0
    code: int | None = None
    name: str = ""
    action: str = ""
    frozen_code: int | None = None
    duration_ms: float = 0.0
    messages: tuple[Exchange, ...] = ()
    log: tuple[LogLine, ...] = ()
    ran: bool = True
    called: bool = True
    skip: str = ""
    note: str = ""

    @property
    def where(self) -> str:
        """``common-auth:17`` (the file's base name)."""
        return f"{self.file.rsplit('/', 1)[-1]}:{self.line}" if self.file else "?"

    @property
    def module_name(self) -> str:
        return self.module.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "type": self.type,
            "control": self.control,
            "module": self.module,
            "args": list(self.args),
            "chain": list(self.chain),
            "level": self.level,
            "function": self.function,
            "flags": flag_names(self.flags),
            "flags_value": self.flags,
            "code": self.code,
            "name": self.name,
            "action": self.action,
            "frozen_code": self.frozen_code,
            "duration_ms": round(self.duration_ms, 3),
            "messages": [m.to_dict() for m in self.messages],
            "log": [line.to_dict() for line in self.log],
            "ran": self.ran,
            "called": self.called,
            "skip": self.skip,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModuleCall:
        return cls(
            file=data["file"],
            line=int(data["line"]),
            type=data.get("type", ""),
            control=data.get("control", ""),
            module=data.get("module", ""),
            args=tuple(data.get("args", [])),
            chain=tuple(data.get("chain", [])),
            level=int(data.get("level", 0)),
            function=data.get("function", ""),
            flags=int(data.get("flags_value", 0)),
            code=data.get("code"),
            name=data.get("name", ""),
            action=data.get("action", ""),
            frozen_code=data.get("frozen_code"),
            duration_ms=float(data.get("duration_ms", 0.0)),
            messages=tuple(Exchange.from_dict(m) for m in data.get("messages", [])),
            log=tuple(LogLine.from_dict(x) for x in data.get("log", [])),
            ran=bool(data.get("ran", True)),
            called=bool(data.get("called", True)),
            skip=data.get("skip", ""),
            note=data.get("note", ""),
        )

    def map_text(self, scrub: Callable[[str], str]) -> ModuleCall:
        """This entry with ``scrub`` applied to arguments, messages and log lines."""
        return replace(
            self,
            args=tuple(scrub(a) for a in self.args),
            messages=tuple(
                Exchange(
                    m.style,
                    scrub(m.text),
                    m.answer if m.answer is None or m.answer == REDACTED else scrub(m.answer),
                )
                for m in self.messages
            ),
            log=tuple(LogLine(x.priority, scrub(x.text)) for x in self.log),
        )


#: Trace statuses.
TRACED = "traced"
UNAVAILABLE = "unavailable"
UNRELIABLE = "unreliable"


@quick_init
@dataclass(frozen=True)
class Trace:
    """How the stack reached a call's code, module by module.

    ``status``: ``traced``; ``unavailable`` (no trace at all: ``reason`` says why, e.g. "built
    without a C compiler"); ``unreliable`` (the modules ran as listed, but they could not be
    matched to rules with certainty, so no rule is named: ``reason`` says why).
    ``modules``: every rule of the chain in order (both passes of pam_chauthtok), run or not.
    ``decided_by``: the index in ``modules`` of the rule whose code became the call's code.
    ``disagreement``: non-empty when the dispatcher fed with the traced codes does not reach
    libpam's code ("trace and simulator disagree").
    ``log``: lines libpam itself logged outside any module (``PAM unable to dlopen(...)``).
    ``crashed``: the call never returned; the last entry that ran is where it stopped.
    """

    status: str = TRACED
    reason: str = ""
    modules: tuple[ModuleCall, ...] = ()
    decided_by: int | None = None
    disagreement: str = ""
    log: tuple[LogLine, ...] = ()
    crashed: bool = False

    @property
    def available(self) -> bool:
        return self.status != UNAVAILABLE

    @property
    def decider(self) -> ModuleCall | None:
        return None if self.decided_by is None else self.modules[self.decided_by]

    @property
    def decided_by_text(self) -> str | None:
        """``common-account:19 pam_deny.so (die)``, or None."""
        rule = self.decider
        if rule is None:
            return None
        return f"{rule.where} {rule.module_name} ({rule.action})"

    @property
    def invocations(self) -> tuple[ModuleCall, ...]:
        """The entries where a module was called, in order."""
        return tuple(m for m in self.modules if m.ran and m.called)

    def all_log(self) -> tuple[LogLine, ...]:
        """Every log line of the call: libpam's own, then each module's, in order."""
        return self.log + tuple(x for m in self.modules for x in m.log)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "modules": [m.to_dict() for m in self.modules],
            "decided_by": self.decided_by,
            "decided_by_text": self.decided_by_text,
            "disagreement": self.disagreement,
            "log": [line.to_dict() for line in self.log],
            "crashed": self.crashed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        return cls(
            status=data.get("status", TRACED),
            reason=data.get("reason", ""),
            modules=tuple(ModuleCall.from_dict(m) for m in data.get("modules", [])),
            decided_by=data.get("decided_by"),
            disagreement=data.get("disagreement", ""),
            log=tuple(LogLine.from_dict(x) for x in data.get("log", [])),
            crashed=bool(data.get("crashed", False)),
        )

    def map_text(self, scrub: Callable[[str], str]) -> Trace:
        """This trace with ``scrub`` applied to every text a module or libpam produced (a
        profile's secrets, as ``runner.scrub_record`` does for the rest of a record)."""
        return replace(
            self,
            modules=tuple(m.map_text(scrub) for m in self.modules),
            log=tuple(LogLine(x.priority, scrub(x.text)) for x in self.log),
        )


def unavailable(reason: str) -> Trace:
    return Trace(status=UNAVAILABLE, reason=reason)
