"""Resolve a service as ``pam_start`` does: find its file, read it and ``other``, expand
``include``/``substack``/``@include``, and locate every module (Debian 12's rules).

Files are read as libpam reads them, but bounded: regular files up to :data:`MAX_FILE_SIZE`
(a sparse tail of NUL bytes counts as blank lines, as libpam reads it), directories as empty
files, ``/dev/null`` as empty; a FIFO or another device is not opened (libpam would block or
read it forever). Includes are expanded by an explicit stack of generators, not by recursion,
so a chain of thousands of includes resolves like a short one.
"""

from __future__ import annotations

import os
import resource
import stat
from collections.abc import Generator
from dataclasses import dataclass, field
from itertools import islice
from typing import Literal, TypeVar

from pamexplorer.pam.codes import MODULE_TYPES

# where libpam looks and which services exist: re-exported for this module's callers
from pamexplorer.pamdirs import SYSTEM as SYSTEM
from pamexplorer.pamdirs import SYSTEM_PAM_DIRS as SYSTEM_PAM_DIRS
from pamexplorer.pamdirs import Paths as Paths
from pamexplorer.pamdirs import list_services as list_services
from pamexplorer.stack.elf import clear_module_cache, read_module
from pamexplorer.stack.model import (
    ACTION_BAD,
    ACTION_UNDEF,
    RETURN_VALUES,
    Finding,
    Include,
    IncludeUse,
    Rule,
    Severity,
    Stack,
    StartResult,
)
from pamexplorer.stack.parse import (
    Assembled,
    assemble_lines,
    keyword_actions,
    module_name_ok,
    parse_control,
    tokenize_marked,
)

SUBSTACK_MAX_LEVEL = 16
#: The most bytes of one service file pamexplorer reads (real files are a few KiB).
MAX_FILE_SIZE = 1 << 20
#: The most rules one resolved stack may hold before resolution stops (an include mesh can
#: multiply rules exponentially; libpam would try to allocate them all).
MAX_RULES = 20_000
_ALL_BAD = (ACTION_BAD,) * RETURN_VALUES
_UNDEF = (ACTION_UNDEF,) * RETURN_VALUES
_DEV_NULL = os.makedev(1, 3)


_read_cache: dict[tuple[str, int, int, int, int], Assembled] = {}


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _read_bounded(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _only_holes_after(fd: int, offset: int) -> bool:
    """True when everything from ``offset`` on is a hole (reads as NUL bytes)."""
    try:
        os.lseek(fd, offset, os.SEEK_DATA)
    except OSError:
        return True  # ENXIO: no data after offset
    return False


def _load(path: str, st: os.stat_result) -> Assembled | None:
    if stat.S_ISDIR(st.st_mode):  # fopen works, the first fgets fails: an empty file
        return Assembled(())
    if stat.S_ISSOCK(st.st_mode):  # fopen fails on a socket
        return None
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == _DEV_NULL:
        return Assembled(())
    if not stat.S_ISREG(st.st_mode):
        return Assembled(
            (), blocked=f"{path} is {_kind(st.st_mode)}: libpam would block or read it forever"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):  # replaced since the stat
            return _load(path, now) if not stat.S_ISREG(now.st_mode) else None
        data = _read_bounded(fd, MAX_FILE_SIZE + 1)
        if len(data) > MAX_FILE_SIZE:
            if not _only_holes_after(fd, MAX_FILE_SIZE):
                return Assembled(
                    (),
                    blocked=f"{path} is {now.st_size} bytes, more than the "
                    f"{MAX_FILE_SIZE} bytes pamexplorer reads of a service file",
                    blocked_kind="limit",
                )
            data = data[:MAX_FILE_SIZE]  # libpam reads the NUL tail as blank lines
        return assemble_lines(data)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_service_file(path: str) -> Assembled | None:
    """The file's logical lines, or None when ``fopen`` would fail. Cached per file state.

    Never raises: a NUL byte in ``path`` counts as a file that cannot be opened (libpam's C
    string ends there; callers cut names at NUL before they get here)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    key = (path, st.st_mode, st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _read_cache.get(key)
    if hit is None:
        hit = _load(path, st)
        if hit is None:
            return None
        _read_cache[key] = hit
    return hit


def clear_caches() -> None:
    """Forget every file and module read so far (the next resolve reads them again)."""
    _read_cache.clear()
    clear_module_cache()


def c_string(text: str) -> str:
    """What a C function sees of ``text``: everything before the first NUL."""
    return text.split("\0", 1)[0]


def service_name(service: str) -> str:
    """``pam_start`` keeps the basename and lowercases it."""
    return c_string(service).rsplit("/", 1)[-1].lower()


def service_exists(service: str, confdir: str | None = None, paths: Paths = SYSTEM) -> bool:
    """Whether ``service`` has its own file (else pam_start falls back to ``other``)."""
    return service_name(service) in dict(list_services(confdir, paths))


class _Stop(Exception):
    """Resolution ends here: libpam crashes (``crash``), never returns (``hang``), or the
    stack grows past what pamexplorer expands (``limit``)."""

    def __init__(self, reason: str, file: str, line: int, kind: str = "crash") -> None:
        super().__init__(reason)
        self.reason, self.file, self.line, self.kind = reason, file, line, kind


#: A parse step: a generator that yields the nested step it needs run (an included file) and
#: is sent back that step's result. :func:`_drive` runs them on a list, not on the call stack.
_Step = Generator["_Step", bool, bool]


def _drive(top: _Step) -> bool:
    """Run ``top`` and every step it asks for, depth first, without recursion."""
    stack = [top]
    incoming: bool | None = None
    while True:
        try:
            request = stack[-1].send(incoming)  # type: ignore[arg-type]
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return bool(stop.value)
            incoming = bool(stop.value)
            continue
        stack.append(request)
        incoming = None


@dataclass(frozen=True)
class _Where:
    """The line being read and the state libpam reads it in."""

    path: str
    line: int
    known_service: str | None
    requested: str | None
    level: int
    origin: tuple[Include, ...]


@dataclass
class _Tokens:
    """The tokens of one logical line, consumed step by step."""

    marked: list[tuple[str, bool]]
    pos: int = 0

    def take(self) -> str | None:
        if self.pos < len(self.marked):
            self.pos += 1
            return self.marked[self.pos - 1][0]
        return None

    def peek(self) -> str | None:
        return self.marked[self.pos][0] if self.pos < len(self.marked) else None

    def last_bracketed(self) -> bool:
        return self.pos > 0 and self.marked[self.pos - 1][1]

    def rest(self) -> tuple[str, ...]:
        return tuple(token for token, _ in self.marked[self.pos :])


@dataclass(frozen=True)
class _TypeField:
    """The type field of a line: its type, and whether it is silenced with ``-``."""

    module_type: str
    token: str  # as written, "" when the line has none
    silent: bool
    fail_reason: str
    at_include: bool = False


@dataclass(frozen=True)
class _ControlField:
    """The control field of a line: the actions, or what was wrong with it."""

    actions: tuple[int, ...]
    shown: str
    include_kind: str | None
    fail_reason: str


@dataclass(frozen=True)
class _Expansion:
    """A file fully read in one state: what it added, relative to where it was included."""

    ok: bool
    rules: tuple[Rule, ...]
    other: tuple[Rule, ...]
    includes: tuple[IncludeUse, ...]
    findings: tuple[Finding, ...]
    depth: int  # include levels below the file
    cut: int  # how many leading includes of each origin were the context, not the file's


_Record = TypeVar("_Record", Rule, IncludeUse)


def _reorigin(record: _Record, origin: tuple[Include, ...], **more: int) -> _Record:
    """``record`` with another origin: ``dataclasses.replace`` without its per-field cost
    (a mesh replays hundreds of thousands of rules)."""
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__)
    new.__dict__["origin"] = origin
    new.__dict__.update(more)
    return new


class ResolveMemo:
    """Files already expanded, shared by the resolves of one run (``lint`` of every service):
    an include mesh is read once per file and state, not once per path to it. Only for a run
    that does not outlive the files: it does not notice files that change."""

    def __init__(self) -> None:
        self.expansions: dict[tuple[object, ...], _Expansion] = {}


def _fd_budget() -> int:
    """How many service files libpam can hold open at once: one per include level, within the
    process's open-file limit (less what an application already holds)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - 16) if soft != resource.RLIM_INFINITY else 1 << 20


@dataclass
class _Loader:
    """One service's expansion in progress, as libpam's handler loader builds it."""

    name: str
    confdir: str | None
    paths: Paths
    rules: list[Rule] = field(default_factory=list)
    other: list[Rule] = field(default_factory=list)
    findings: dict[tuple[str, int, str], Finding] = field(default_factory=dict)
    active: set[tuple[str, str | None, int, str]] = field(default_factory=set)
    includes: list[IncludeUse] = field(default_factory=list)
    fd_budget: int = field(default_factory=_fd_budget)
    memo: ResolveMemo | None = None
    deepest: int = 0

    def note(self, severity: Severity, file: str, line: int, message: str, why: str = "") -> None:
        key = (file, line, message)
        if key not in self.findings:
            self.findings[key] = Finding(severity, file, line, message, why)

    def open_config(self, name: str) -> str | None:
        if self.confdir is not None:
            candidates = [os.path.join(self.confdir, name)]
        else:
            candidates = [os.path.join(d, name) for d in self.paths.service_dirs]
        for path in candidates:
            if read_service_file(path) is not None:
                return path
        return None

    def locate_module(self, module: str) -> tuple[str, bool, bool, frozenset[str]]:
        if module.startswith("/"):
            candidates = [module]
        else:
            candidates = [os.path.join(d, module) for d in self.paths.module_dirs]
        first = None
        for path in candidates:
            info = read_module(path)
            if info.loadable:
                return path, True, True, info.symbols
            if info.exists and first is None:
                first = (path, True, False, frozenset[str]())
        return first or (candidates[0], False, False, frozenset())

    def include_path(self, target: str) -> str:
        return target if target.startswith("/") else os.path.join(self.paths.pam_d, target)

    # -- _pam_load_conf_file ------------------------------------------------------------
    def load_include(
        self, at: _Where, inc: Include, service: str, module_type: str | None, level: int,
        is_other: bool, named: bool = True,
    ) -> _Step:  # fmt: skip
        """Read ``inc``'s file for ``module_type`` (None: every type) at substack ``level``."""
        if level >= SUBSTACK_MAX_LEVEL:
            self.note(
                "error",
                at.path,
                at.line,
                f"substack nesting deeper than {SUBSTACK_MAX_LEVEL} levels: this line always fails",
                "libpam refuses to read a substack at level 16 and installs a rule that "
                "returns PAM_PERM_DENIED instead",
            )
            return False
        if not named:
            raise _Stop(f"{inc.kind} with no file name", at.path, at.line)
        path = self.include_path(inc.target)
        origin = (*at.origin, inc)
        target = self.other if is_other else self.rules
        position = len(target)
        ok = False
        if len(origin) + 1 > self.fd_budget:
            self.note(
                "error",
                at.path,
                at.line,
                f"includes nested {len(origin)} deep: libpam runs out of file descriptors "
                "and this include fails",
                "libpam keeps every file of an include chain open while it reads the next; "
                f"past the process's open-file limit ({self.fd_budget + 16}) fopen fails",
            )
        elif read_service_file(path) is None:
            self.note(
                "error",
                at.path,
                at.line,
                f"{inc.kind} target {path} cannot be read: this line always fails",
                "libpam turns an include it cannot open into a rule that returns "
                "PAM_PERM_DENIED"
                + (
                    f" (a relative name is read from {self.paths.pam_d} even with a confdir)"
                    if self.confdir and not inc.target.startswith("/")
                    else ""
                ),
            )
        else:
            self.deepest = max(self.deepest, len(origin))
            ok = yield self.parse_file(path, service, module_type, level, origin)
        self.includes.append(
            IncludeUse(
                inc, module_type, path, at.origin, is_other, ok, len(target) - position,
                position, at.level,
            )
        )  # fmt: skip
        return ok

    # -- _pam_parse_conf_file -----------------------------------------------------------
    def parse_file(
        self,
        path: str,
        known_service: str | None,
        requested: str | None,
        level: int,
        origin: tuple[Include, ...],
    ) -> _Step:
        """``read_file``, or what reading it in this state gave before (with a memo)."""
        if self.memo is None or known_service is None:
            return (yield from self.read_file(path, known_service, requested, level, origin))
        key = (
            path, requested, level, known_service.lower() == "other",
            any(inc.kind != "@include" for inc in origin), self.confdir, self.paths,
        )  # fmt: skip
        hit = self.memo.expansions.get(key)
        if hit is not None and len(origin) + hit.depth + 1 <= self.fd_budget:
            self.replay(hit, origin)
            return hit.ok
        starts = (len(self.rules), len(self.other), len(self.includes), len(self.findings))
        outer_deepest, self.deepest = self.deepest, len(origin)
        ok = yield from self.read_file(path, known_service, requested, level, origin)
        self.memo.expansions[key] = _Expansion(
            ok,
            tuple(self.rules[starts[0] :]),
            tuple(self.other[starts[1] :]),
            tuple(
                _reorigin(u, u.origin, position=u.position - starts[1 if u.other else 0])
                for u in self.includes[starts[2] :]
            ),
            tuple(islice(self.findings.values(), starts[3], None)),
            self.deepest - len(origin),
            len(origin),
        )
        self.deepest = max(outer_deepest, self.deepest)
        return ok

    def replay(self, hit: _Expansion, origin: tuple[Include, ...]) -> None:
        self.deepest = max(self.deepest, len(origin) + hit.depth)
        bases = (len(self.rules), len(self.other))
        cut = hit.cut
        for rules, is_other in ((hit.rules, False), (hit.other, True)):
            for rule in rules:
                self.add(_reorigin(rule, origin + rule.origin[cut:]), is_other)
        for use in hit.includes:
            self.includes.append(
                _reorigin(
                    use,
                    origin + use.origin[cut:],
                    position=use.position + bases[1 if use.other else 0],
                )
            )
        for finding in hit.findings:
            self.findings.setdefault((finding.file, finding.line, finding.message), finding)

    def read_file(
        self,
        path: str,
        known_service: str | None,
        requested: str | None,
        level: int,
        origin: tuple[Include, ...],
    ) -> _Step:
        state = (path, requested, level, (known_service or "").lower())
        where = (origin[-1].file, origin[-1].line) if origin else (path, 0)
        if state in self.active:
            raise _Stop(f"include loop through {path}", *where)
        assembled = read_service_file(path)
        if assembled is None:
            return False
        if assembled.blocked:
            raise _Stop(assembled.blocked, *where, kind=assembled.blocked_kind)
        self.active.add(state)
        try:
            for logical in assembled.lines:
                at = _Where(path, logical.line, known_service, requested, level, origin)
                ok = yield from self.parse_line(at, logical.text)
                if not ok:
                    return False
                if logical.has_cr:
                    self.note(
                        "warning",
                        path,
                        logical.line,
                        "carriage return (\\r) in the line",
                        "libpam splits only on space, tab and newline, so \\r becomes part "
                        "of a token (a module name 'x.so\\r' is not found)",
                    )
            if assembled.error:
                self.note(
                    "error",
                    path,
                    assembled.error_line,
                    assembled.error + ": pam_start fails with PAM_ABORT",
                    "libpam's line reader returns an error for the whole file",
                )
                return False
            return True
        finally:
            self.active.discard(state)

    def parse_line(self, at: _Where, text: str) -> _Step:
        """One logical line: its service (pam.conf), type, control, then an include or a
        module."""
        tokens = _Tokens(tokenize_marked(text))
        if at.known_service is None:
            this_service = tokens.take()
            if this_service is None:
                return True
        else:
            this_service = at.known_service
        is_other = this_service.lower() == "other"
        if not (this_service.lower() == self.name or is_other):
            return True
        typ = self.type_field(at, tokens)
        if typ.at_include:
            return (yield from self.at_include_line(at, tokens, this_service, is_other))
        if at.requested is not None and typ.module_type != at.requested:
            return True
        control = self.control_field(at, tokens)
        if control.include_kind is not None:
            return (yield from self.include_line(at, tokens, typ, control, this_service, is_other))
        return self.module_line(at, tokens, typ, control, is_other)

    def type_field(self, at: _Where, tokens: _Tokens) -> _TypeField:
        token = tokens.take()
        if token is None:
            return _TypeField(at.requested or "auth", "", False, "no module type")
        silent = token.startswith("-")
        word = token[1:] if silent else token
        if word.lower() == "@include":  # Debian: all types of the named file
            return _TypeField("", token, silent, "", at_include=True)
        if word.lower() in MODULE_TYPES:
            return _TypeField(word.lower(), token, silent, "")
        module_type = at.requested or "auth"
        following = (tokens.peek() or "").lstrip("-").lower()
        hint = ""
        if at.known_service is not None and following in (*MODULE_TYPES, "@include"):
            hint = (
                f" (pam.conf syntax: in a pam.d file the service is the file's name, "
                f"so {token!r} must go)"
            )
        self.note(
            "error",
            at.path,
            at.line,
            f"unknown module type {token!r}{hint}: this line "
            f"becomes an always-fail rule in the {module_type} stack",
            "libpam installs a rule that returns PAM_PERM_DENIED and keeps reading",
        )
        return _TypeField(module_type, token, silent, f"unknown type {token!r}")

    def control_field(self, at: _Where, tokens: _Tokens) -> _ControlField:
        control = tokens.take()
        if control is None:
            self.note(
                "error",
                at.path,
                at.line,
                "no control field: this line always fails",
                "libpam installs a rule that returns PAM_PERM_DENIED",
            )
            return _ControlField(_ALL_BAD, "", None, "no control")
        shown = "[" + control.replace("]", "\\]") + "]" if tokens.last_bracketed() else control
        if control.lower() in ("include", "substack"):
            return _ControlField(_UNDEF, shown, control.lower(), "")
        keyword = keyword_actions(control)
        if keyword is not None:
            return _ControlField(keyword, shown, None, "")
        actions, error = parse_control(control)
        if error:
            self.note(
                "error",
                at.path,
                at.line,
                f"malformed control {control!r} ({error}): every return code now acts as 'bad'",
                "libpam treats any error in a control as 'all actions bad'; the "
                "module still runs, but can never make the stack succeed",
            )
        return _ControlField(actions, shown, None, "")

    def at_include_line(self, at: _Where, tokens: _Tokens, service: str, is_other: bool) -> _Step:
        target = tokens.take()
        if target is None:
            raise _Stop("@include with no file name", at.path, at.line)
        inc = Include(at.path, at.line, "@include", target)
        ok = yield from self.load_include(at, inc, service, at.requested, at.level, is_other)
        if not ok:
            self.note(
                "error",
                at.path,
                at.line,
                f"@include {target} failed: the file that holds it fails to load",
                "Debian's @include makes the whole file fail; at top level pam_start "
                "returns PAM_ABORT",
            )
        return ok

    def include_line(
        self, at: _Where, tokens: _Tokens, typ: _TypeField, control: _ControlField,
        service: str, is_other: bool,
    ) -> _Step:  # fmt: skip
        """``include``/``substack`` as the control: read the named file for this type."""
        kind: Literal["include", "substack"] = (
            "substack" if control.include_kind == "substack" else "include"
        )
        target = tokens.take()
        substack = kind == "substack"
        if substack:
            if target is not None and not module_name_ok(target):
                return self.bad_name(at, target)
            self.add(
                Rule(
                    at.path, at.line, typ.module_type, typ.token, control.shown, _UNDEF,
                    module=target or "", silent=typ.silent, kind="substack", level=at.level,
                    origin=at.origin, other=is_other,
                ),
                is_other,
            )  # fmt: skip
        inc = Include(at.path, at.line, kind, target or "")
        level = at.level + (1 if substack else 0)
        if (
            yield from self.load_include(
                at, inc, service, typ.module_type, level, is_other, named=target is not None
            )
        ):
            return True
        why = (
            "nested too deep"
            if level >= SUBSTACK_MAX_LEVEL
            else f"{self.include_path(target or '')} was tried"
        )
        self.add(
            Rule(
                at.path, at.line, typ.module_type, typ.token, control.shown, _ALL_BAD,
                silent=typ.silent, kind="always_fail", level=at.level, origin=at.origin,
                other=is_other,
                fail_reason=f"{kind} {target} failed ({why})",
            ),
            is_other,
        )  # fmt: skip
        return True

    def module_line(
        self, at: _Where, tokens: _Tokens, typ: _TypeField, control: _ControlField,
        is_other: bool,
    ) -> bool:  # fmt: skip
        target = tokens.take()
        if target is not None and not module_name_ok(target):
            return self.bad_name(at, target)
        fail_reason = typ.fail_reason or control.fail_reason
        if target is None and not fail_reason:
            fail_reason = "no module path"
            self.note(
                "error",
                at.path,
                at.line,
                "no module path: this line always fails",
                "libpam installs a rule that returns PAM_PERM_DENIED",
            )
        # An always-fail rule keeps what was written; a module rule also says what was found.
        full: str | None = None
        exists = loadable = False
        symbols: frozenset[str] = frozenset()
        if not fail_reason:
            assert target is not None
            full, exists, loadable, symbols = self.locate_module(target)
        self.add(
            Rule(
                at.path, at.line, typ.module_type, typ.token, control.shown, control.actions,
                module=target or "", path=full, args=tokens.rest(), silent=typ.silent,
                kind="always_fail" if fail_reason else "module", level=at.level,
                origin=at.origin, other=is_other, fail_reason=fail_reason, exists=exists,
                loadable=loadable, symbols=symbols,
            ),
            is_other,
        )  # fmt: skip
        return True

    def bad_name(self, at: _Where, target: str) -> bool:
        """A module name that is empty or ``?`` once directory and suffix are cut."""
        if any(inc.kind != "@include" for inc in at.origin):
            raise _Stop(
                f"module name {target!r} is empty or '?' in an included file", at.path, at.line
            )
        self.note(
            "error",
            at.path,
            at.line,
            f"module name {target!r} is empty or '?' once its "
            "directory and suffix are cut: pam_start fails with PAM_ABORT",
            "libpam refuses to install a handler without a module name",
        )
        return False

    def add(self, rule: Rule, is_other: bool) -> None:
        if len(self.rules) + len(self.other) >= MAX_RULES:
            raise _Stop(
                f"the includes expand to more than {MAX_RULES} rules",
                rule.file,
                rule.line,
                kind="limit",
            )
        (self.other if is_other else self.rules).append(rule)


_STOPPED = {
    "crash": (
        "libpam crashes (SIGSEGV) in pam_start",
        "libpam recurses without a limit here and overflows its stack; the application dies",
        "SIGSEGV",
    ),
    "hang": (
        "pam_start never returns",
        "libpam opens service files with fopen and reads them to the end; pamexplorer "
        "does not open them",
        "hang",
    ),
    "limit": (
        "pamexplorer cannot predict this stack",
        "libpam would read every byte and build every rule; pamexplorer stops at its bounds",
        "not predicted",
    ),
}


def resolve(
    service: str,
    confdir: str | None = None,
    paths: Paths = SYSTEM,
    memo: ResolveMemo | None = None,
) -> Stack:
    """The stack ``pam_start(service)`` (or ``pam_start_confdir``) would build. Never raises
    on bad configuration: problems are findings, and ``start`` says what pam_start does.
    ``memo``: share expanded files with the other resolves of one run."""
    name = service_name(service)
    loader = _Loader(name, None if confdir is None else c_string(confdir), paths, memo=memo)
    if "\0" in service or (confdir is not None and "\0" in confdir):
        loader.note(
            "warning",
            loader.confdir or name,
            0,
            "a NUL byte in the service name or confdir: libpam sees only what comes before it",
            "C strings end at the first NUL byte",
        )
    source: str | None = None
    start = StartResult(0)
    try:
        start, source = _init_handlers(loader, name)
    except _Stop as stop:
        message, why, label = _STOPPED[stop.kind]
        loader.note("error", stop.file, stop.line, f"{stop.reason}: {message}", why)
        start = StartResult(26, crash=f"{label}: {stop.reason}", reason=stop.reason)
        if loader.confdir is not None or any(os.path.isdir(d) for d in paths.service_dirs):
            source = loader.open_config(name)
        else:
            source = paths.pam_conf
    return Stack(
        service,
        name,
        loader.confdir,
        source,
        tuple(loader.rules),
        tuple(loader.other),
        start,
        tuple(loader.findings.values()),
        tuple(loader.includes),
    )


def _init_handlers(loader: _Loader, name: str) -> tuple[StartResult, str | None]:
    paths = loader.paths
    if not (loader.confdir is not None or any(os.path.isdir(d) for d in paths.service_dirs)):
        if read_service_file(paths.pam_conf) is None:
            return StartResult(26, reason=f"no {paths.pam_conf}"), None
        ok = _drive(loader.parse_file(paths.pam_conf, None, None, 0, ()))
        return (
            StartResult(0) if ok else StartResult(26, reason=f"{paths.pam_conf} fails to parse")
        ), paths.pam_conf
    read_something = False
    source = loader.open_config(name)
    if source is not None:
        if not _drive(loader.parse_file(source, name, None, 0, ())):
            return StartResult(26, reason=f"{source} fails to parse"), source
        read_something = True
    other = loader.open_config("other")
    if other is not None:
        if not _drive(loader.parse_file(other, "other", None, 0, ())):
            return StartResult(26, reason=f"{other} fails to parse"), source
        read_something = True
    if not read_something:
        where = loader.confdir or f"{paths.pam_d} or {paths.dist_d}"
        return StartResult(26, reason=f"neither {name} nor other exists in {where}"), source
    return StartResult(0), source
