"""Operations written as pamtester writes them: ``authenticate``, ``setcred(PAM_ESTABLISH_CRED)``,
``chauthtok(PAM_SILENT|PAM_CHANGE_EXPIRED_AUTHTOK)``. Shared by ``call``, ``simulate`` and profiles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pamexplorer.pam.codes import Flag, Function, flag_by_name, flag_names


class OperationError(ValueError):
    """An operation or flag that pamtester would not accept; the message names it."""


@dataclass(frozen=True)
class Operation:
    """One call to make: a function and its flags."""

    function: Function
    flags: int = 0

    def __str__(self) -> str:
        if not self.flags:
            return self.function.short
        return f"{self.function.short}({'|'.join(flag_names(self.flags))})"


_SYNTAX = re.compile(r"^\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*$")


def parse_flags(words: list[str] | str) -> int:
    """``"PAM_SILENT|PAM_ESTABLISH_CRED"`` or a list of names -> the OR of the flags."""
    if isinstance(words, str):
        words = words.split("|")
    flags = 0
    for word in words:
        if not word.strip():
            continue
        try:
            flags |= flag_by_name(word).value
        except KeyError:
            known = ", ".join(f.name or "" for f in Flag)
            raise OperationError(f"unknown flag {word.strip()!r} (known: {known})") from None
    return flags


def parse_operation(text: str) -> Operation:
    """Parse one pamtester operation; raises :class:`OperationError` naming what is wrong."""
    match = _SYNTAX.match(text)
    if not match:
        raise OperationError(
            f"malformed operation {text!r} (expected e.g. setcred(PAM_ESTABLISH_CRED))"
        )
    word, flag_text = match.group(1), match.group(2)
    try:
        function = Function.from_name(word)
    except ValueError:
        known = ", ".join(f.short for f in Function)
        raise OperationError(f"unknown operation {word!r} (known: {known})") from None
    return Operation(function, parse_flags(flag_text or ""))
