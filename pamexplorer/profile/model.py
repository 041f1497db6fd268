"""What a profile says, as frozen sum types: no YAML, no I/O, never a secret value.

A step is a :class:`CallStep` (one of the six stack functions), a :class:`SetItemStep` or a
:class:`PutenvStep`; an answer is a :class:`LiteralAnswer`, an :class:`EnvAnswer` (a secret read
at run time) or an :class:`AskAnswer` (a secret a person types); a configuration is the
system's, the bundled lab, a directory, or inline service files. Each family carries a ``kind``
enum, so code can switch on it or on the class with ``match``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final

from pamexplorer.pam.codes import Code, Function, flag_names

#: Seconds a step may take when the profile sets no ``timeout``.
DEFAULT_TIMEOUT = 30.0


class ProfileError(Exception):
    """A profile that cannot be used; ``str(err)`` is ``FILE:LINE: field: what was expected``."""

    def __init__(self, file: str, line: int, field: str, expected: str) -> None:
        if len(field) > 120:  # a key a megabyte long names the field on one readable line
            field = field[:117] + "..."
        super().__init__(f"{file}:{line}: {field}: {expected}")
        self.file, self.line, self.field, self.expected = file, line, field, expected


#: The file names of profiles.
SUFFIXES = (".yaml", ".yml")


def profile_name(file_name: str) -> str:
    """The short name a person types: ``lab-required`` for ``lab-required.yaml``."""
    for suffix in SUFFIXES:
        file_name = file_name.removesuffix(suffix)
    return file_name


# --------------------------------------------------------------------------------------------
# Where the service files come from


class ConfigKind(enum.StrEnum):
    SYSTEM = "system"
    LAB = "lab"
    DIRECTORY = "directory"
    INLINE = "inline"


@dataclass(frozen=True)
class SystemConfig:
    """``/etc/pam.d`` (libpam's own search)."""

    kind: ClassVar[ConfigKind] = ConfigKind.SYSTEM


@dataclass(frozen=True)
class LabConfig:
    """The bundled lab, in a private sandbox copy."""

    kind: ClassVar[ConfigKind] = ConfigKind.LAB


@dataclass(frozen=True)
class DirectoryConfig:
    """A directory of service files (``pam_start_confdir``)."""

    path: Path
    kind: ClassVar[ConfigKind] = ConfigKind.DIRECTORY


@dataclass(frozen=True)
class InlineConfig:
    """Service files written in the profile, name -> text (put in a private temporary
    directory when the profile runs)."""

    files: dict[str, str]
    kind: ClassVar[ConfigKind] = ConfigKind.INLINE


Config = SystemConfig | LabConfig | DirectoryConfig | InlineConfig
CONFIG_SYSTEM: Final = SystemConfig()
CONFIG_LAB: Final = LabConfig()


# --------------------------------------------------------------------------------------------
# Scripted answers


class AnswerKind(enum.StrEnum):
    LITERAL = "literal"
    ENV = "env"
    ASK = "ask"


@dataclass(frozen=True)
class LiteralAnswer:
    """An answer written in the profile (fine for the lab; never a real secret)."""

    value: str
    match: str | None = None  # a regex searched in the prompt; None: used in order
    line: int = field(default=0, compare=False)
    kind: ClassVar[AnswerKind] = AnswerKind.LITERAL
    secret: ClassVar[bool] = False

    def source(self) -> str:
        return "literal"


@dataclass(frozen=True)
class EnvAnswer:
    """A secret read from the environment variable ``name`` when the profile runs."""

    name: str
    match: str | None = None
    line: int = field(default=0, compare=False)
    kind: ClassVar[AnswerKind] = AnswerKind.ENV
    secret: ClassVar[bool] = True

    def source(self) -> str:
        return f"environment variable {self.name}"


@dataclass(frozen=True)
class AskAnswer:
    """A secret asked of the person running the profile, when a prompt needs it."""

    match: str | None = None
    line: int = field(default=0, compare=False)
    kind: ClassVar[AnswerKind] = AnswerKind.ASK
    secret: ClassVar[bool] = True

    def source(self) -> str:
        return "asked"


Answer = LiteralAnswer | EnvAnswer | AskAnswer


# --------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class Expectation:
    """What a step should produce; ``codes`` empty means any code is accepted. Built by
    keyword: new kinds of expectation (a step key in ``reader.STEP_KEYS``, a check in the
    runner's ``call_step``) join as fields with a default that checks nothing."""

    codes: tuple[Code, ...] = (Code.PAM_SUCCESS,)
    messages: tuple[str, ...] | None = None  # regexes, one per message, in order
    env: dict[str, str | None] | None = None  # None value: the variable must be absent
    fail_delay: bool | tuple[int, int] | None = None
    #: The rule whose code became the call's code (the per-module trace): ``FILE:LINE`` as
    #: the trace names it (``common-account:19``), or a module (``pam_deny.so``).
    decided_by: str | None = None
    #: Regexes, each searched in the call's log lines (the trace); one line may match
    #: several; ``()``: the call logged nothing.
    log: tuple[str, ...] | None = None

    @property
    def needs_trace(self) -> bool:
        return self.decided_by is not None or self.log is not None

    def code_names(self) -> list[str]:
        return [c.name for c in self.codes]


class StepKind(enum.StrEnum):
    CALL = "call"
    SET_ITEM = "set_item"
    PUTENV = "putenv"


@dataclass(frozen=True)
class CallStep:
    """One of the six stack functions, with its flags."""

    function: Function
    flags: int = 0
    expect: Expectation = field(default_factory=Expectation)
    line: int = field(default=0, compare=False)
    kind: ClassVar[StepKind] = StepKind.CALL

    @property
    def libpam_name(self) -> str:
        return self.function.value

    def label(self) -> str:
        names = flag_names(self.flags)
        return self.function.short + (f"({'|'.join(names)})" if names else "")


@dataclass(frozen=True)
class SetItemStep:
    """``pam_set_item`` for each item in order (short names: tty, rhost, user, ...)."""

    items: dict[str, str]
    expect: Expectation = field(default_factory=Expectation)
    line: int = field(default=0, compare=False)
    kind: ClassVar[StepKind] = StepKind.SET_ITEM
    flags: ClassVar[int] = 0  # pam_set_item takes no flags
    libpam_name: ClassVar[str] = "pam_set_item"

    def label(self) -> str:
        return "set_item(" + ", ".join(f"{k}={v}" for k, v in self.items.items()) + ")"


@dataclass(frozen=True)
class PutenvStep:
    """``pam_putenv``: ``NAME=value`` sets, ``NAME`` unsets."""

    entry: str
    expect: Expectation = field(default_factory=Expectation)
    line: int = field(default=0, compare=False)
    kind: ClassVar[StepKind] = StepKind.PUTENV
    flags: ClassVar[int] = 0  # pam_putenv takes no flags
    libpam_name: ClassVar[str] = "pam_putenv"

    def label(self) -> str:
        return f"putenv({self.entry})"


Step = CallStep | SetItemStep | PutenvStep


# --------------------------------------------------------------------------------------------
# The profile


@dataclass(frozen=True)
class Lesson:
    question: str
    hints: tuple[str, ...] = ()
    explanation: str | None = None


@dataclass(frozen=True)
class Requires:
    root: bool = False
    users: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    service: str
    steps: tuple[Step, ...]
    title: str | None = None  # the YAML ``name`` key
    description: str | None = None
    config: Config = CONFIG_SYSTEM
    user: str | None = None
    items: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    answers: tuple[Answer, ...] = ()
    timeout: float | None = None
    requires: Requires = Requires()
    expect_start: tuple[Code, ...] = (Code.PAM_SUCCESS,)
    lesson: Lesson | None = None
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # top-level field -> line

    @property
    def name(self) -> str:
        """The short name a person types: the file name without ``.yaml``."""
        if self.path is not None:
            return profile_name(self.path.name)
        return self.service

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def config_kind(self) -> ConfigKind:
        return self.config.kind

    @property
    def source(self) -> str:
        """The file, or ``<profile>`` for text given directly."""
        return str(self.path) if self.path else "<profile>"

    def where(self, field_name: str) -> str:
        """``FILE:LINE`` of a top-level field, for errors found while running."""
        return f"{self.source}:{self.lines.get(field_name, 1)}"
