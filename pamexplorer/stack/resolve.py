"""Resolve a service as ``pam_start`` does: find its file, read it and ``other``, expand
``include``/``substack``/``@include``, and locate every module (Debian 12's rules)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pamexplorer.pam.codes import MODULE_TYPES
from pamexplorer.stack.elf import clear_module_cache, read_module
from pamexplorer.stack.model import (
    ACTION_BAD,
    ACTION_UNDEF,
    RETURN_VALUES,
    Finding,
    Include,
    Rule,
    Stack,
    StartResult,
)
from pamexplorer.stack.parse import (
    Assembled,
    assemble_lines,
    keyword_actions,
    module_name_ok,
    parse_control,
    tokenize,
    tokenize_marked,
)

SUBSTACK_MAX_LEVEL = 16
_ALL_BAD = (ACTION_BAD,) * RETURN_VALUES
_UNDEF = (ACTION_UNDEF,) * RETURN_VALUES


@dataclass(frozen=True)
class Paths:
    """Where libpam looks. Defaults are Debian 12's; tests may point them elsewhere."""

    pam_d: str = "/etc/pam.d"
    dist_d: str = "/usr/lib/pam.d"
    pam_conf: str = "/etc/pam.conf"
    module_dirs: tuple[str, ...] = ("/lib/x86_64-linux-gnu/security", "/lib/security")


DEBIAN = Paths()

_read_cache: dict[tuple[str, int, int], Assembled] = {}


def read_service_file(path: str) -> Assembled | None:
    """The file's logical lines, or None when ``fopen`` would fail. Cached per mtime and size."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _read_cache.get(key)
    if hit is not None:
        return hit
    if os.path.isdir(path):  # fopen works, the first fgets fails: an empty file
        hit = Assembled(())
    else:
        try:
            with open(path, "rb") as f:
                hit = assemble_lines(f.read())
        except OSError:
            return None
    _read_cache[key] = hit
    return hit


def clear_caches() -> None:
    """Forget every file and module read so far (the next resolve reads them again)."""
    _read_cache.clear()
    clear_module_cache()


def service_name(service: str) -> str:
    """``pam_start`` keeps the basename and lowercases it."""
    return service.rsplit("/", 1)[-1].lower()


def list_services(confdir: str | None = None, paths: Paths = DEBIAN) -> list[tuple[str, str]]:
    """(service, file) for every service libpam could start, sorted by name."""
    found: dict[str, str] = {}
    dirs = [confdir] if confdir else [paths.pam_d, paths.dist_d]
    if confdir or any(os.path.isdir(d) for d in dirs):
        for d in dirs:
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                full = os.path.join(d, name)
                if name not in found and os.path.isfile(full):
                    found[name] = full
    else:
        assembled = read_service_file(paths.pam_conf)
        for line in assembled.lines if assembled else ():
            tokens = tokenize(line.text)
            if tokens:
                found.setdefault(tokens[0].lower(), paths.pam_conf)
    return sorted(found.items())


class _Crash(Exception):
    def __init__(self, reason: str, file: str, line: int) -> None:
        super().__init__(reason)
        self.reason, self.file, self.line = reason, file, line


@dataclass
class _Loader:
    name: str
    confdir: str | None
    paths: Paths
    rules: list[Rule] = field(default_factory=list)
    other: list[Rule] = field(default_factory=list)
    findings: dict[tuple[str, int, str], Finding] = field(default_factory=dict)
    active: set[tuple[str, str | None, int, str]] = field(default_factory=set)

    def note(self, severity: str, file: str, line: int, message: str, why: str = "") -> None:
        key = (file, line, message)
        if key not in self.findings:
            self.findings[key] = Finding(severity, file, line, message, why)  # type: ignore[arg-type]

    def open_config(self, name: str) -> str | None:
        if self.confdir is not None:
            candidates = [os.path.join(self.confdir, name)]
        else:
            candidates = [
                os.path.join(self.paths.pam_d, name),
                os.path.join(self.paths.dist_d, name),
            ]
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

    # -- _pam_load_conf_file ------------------------------------------------------------
    def load_include(
        self,
        target: str | None,
        service: str,
        module_type: str | None,
        stack_level: int,
        origin: tuple[Include, ...],
        file: str,
        line: int,
    ) -> bool:
        if stack_level >= SUBSTACK_MAX_LEVEL:
            self.note(
                "error",
                file,
                line,
                f"substack nesting deeper than {SUBSTACK_MAX_LEVEL} levels: this line always fails",
                "libpam refuses to read a substack at level 16 and installs a rule that "
                "returns PAM_PERM_DENIED instead",
            )
            return False
        if target is None:
            raise _Crash(
                f"{origin[-1].kind} with no file name" if origin else "include with no file name",
                file,
                line,
            )
        path = target if target.startswith("/") else os.path.join(self.paths.pam_d, target)
        if read_service_file(path) is None:
            self.note(
                "error",
                file,
                line,
                f"{origin[-1].kind} target {path} cannot be read: this line always fails",
                "libpam turns an include it cannot open into a rule that returns "
                "PAM_PERM_DENIED"
                + (
                    " (a relative name is read from /etc/pam.d even with a confdir)"
                    if self.confdir and not target.startswith("/")
                    else ""
                ),
            )
            return False
        return self.parse_file(path, service, module_type, stack_level, origin)

    # -- _pam_parse_conf_file -----------------------------------------------------------
    def parse_file(
        self,
        path: str,
        known_service: str | None,
        requested: str | None,
        stack_level: int,
        origin: tuple[Include, ...],
    ) -> bool:
        state = (path, requested, stack_level, (known_service or "").lower())
        if state in self.active:
            inc = origin[-1]
            raise _Crash(f"include loop through {path}", inc.file, inc.line)
        assembled = read_service_file(path)
        if assembled is None:
            return False
        self.active.add(state)
        try:
            for logical in assembled.lines:
                if not self.parse_line(
                    path, logical.line, logical.text, known_service, requested, stack_level, origin
                ):
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

    def parse_line(
        self,
        path: str,
        line: int,
        text: str,
        known_service: str | None,
        requested: str | None,
        stack_level: int,
        origin: tuple[Include, ...],
    ) -> bool:
        marked = tokenize_marked(text)
        tokens = [token for token, _ in marked]
        pos = 0
        if known_service is None:
            if not tokens:
                return True
            this_service = tokens[0]
            pos = 1
        else:
            this_service = known_service
        is_other = this_service.lower() == "other"
        if not (this_service.lower() == self.name or is_other):
            return True

        def take() -> str | None:
            nonlocal pos
            if pos < len(tokens):
                pos += 1
                return tokens[pos - 1]
            return None

        fail_reason = ""
        silent = False
        type_token = take()
        module_type: str
        if type_token is None:
            module_type = requested or "auth"
            fail_reason = "no module type"
        else:
            word = type_token
            if word.startswith("-"):
                silent = True
                word = word[1:]
            if word.lower() == "@include":  # Debian: all types of the named file
                target = take()
                inc = Include(path, line, "@include", target or "")
                if target is None:
                    raise _Crash("@include with no file name", path, line)
                if not self.load_include(
                    target, this_service, requested, stack_level, (*origin, inc), path, line
                ):
                    self.note(
                        "error",
                        path,
                        line,
                        f"@include {target} failed: the file that holds it fails to load",
                        "Debian's @include makes the whole "
                        "file fail; at top level pam_start returns PAM_ABORT",
                    )
                    return False
                return True
            if word.lower() in MODULE_TYPES:
                module_type = word.lower()
            else:
                module_type = requested or "auth"
                fail_reason = f"unknown type {type_token!r}"
                self.note(
                    "error",
                    path,
                    line,
                    f"unknown module type {type_token!r}: this line "
                    f"becomes an always-fail rule in the {module_type} stack",
                    "libpam installs a rule that returns PAM_PERM_DENIED and keeps reading",
                )
        if requested is not None and module_type != requested:
            return True

        control = take()
        if control is not None and marked[pos - 1][1]:
            shown_control = "[" + control.replace("]", "\\]") + "]"
        else:
            shown_control = control or ""
        actions: tuple[int, ...] = _UNDEF
        include_kind: str | None = None
        if control is None:
            actions = _ALL_BAD
            fail_reason = fail_reason or "no control"
            self.note(
                "error",
                path,
                line,
                "no control field: this line always fails",
                "libpam installs a rule that returns PAM_PERM_DENIED",
            )
        elif control.lower() in ("include", "substack"):
            include_kind = control.lower()
        else:
            keyword = keyword_actions(control)
            if keyword is not None:
                actions = keyword
            else:
                actions, error = parse_control(control)
                if error:
                    self.note(
                        "error",
                        path,
                        line,
                        f"malformed control {control!r} ({error}): "
                        "every return code now acts as 'bad'",
                        "libpam treats any error in a control as 'all actions bad'; the "
                        "module still runs, but can never make the stack succeed",
                    )

        target = take()
        if include_kind is not None:
            inc = Include(path, line, include_kind, target or "")  # type: ignore[arg-type]
            substack = include_kind == "substack"
            if substack:
                if target is not None and not module_name_ok(target):
                    return self.bad_name(path, line, target, origin)
                self.add(
                    Rule(
                        path,
                        line,
                        module_type,
                        type_token or "",
                        shown_control,
                        _UNDEF,
                        module=target or "",
                        silent=silent,
                        kind="substack",
                        level=stack_level,
                        origin=origin,
                        other=is_other,
                    ),
                    is_other,
                )
            if self.load_include(
                target,
                this_service,
                module_type,
                stack_level + (1 if substack else 0),
                (*origin, inc),
                path,
                line,
            ):
                return True
            self.add(
                Rule(
                    path,
                    line,
                    module_type,
                    type_token or "",
                    shown_control,
                    _ALL_BAD,
                    silent=silent,
                    kind="always_fail",
                    level=stack_level,
                    origin=origin,
                    other=is_other,
                    fail_reason=f"{include_kind} {target} failed",
                ),
                is_other,
            )
            return True

        if target is not None and not module_name_ok(target):
            return self.bad_name(path, line, target, origin)
        if target is None and not fail_reason:
            fail_reason = "no module path"
            self.note(
                "error",
                path,
                line,
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
        rule = Rule(
            path,
            line,
            module_type,
            type_token or "",
            shown_control,
            actions,
            module=target or "",
            path=full,
            args=tuple(tokens[pos:]),
            silent=silent,
            kind="always_fail" if fail_reason else "module",
            level=stack_level,
            origin=origin,
            other=is_other,
            fail_reason=fail_reason,
            exists=exists,
            loadable=loadable,
            symbols=symbols,
        )
        self.add(rule, is_other)
        return True

    def bad_name(self, path: str, line: int, target: str, origin: tuple[Include, ...]) -> bool:
        """A module name that is empty or ``?`` once directory and suffix are cut."""
        if any(inc.kind != "@include" for inc in origin):
            raise _Crash(f"module name {target!r} is empty or '?' in an included file", path, line)
        self.note(
            "error",
            path,
            line,
            f"module name {target!r} is empty or '?' once its "
            "directory and suffix are cut: pam_start fails with PAM_ABORT",
            "libpam refuses to install a handler without a module name",
        )
        return False

    def add(self, rule: Rule, is_other: bool) -> None:
        (self.other if is_other else self.rules).append(rule)


def resolve(service: str, confdir: str | None = None, paths: Paths = DEBIAN) -> Stack:
    """The stack ``pam_start(service)`` (or ``pam_start_confdir``) would build. Never raises
    on bad configuration: problems are findings, and ``start`` says what pam_start does."""
    name = service_name(service)
    loader = _Loader(name, confdir, paths)
    source: str | None = None
    start = StartResult(0)
    try:
        start, source = _init_handlers(loader, name)
    except _Crash as crash:
        loader.note(
            "error",
            crash.file,
            crash.line,
            f"{crash.reason}: libpam crashes (SIGSEGV) in pam_start",
            "libpam recurses without a limit here and overflows its stack; the application dies",
        )
        start = StartResult(26, crash=f"SIGSEGV: {crash.reason}", reason=crash.reason)
    findings = tuple(loader.findings.values())
    return Stack(
        service, name, confdir, source, tuple(loader.rules), tuple(loader.other), start, findings
    )


def _init_handlers(loader: _Loader, name: str) -> tuple[StartResult, str | None]:
    paths = loader.paths
    if not (
        loader.confdir is not None or os.path.isdir(paths.pam_d) or os.path.isdir(paths.dist_d)
    ):
        if read_service_file(paths.pam_conf) is None:
            return StartResult(26, reason=f"no {paths.pam_conf}"), None
        ok = loader.parse_file(paths.pam_conf, None, None, 0, ())
        return (
            StartResult(0) if ok else StartResult(26, reason=f"{paths.pam_conf} fails to parse")
        ), paths.pam_conf
    read_something = False
    source = loader.open_config(name)
    if source is not None:
        if not loader.parse_file(source, name, None, 0, ()):
            return StartResult(26, reason=f"{source} fails to parse"), source
        read_something = True
    other = loader.open_config("other")
    if other is not None:
        if not loader.parse_file(other, "other", None, 0, ()):
            return StartResult(26, reason=f"{other} fails to parse"), source
        read_something = True
    if not read_something:
        where = loader.confdir or f"{paths.pam_d} or {paths.dist_d}"
        return StartResult(26, reason=f"neither {name} nor other exists in {where}"), source
    return StartResult(0), source
