"""Read a service file exactly as libpam 1.5.2 does: line assembly, tokens, controls.

``_pam_assemble_line`` reads through a 1024-byte buffer with ``fgets``, skips blank and
comment lines, cuts at the first ``#`` and joins ``\\`` continuations (a NUL byte ends what
libpam sees of the piece ``fgets`` read); ``_pam_tokenize`` splits
on space, tab and newline only, with ``[...]`` as one token; ``_pam_parse_control`` turns a
control into the 32-entry action table. Nothing here raises on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass

from pamexplorer.stack.model import (
    ACTION_BAD,
    ACTION_DIE,
    ACTION_DONE,
    ACTION_IGNORE,
    ACTION_OK,
    ACTION_UNDEF,
    RETURN_VALUES,
    TOKEN_RETURNS,
)

BUF_SIZE = 1024
DELIMITERS = " \n\t"
_ACTION_TOKENS = ("ignore", "ok", "done", "bad", "die", "reset")
_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class LogicalLine:
    """One assembled line: the physical line it starts on and its text (``#`` part cut)."""

    line: int
    text: str
    continued: bool = False
    has_cr: bool = False


@dataclass(frozen=True)
class Assembled:
    """A file cut into logical lines as libpam's line reader does."""

    lines: tuple[LogicalLine, ...]
    #: None when the file reads cleanly; else why libpam's reader returned -1 (pam_start 26).
    error: str | None = None
    error_line: int = 0
    #: Not "" when the file was not read: why libpam would never finish reading it (a FIFO,
    #: a device) or why pamexplorer would not (larger than it reads).
    blocked: str = ""
    #: ``hang`` (libpam never returns) or ``limit`` (pamexplorer does not read that much).
    blocked_kind: str = "hang"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def assemble_lines(data: bytes) -> Assembled:
    """Split ``data`` into the logical lines ``_pam_assemble_line`` would return."""
    out: list[LogicalLine] = []
    pos = 0
    lineno = 1  # physical line at ``pos``
    end = len(data)
    while True:
        buf = b""
        used = 0
        start_line = 0
        continued = False
        while True:
            room = BUF_SIZE - len(buf) - 1
            if room <= 0:
                return Assembled(
                    tuple(out), "line longer than libpam's 1024-byte buffer", start_line or lineno
                )
            if pos >= end:
                if used:
                    return Assembled(
                        tuple(out),
                        "'\\' continues the last line past the end of the file",
                        start_line,
                    )
                return Assembled(tuple(out))
            nl = data.find(b"\n", pos, pos + room)
            chunk_end = nl + 1 if nl >= 0 else min(end, pos + room)
            raw = data[pos:chunk_end]
            chunk_line = lineno
            pos = chunk_end
            if raw.endswith(b"\n"):
                lineno += 1
            # libpam sees what fgets read as a C string: a NUL ends it, the rest is lost
            nul = raw.find(b"\0")
            chunk = raw if nul < 0 else raw[:nul]
            body = chunk.lstrip(b" \n\t")
            if not body or body.startswith(b"#"):
                continue  # nothing on this line; do not move p
            if not start_line:
                start_line = chunk_line
            lead = len(chunk) - len(body)
            hash_at = body.find(b"#")
            if hash_at >= 0:
                buf += chunk[: lead + hash_at]
                used += hash_at
                break
            stripped = chunk.rstrip(b" \t\n")
            if stripped.endswith(b"\\"):
                buf += stripped[:-1] + b" "
                used += len(body)
                continued = True
                continue
            buf += chunk
            used += len(body)
            break
        out.append(LogicalLine(start_line, _decode(buf), continued, b"\r" in buf))


def tokenize(text: str) -> list[str]:
    """All tokens of ``text`` as repeated ``_pam_tokenize`` calls return them."""
    return [token for token, _ in tokenize_marked(text)]


def tokenize_marked(text: str) -> list[tuple[str, bool]]:
    """Like :func:`tokenize`, each token with whether it was written in ``[...]``."""
    tokens: list[tuple[str, bool]] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i] in DELIMITERS:
            i += 1
        if i >= n:
            return tokens
        if text[i] == "[":
            i += 1
            chars: list[str] = []
            while i < n and text[i] != "]":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "]":
                    i += 1
                chars.append(text[i])
                i += 1
            tokens.append(("".join(chars), True))
            i += 1  # past the ']' (or the end)
        else:
            j = i
            while j < n and text[j] not in DELIMITERS:
                j += 1
            tokens.append((text[i:j], False))
            i = j + 1


def keyword_actions(keyword: str) -> tuple[int, ...] | None:
    """The action table of ``required``/``requisite``/``optional``/``sufficient`` (any case)."""
    word = keyword.lower()
    actions = [ACTION_UNDEF] * RETURN_VALUES
    if word in ("required", "requisite"):
        actions[0] = actions[12] = ACTION_OK
        actions[25] = ACTION_IGNORE
        default = ACTION_BAD if word == "required" else ACTION_DIE
    elif word == "optional":
        actions[0] = actions[12] = ACTION_OK
        default = ACTION_IGNORE
    elif word == "sufficient":
        actions[0] = actions[12] = ACTION_DONE
        default = ACTION_IGNORE
    else:
        return None
    return tuple(default if a == ACTION_UNDEF else a for a in actions)


def _isspace(ch: str) -> bool:
    return ch in " \t\n\v\f\r"


def parse_control(text: str) -> tuple[tuple[int, ...], str | None]:
    """``_pam_parse_control`` then the ``bad`` default: (actions, error or None).

    On any error every action is ``bad``; the error names what libpam expected.
    """
    actions = [ACTION_UNDEF] * RETURN_VALUES
    i = 0
    n = len(text)
    error: str | None = None
    while i < n:
        while i < n and _isspace(text[i]):
            i += 1
        if i >= n:
            break
        ret = next((k for k, name in enumerate(TOKEN_RETURNS) if text.startswith(name, i)), None)
        if ret is None or i + len(TOKEN_RETURNS[ret]) >= n:
            error = f"expecting a return code name at {text[i:]!r}"
            break
        i += len(TOKEN_RETURNS[ret])
        while i < n and _isspace(text[i]):
            i += 1
        if i >= n or text[i] != "=":
            error = f"expecting '=' at {text[i:]!r}"
            break
        i += 1
        while i < n and _isspace(text[i]):
            i += 1
        if i >= n:
            error = "expecting an action after '='"
            break
        word = next((k for k, name in enumerate(_ACTION_TOKENS) if text.startswith(name, i)), None)
        if word is not None:
            act = -word
            i += len(_ACTION_TOKENS[word])
        else:
            if not text[i].isdigit() or not text[i].isascii():
                error = f"expecting an action or jump number at {text[i:]!r}"
                break
            act = 0
            too_big = False
            while i < n and text[i].isascii() and text[i].isdigit():
                act = act * 10 + int(text[i])
                if act > _INT_MAX:
                    too_big = True
                i += 1
            if too_big:
                error = "jump number too large"
                break
            if act == 0:
                error = "a jump of 0 (use ignore)"
                break
        if ret == RETURN_VALUES:  # default: only codes still unset
            actions = [act if a == ACTION_UNDEF else a for a in actions]
        else:
            actions[ret] = act
    if error is not None:
        return (ACTION_BAD,) * RETURN_VALUES, error
    return tuple(ACTION_BAD if a == ACTION_UNDEF else a for a in actions), None


def module_name_ok(path: str) -> bool:
    """libpam's ``extract_modulename``: pam_start fails when the name comes out empty or ``?``."""
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    if dot >= 0:
        base = base[:dot]
    return base not in ("", "?")
