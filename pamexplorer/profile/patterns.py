"""Regular expressions in profiles (``match``, ``expect_messages``): bounded in size and
nesting, compiled without warnings, and without the nested repeats that make a search of a
module's text backtrack for hours."""

from __future__ import annotations

import re
import warnings
from typing import Any

MAX_PATTERN_CHARS = 1000
MAX_PATTERN_GROUPS = 50


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A pattern :func:`pattern_problem` accepted, compiled without warnings on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FutureWarning on "[[": still a valid pattern
        return re.compile(pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable regular expression, or None."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"expected a regular expression of at most {MAX_PATTERN_CHARS} characters"
    if _group_depth(pattern) > MAX_PATTERN_GROUPS:
        return f"expected a regular expression nested at most {MAX_PATTERN_GROUPS} groups deep"
    try:
        compile_pattern(pattern)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nested = _nested_repeat(pattern)
        if nested:
            return (
                "expected a regular expression without a repeat inside a repeat, like (a+)+ "
                "(searching module text with it can take exponential time)"
            )
    except re.error as err:
        return f"expected a regular expression ({' '.join(str(err).split())})"
    except (OverflowError, RecursionError, MemoryError, ValueError) as err:
        return f"expected a regular expression ({' '.join(str(err).split()) or 'too large'})"
    return None


def _nested_repeat(pattern: str) -> bool:
    """Whether an unbounded repeat holds another one (``(a+)+``, ``(\\w*\\s?)*``): the
    classic catastrophic backtracking. Possessive repeats and atomic groups never backtrack."""
    try:  # CPython's own parser of patterns (3.11+); without it, no check
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        return False

    def unbounded_inside(items: Any, inside: bool) -> bool:
        for op, av in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                unbounded = av[1] == sre.MAXREPEAT
                if (unbounded and inside) or unbounded_inside(av[2], inside or unbounded):
                    return True
                continue
            if op is sre.SUBPATTERN:
                parts = [av[3]]
            elif op is sre.BRANCH:
                parts = av[1]
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                parts = [av[1]]
            elif op is sre.GROUPREF_EXISTS:
                parts = [b for b in av[1:] if b is not None]
            else:
                continue
            if any(unbounded_inside(part, inside) for part in parts):
                return True
        return False

    return unbounded_inside(_parser.parse(pattern), False)


def _group_depth(pattern: str) -> int:
    depth = deepest = 0
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(0, depth - 1)
    return deepest
