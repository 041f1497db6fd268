"""Raw trace events -> :class:`~pamexplorer.pam.records.Trace`, one per libpam call.

libpam installs handlers in file order (includes expanded where they stand, then ``other``),
looking up ``pam_sm_authenticate`` then ``pam_sm_setcred`` for an auth rule, open then close
for a session rule, one function for account and password rules, for modules that loaded. The
shim saw those lookups in that order, so :class:`TraceBuilder` maps each trampoline slot to
the rule ``stack.resolve`` lists at that place, and checks it: the module path must match, and
every invocation must receive exactly the rule's arguments. Any doubt makes the trace
``unreliable`` (modules listed, no rule named), never a wrong attribution.

The actions come from ``stack.simulate``'s dispatcher fed with the traced codes: simulate and
trace share one implementation, and a call whose code the dispatcher does not reach is flagged
("trace and simulator disagree").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from pamexplorer.engine.trace.events import Events, Invocation, parse_untrusted
from pamexplorer.pam.codes import Code, Function, code_name
from pamexplorer.pam.records import (
    TRACED,
    UNRELIABLE,
    CallRecord,
    Exchange,
    LogLine,
    ModuleCall,
    Trace,
    unavailable,
)
from pamexplorer.pamdirs import SYSTEM
from pamexplorer.stack.model import RETURN_VALUES, TYPE_SYMBOLS, Rule, Stack, action_name
from pamexplorer.stack.resolve import resolve
from pamexplorer.stack.simulate import (
    PAM_PRELIM_CHECK,
    PAM_UPDATE_AUTHTOK,
    SYMBOL,
    PathStep,
    Simulator,
)

_PERM_DENIED = int(Code.PAM_PERM_DENIED)
_FUNCTIONS = {f.value: f for f in Function}
_MODULE_UNKNOWN = int(Code.PAM_MODULE_UNKNOWN)


def _same_file(a: str | None, b: str | None, cache: dict[str, str]) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    for p in (a, b):
        if p not in cache:
            cache[p] = os.path.realpath(p)
    return cache[a] == cache[b]


def _pass(flags: int) -> str | None:
    """The pam_chauthtok pass a module was called in."""
    if flags & PAM_PRELIM_CHECK:
        return "prelim"
    if flags & PAM_UPDATE_AUTHTOK:
        return "update"
    return None


def _log(lines: list[tuple[int, str]]) -> tuple[LogLine, ...]:
    if not lines:
        return ()
    return tuple(LogLine(priority, text) for priority, text in lines)


def _duration_ms(inv: Invocation) -> float:
    return max(inv.duration_ns - inv.waited_ns, 0) / 1e6


def _messages(record: CallRecord, events: Events) -> dict[int, tuple[Exchange, ...]]:
    """The record's messages split by the invocation that asked (seq -> messages); nothing
    when the counts do not add up (never a wrong attribution)."""
    messages = record.messages
    if not messages or sum(count for _, count in events.conversations) != len(messages):
        return {}
    out: dict[int, list[Exchange]] = {}
    at = 0
    for seq, count in events.conversations:
        out.setdefault(seq, []).extend(messages[at : at + count])
        at += count
    return {seq: tuple(found) for seq, found in out.items()}


@dataclass(frozen=True)
class _StartMap:
    """What ``TraceBuilder._start`` made of one pam_start's events on one stack: the same
    events text on the same stack always makes the same, so it is kept with the stack."""

    trace: Trace
    unreliable: str
    handlers: dict[int, tuple[Rule, str]]
    functions: dict[tuple[int, str], int | None]
    module_paths: dict[int, str]
    loaded: dict[int, bool]


@dataclass(frozen=True)
class _Cached:
    """A resolved stack, the places it was read from and their state then, and the pam_start
    maps made on it ((code, events text) -> map)."""

    places: tuple[str, ...]
    signature: tuple[object, ...]
    stack: Stack
    starts: dict[tuple[int, str], _StartMap] = field(default_factory=dict)
    #: id(rule) -> how the rule was reached (``Include.label`` of each include), made once
    chains: dict[int, tuple[str, ...]] = field(default_factory=dict)


#: (service, confdir) -> the stack resolved for it
_stacks: dict[tuple[str, str | None], _Cached] = {}


def _places(stack: Stack, confdir: str | None) -> tuple[str, ...]:
    """The files a resolved stack came from or could come from (a service file created since
    shadows another), its includes and modules."""
    if confdir is not None:
        places = [os.path.join(confdir, stack.name), os.path.join(confdir, "other")]
    else:
        places = [
            os.path.join(d, n)
            for d in (SYSTEM.pam_d, SYSTEM.dist_d, os.path.dirname(SYSTEM.pam_conf))
            for n in (stack.name, "other", "pam.conf")
        ]
    for rule in (*stack.rules, *stack.other_rules):
        places.append(rule.file)
        places.extend(inc.file for inc in rule.origin)
        if rule.path:
            places.append(rule.path)
    return tuple(sorted(set(places)))


def _signature(places: tuple[str, ...]) -> tuple[object, ...]:
    """What ``places`` are now (missing, or inode, mtime and size)."""
    out: list[object] = []
    for place in places:
        try:
            st = os.stat(place)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


def cached_stack(service: str, confdir: str | None) -> Stack:
    """``resolve(service, confdir)``, reused while none of its files changed (a transaction
    resolves once for its trace; resolving costs more than a fast transaction)."""
    return _cached(service, confdir).stack


def _cached(service: str, confdir: str | None) -> _Cached:
    key = (service, confdir)
    hit = _stacks.get(key)
    if hit is not None and _signature(hit.places) == hit.signature:
        return hit
    stack = resolve(service, confdir)
    if len(_stacks) > 256:
        _stacks.clear()
    places = _places(stack, confdir)
    _stacks[key] = entry = _Cached(places, _signature(places), stack)
    return entry


@dataclass
class TraceBuilder:
    """Builds the trace of each call of one transaction, in order (the dispatcher's frozen
    chains and PAM_INCOMPLETE state carry from call to call)."""

    stack: Stack | None
    unavailable_reason: str = ""
    unreliable: str = ""
    #: slot -> (rule, symbol)
    handlers: dict[int, tuple[Rule, str]] = field(default_factory=dict)
    #: (id(rule), symbol) -> slot, or None when libpam has no function for it
    functions: dict[tuple[int, str], int | None] = field(default_factory=dict)
    module_paths: dict[int, str] = field(default_factory=dict)
    #: id(rule) -> whether libpam loaded its module
    loaded: dict[int, bool] = field(default_factory=dict)
    simulator: Simulator | None = None
    _pending: dict[tuple[int, str | None], Invocation] = field(default_factory=dict)
    _used: dict[tuple[int, str | None], Invocation] = field(default_factory=dict)
    _asked: list[Rule] = field(default_factory=list)
    _realpaths: dict[str, str] = field(default_factory=dict)
    #: pam_start maps already made on this stack (see :meth:`add_text`)
    _starts: dict[tuple[int, str], _StartMap] = field(default_factory=dict)
    #: the stack's rules' include chains (see :meth:`_chain`)
    _chains: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: the pam_sm_* function of the call being assembled (the dispatcher's code source asks)
    _symbol: str = ""

    @classmethod
    def for_service(cls, service: str, confdir: str | None, unavailable: str = "") -> TraceBuilder:
        if unavailable:
            return cls(None, unavailable)
        entry = _cached(service, confdir)
        return cls(entry.stack, _starts=entry.starts, _chains=entry.chains)

    def add_text(self, record: CallRecord, text: str) -> Trace:
        """:meth:`add` for events as the child wrote them (untrusted: see
        ``events.parse_untrusted``). A pam_start whose events this stack has seen before is
        not parsed or mapped again: the map it made is reused (the slots a child hands out
        are the same every time, so a service started again writes the same text)."""
        if record.function != "pam_start" or self.stack is None or self.unavailable_reason:
            return self.add(record, parse_untrusted(text)[0])
        key = (record.code, text)
        known = self._starts.get(key)
        if known is None:
            trace = self.add(record, parse_untrusted(text)[0])
            if len(self._starts) > 64:
                self._starts.clear()
            self._starts[key] = _StartMap(
                trace, self.unreliable, self.handlers, self.functions, self.module_paths,
                self.loaded,
            )  # fmt: skip
            return trace
        self.unreliable = known.unreliable
        self.handlers, self.functions = known.handlers, known.functions
        self.module_paths, self.loaded = known.module_paths, known.loaded
        if record.code == 0 and not self.unreliable:
            self.simulator = Simulator(self.stack, source=self._code)
        return known.trace

    # -- per record -------------------------------------------------------------------------
    def add(self, record: CallRecord, events: Events) -> Trace:
        """The trace of ``record`` from the events recorded during its call."""
        if self.unavailable_reason or self.stack is None:
            return unavailable(self.unavailable_reason or "no trace was recorded")
        if record.function == "pam_start":
            return self._start(record, events)
        if record.function == "pam_end":
            return Trace(log=_log(events.log))
        function = _FUNCTIONS.get(record.function)
        if function is None:
            return Trace(log=_log(events.log))
        return self._call(function, record.flags, record.code, events, record)

    def crashed(self, function: Function, flags: int, events: Events) -> Trace:
        """The trace of a call that never returned: the modules up to the one that was running
        (its ``action`` is ``crashed``); actions of the others from their rule's control."""
        if self.unavailable_reason or self.stack is None:
            return unavailable(self.unavailable_reason or "no trace was recorded")
        modules = []
        for inv in events.top_invocations:
            entry = self._unmapped(inv, function) if self.unreliable else None
            mapped = self.handlers.get(inv.slot)
            if entry is None and mapped is not None:
                rule = mapped[0]
                action = "crashed"
                if inv.code is not None:
                    code = inv.code if 0 <= inv.code < RETURN_VALUES else _PERM_DENIED
                    action = action_name(rule.actions[code])
                entry = self._entry(rule, inv, action=action)
            modules.append(entry or self._unmapped(inv, function))
        if modules and modules[-1].code is None:
            modules[-1] = replace(modules[-1], action="crashed")
        return Trace(
            status=UNRELIABLE if self.unreliable else TRACED,
            reason=self.unreliable,
            modules=tuple(modules),
            log=_log(events.log),
            crashed=True,
        )

    # -- pam_start: which slot is which rule ------------------------------------------------
    def _start(self, record: CallRecord, events: Events) -> Trace:
        assert self.stack is not None
        log = _log(events.log)
        if events.lost:
            self.unreliable = "the trace lost events: " + "; ".join(events.lost)
        if record.code != 0:
            return Trace(status=UNRELIABLE if self.unreliable else TRACED, reason=self.unreliable,
                         log=log)  # fmt: skip
        if self.stack.start.crash or self.stack.start.code != 0:
            self.unreliable = "the service files changed since libpam read them"
        lookups = [lookup for lookup in events.lookups if lookup.parent < 0]
        at = 0
        for rule in (*self.stack.rules, *self.stack.other_rules):
            if rule.kind != "module" or self.unreliable:
                continue
            symbols = TYPE_SYMBOLS[rule.type]
            loaded = at < len(lookups) and _same_file(lookups[at].path, rule.path, self._realpaths)
            self.loaded[id(rule)] = loaded
            for symbol in symbols:
                key = (id(rule), symbol)
                if not loaded:
                    self.functions[key] = None  # libpam could not load it: no function
                    continue
                if (
                    at >= len(lookups)
                    or lookups[at].symbol != symbol
                    or not _same_file(lookups[at].path, rule.path, self._realpaths)
                ):
                    self.unreliable = f"libpam's lookups do not follow the rules at {rule.where}"
                    break
                lookup = lookups[at]
                at += 1
                if lookup.found and lookup.slot >= 0:
                    self.functions[key] = lookup.slot
                    self.handlers[lookup.slot] = (rule, symbol)
                else:
                    self.functions[key] = None
        if not self.unreliable and at != len(lookups):
            self.unreliable = "libpam looked up functions the configuration does not explain"
        for lookup in lookups:
            if lookup.slot >= 0:
                self.module_paths[lookup.slot] = lookup.path
        if not self.unreliable:
            self.simulator = Simulator(self.stack, source=self._code)
        return Trace(status=UNRELIABLE if self.unreliable else TRACED, reason=self.unreliable,
                     log=log)  # fmt: skip

    # -- one call -----------------------------------------------------------------------------
    def _code(self, rule: Rule, function: Function, pass_: str | None) -> tuple[int, bool]:
        """The dispatcher's code source: what the module really returned."""
        if rule.kind == "always_fail":
            return _PERM_DENIED, False
        if self.functions.get((id(rule), self._symbol)) is None:
            return _MODULE_UNKNOWN, False
        key = (id(rule), pass_)
        inv = self._pending.pop(key, None)
        if inv is None or inv.code is None:
            self._asked.append(rule)
            return int(Code.PAM_SUCCESS), True
        self._used[key] = inv
        return inv.code, False

    def _call(
        self, function: Function, flags: int, code: int, events: Events, record: CallRecord
    ) -> Trace:
        invocations = events.top_invocations
        log = _log(events.log)
        messages = _messages(record, events)
        if events.lost and not self.unreliable:
            self.unreliable = "the trace lost events: " + "; ".join(events.lost)
        self._pending, self._used, self._asked = {}, {}, []
        self._symbol = SYMBOL[function]
        chauthtok = function is Function.CHAUTHTOK
        if not self.unreliable:
            for inv in invocations:
                mapped = self.handlers.get(inv.slot)
                if mapped is None:
                    self.unreliable = "a module ran from a slot pam_start did not hand out"
                    break
                rule, _symbol = mapped
                if inv.argv != rule.args:
                    self.unreliable = (
                        f"{rule.where}: the module received arguments {list(inv.argv)}, "
                        f"the rule has {list(rule.args)}"
                    )
                    break
                key = (id(rule), _pass(inv.flags) if chauthtok else None)
                if key in self._pending:
                    self.unreliable = f"{rule.where} ran twice in one pass"
                    break
                self._pending[key] = inv
        if self.unreliable or self.simulator is None:
            self.simulator = None
            return Trace(
                status=UNRELIABLE,
                reason=self.unreliable or "pam_start was not traced",
                modules=tuple(
                    self._unmapped(inv, function, messages.get(inv.seq, ())) for inv in invocations
                ),
                log=log,
            )
        result = self.simulator.run(function, flags)
        modules: list[ModuleCall] = []
        decided = None
        for step in result.steps:
            if step is result.decided_by:
                decided = len(modules)
            modules.append(self._from_step(step, messages))
        problems = []
        if self._asked:
            problems.append(
                "the dispatcher reached "
                + ", ".join(r.where for r in self._asked)
                + ", which did not run"
            )
        if self._pending:
            problems.append(
                ", ".join(inv_rule.where for inv_rule in self._pending_rules())
                + " ran, the dispatcher did not reach it"
            )
        if result.code != code:
            problems.append(f"libpam returned {code_name(code)}, the dispatcher {result.name}")
        return Trace(
            modules=tuple(modules),
            decided_by=decided,
            disagreement=("trace and simulator disagree: " + "; ".join(problems))
            if problems
            else "",
            log=log,
        )

    def _chain(self, rule: Rule) -> tuple[str, ...]:
        """How ``rule`` was reached, outermost include first (the rules live as long as the
        stack they are cached with, and so does this)."""
        chain = self._chains.get(id(rule))
        if chain is None:
            chain = self._chains[id(rule)] = tuple(inc.label for inc in rule.origin)
        return chain

    def _pending_rules(self) -> list[Rule]:
        return [self.handlers[inv.slot][0] for inv in self._pending.values()]

    def _from_step(self, step: PathStep, messages: dict[int, tuple[Exchange, ...]]) -> ModuleCall:
        rule = step.rule
        assert rule is not None
        if not step.ran:
            return ModuleCall(
                rule.file, rule.line, rule.type, rule.control, rule.module, rule.args,
                self._chain(rule), rule.level, ran=False, called=False, skip=step.skip,
            )  # fmt: skip
        inv = self._used.get((id(rule), step.pass_))
        if inv is None:
            if rule.kind == "always_fail":
                why = f"always fails: {rule.fail_reason}"
            elif self.loaded.get(id(rule)):
                why = "the module has no such function: PAM_MODULE_UNKNOWN"
            else:
                why = "the module did not load (see pam_start's log): PAM_MODULE_UNKNOWN"
            return ModuleCall(
                rule.file, rule.line, rule.type, rule.control, rule.module, rule.args,
                self._chain(rule), rule.level, code=step.code, name=code_name(step.code),
                action=step.action, frozen_code=step.frozen_code, called=False,
                note="; ".join(x for x in (why, step.note) if x),
            )  # fmt: skip
        asked = messages.get(inv.seq, ()) if messages else ()
        return self._entry(rule, inv, step.action, step.frozen_code, step.note, asked)

    def _entry(
        self,
        rule: Rule,
        inv: Invocation,
        action: str = "",
        frozen_code: int | None = None,
        note: str = "",
        messages: tuple[Exchange, ...] = (),
    ) -> ModuleCall:
        mapped = self.handlers.get(inv.slot)
        code = inv.code
        return ModuleCall(
            rule.file, rule.line, rule.type, rule.control, rule.module, rule.args,
            self._chain(rule), rule.level, "" if mapped is None else mapped[1], inv.flags, code,
            "" if code is None else code_name(code), action, frozen_code, _duration_ms(inv),
            messages, _log(inv.log), True, True, "", note,
        )  # fmt: skip

    def _unmapped(
        self, inv: Invocation, function: Function, messages: tuple[Exchange, ...] = ()
    ) -> ModuleCall:
        """An invocation whose rule is not known for certain: module file and arguments only."""
        return ModuleCall(
            "", 0, function.module_type, "", self.module_paths.get(inv.slot, "?"), inv.argv,
            function=SYMBOL[function], flags=inv.flags, code=inv.code,
            name="" if inv.code is None else code_name(inv.code), duration_ms=_duration_ms(inv),
            messages=messages, log=_log(inv.log),
        )  # fmt: skip
