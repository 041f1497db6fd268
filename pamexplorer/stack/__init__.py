"""PAM configuration understood: parse, resolve, lint and simulate, without running a module.

``lint`` lives in :mod:`pamexplorer.stack.lint` and is not imported here: an engine child that
assembles a trace needs ``resolve`` and ``simulate``, not the linter and its ELF reader.
"""

from pamexplorer.stack.model import Finding, Include, Rule, Stack, StartResult
from pamexplorer.stack.resolve import Paths, list_services, resolve
from pamexplorer.stack.simulate import (
    CallResult,
    PathStep,
    ResultOverride,
    Simulation,
    Simulator,
    parse_result_spec,
    simulate,
)

__all__ = [
    "CallResult",
    "Finding",
    "Include",
    "PathStep",
    "Paths",
    "ResultOverride",
    "Rule",
    "Simulation",
    "Simulator",
    "Stack",
    "StartResult",
    "list_services",
    "parse_result_spec",
    "resolve",
    "simulate",
]
