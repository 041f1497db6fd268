"""Profiles: PAM scenarios kept as YAML files.

A profile names a service, where its configuration comes from, the user, items, PAM
environment, scripted answers and the steps to run with what each should return.

- :mod:`~pamexplorer.profile.model`: the frozen model (steps, answers, configurations as sum
  types); secrets never live in it: an answer is a literal, or a *source* (``{env: NAME}``,
  ``{ask: true}``) the runner resolves at run time.
- :mod:`~pamexplorer.profile.reader`: YAML in, a :class:`Profile` out, or one
  ``FILE:LINE: field: what was expected``; :mod:`~pamexplorer.profile.source` reads files and
  YAML within bounds, :mod:`~pamexplorer.profile.patterns` checks regular expressions.
- :mod:`~pamexplorer.profile.discovery`: the bundled curriculum and a person's own profiles.
"""

from pamexplorer.profile.discovery import (
    ProfileEntry,
    bundled_dir,
    discover,
    resolve,
    user_dirs,
)
from pamexplorer.profile.model import (
    CONFIG_LAB,
    CONFIG_SYSTEM,
    DEFAULT_TIMEOUT,
    Answer,
    AnswerKind,
    AskAnswer,
    CallStep,
    Config,
    ConfigKind,
    DirectoryConfig,
    EnvAnswer,
    Expectation,
    InlineConfig,
    LabConfig,
    Lesson,
    LiteralAnswer,
    Profile,
    ProfileError,
    PutenvStep,
    Requires,
    SetItemStep,
    Step,
    StepKind,
    SystemConfig,
    profile_name,
)
from pamexplorer.profile.patterns import compile_pattern
from pamexplorer.profile.reader import PROFILE_ITEMS, load, loads, quoted
from pamexplorer.profile.source import read_text

__all__ = [
    "CONFIG_LAB",
    "CONFIG_SYSTEM",
    "DEFAULT_TIMEOUT",
    "PROFILE_ITEMS",
    "Answer",
    "AnswerKind",
    "AskAnswer",
    "CallStep",
    "Config",
    "ConfigKind",
    "DirectoryConfig",
    "EnvAnswer",
    "Expectation",
    "InlineConfig",
    "LabConfig",
    "Lesson",
    "LiteralAnswer",
    "Profile",
    "ProfileEntry",
    "ProfileError",
    "PutenvStep",
    "Requires",
    "SetItemStep",
    "Step",
    "StepKind",
    "SystemConfig",
    "bundled_dir",
    "compile_pattern",
    "discover",
    "load",
    "loads",
    "profile_name",
    "quoted",
    "read_text",
    "resolve",
    "user_dirs",
]
