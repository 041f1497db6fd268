"""PAM configuration understood: parse, resolve, lint and simulate, without running a module.

The names below are loaded on first use: an engine child that assembles a trace needs
``resolve`` and ``simulate`` but not ``lint`` and its ELF reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pamexplorer.stack.lint import lint
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

_WHERE = {
    "lint": "lint",
    "Finding": "model",
    "Include": "model",
    "Rule": "model",
    "Stack": "model",
    "StartResult": "model",
    "Paths": "resolve",
    "list_services": "resolve",
    "resolve": "resolve",
    "CallResult": "simulate",
    "PathStep": "simulate",
    "ResultOverride": "simulate",
    "Simulation": "simulate",
    "Simulator": "simulate",
    "parse_result_spec": "simulate",
    "simulate": "simulate",
}

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
    "lint",
    "list_services",
    "parse_result_spec",
    "resolve",
    "simulate",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pamexplorer.stack' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pamexplorer.stack.{module}"), name)
    globals()[name] = value
    return value
