"""A profile's text: read as libpam reads its files, composed into YAML nodes with lines.

A file is read only if it is a regular file of at most :data:`MAX_FILE_BYTES` (opened without
blocking, so a FIFO is refused, not waited on); YAML is composed by PyYAML's safe composer,
refusing nesting deeper than :data:`MAX_YAML_DEPTH` (it would recurse until RecursionError);
every YAML error names the line to fix, as an editor counts lines.
"""

from __future__ import annotations

import bisect
import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from pamexplorer.profile.model import ProfileError

#: Far above any real profile, far below trouble.
MAX_FILE_BYTES = 1 << 20
MAX_YAML_DEPTH = 32


def read_text(file: Path) -> str:
    """The text of a profile file: a regular file of at most :data:`MAX_FILE_BYTES`, UTF-8.

    Opened without blocking, so a FIFO is refused instead of waited on; a device, a directory
    or a file that grows past the bound while read is refused the same way."""
    name = str(file)
    if "\0" in name:
        raise ProfileError(name.replace("\0", "\\0"), 1, "file", "expected a path without NUL")
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise ProfileError(name, 1, "file", f"cannot read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _file_kind(info.st_mode)
            raise ProfileError(name, 1, "file", f"expected a regular file, not {kind}")
        if info.st_size > MAX_FILE_BYTES:
            raise ProfileError(name, 1, "file", _too_big(info.st_size))
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise ProfileError(name, 1, "file", _too_big(size))
    except OSError as err:
        raise ProfileError(name, 1, "file", f"cannot read ({err.strerror})") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError(name, 1, "file", "expected UTF-8 text") from None


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _too_big(size: int) -> str:
    return f"expected a profile of at most {MAX_FILE_BYTES // 1024} KiB, not {size} bytes"


class _TooDeep(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, refusing collections nested deeper than
    :data:`MAX_YAML_DEPTH` (it would otherwise recurse until RecursionError)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._enter()
        try:
            return super().compose_sequence_node(anchor)
        finally:
            self.depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._enter()
        try:
            return super().compose_mapping_node(anchor)
        finally:
            self.depth -= 1

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _TooDeep(event.start_mark.index)


class Lines:
    """Line numbers as an editor counts them (``\\n`` only; PyYAML also breaks lines at
    ``\\r``, U+0085, U+2028 and U+2029), from a character index."""

    def __init__(self, text: str) -> None:
        self.starts = [i for i, ch in enumerate(text) if ch == "\n"]

    def line(self, index: int) -> int:
        return bisect.bisect_left(self.starts, index) + 1


def compose(text: str, name: str) -> tuple[Node | None, Lines]:
    """The YAML node tree of ``text`` (None for an empty document) and its line numbers;
    a problem is a :class:`ProfileError` naming ``name`` and the line."""
    lines = Lines(text)
    try:
        loader = _Loader(text)
        try:
            root: Node | None = loader.get_single_node()
        finally:
            loader.dispose()
    except _TooDeep as err:
        raise ProfileError(
            name,
            lines.line(err.index),
            "yaml",
            f"expected YAML nested at most {MAX_YAML_DEPTH} levels deep",
        ) from None
    except yaml.MarkedYAMLError as err:
        line, detail = _yaml_problem(err, text, lines)
        raise ProfileError(name, line, "yaml", f"expected valid YAML ({detail})") from None
    except yaml.reader.ReaderError as err:
        character = f"U+{err.character:04X}" if isinstance(err.character, int) else "a byte"
        raise ProfileError(
            name,
            lines.line(err.position),
            "yaml",
            f"expected printable text (found the control character {character})",
        ) from None
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        raise ProfileError(name, 1, "yaml", f"expected valid YAML ({detail})") from None
    return root, lines


def _yaml_problem(err: yaml.MarkedYAMLError, text: str, lines: Lines) -> tuple[int, str]:
    """The line to fix and what is wrong. PyYAML marks where it noticed the problem; when
    that is the end of the text (an unclosed quote or bracket) or the line after a key with
    no ``:``, the line to fix is where the construct began (its context mark)."""
    problem = " ".join((err.problem or err.context or "invalid YAML").split())
    problem_at = lines.line(err.problem_mark.index) if err.problem_mark else None
    context_at = lines.line(err.context_mark.index) if err.context_mark else None
    use_context = context_at is not None and (
        problem_at is None
        or (err.problem_mark is not None and err.problem_mark.index >= len(text.rstrip()))
        or "simple key" in (err.context or "")
    )
    if use_context:
        assert context_at is not None
        where = ""
        if err.problem_mark is not None and err.problem_mark.index >= len(text.rstrip()):
            where = " at the end of the file"
        elif problem_at is not None and problem_at != context_at:
            where = f" at line {problem_at}"
        return context_at, f"{problem}{where}, {err.context}"
    assert problem_at is not None
    if context_at is not None and context_at != problem_at and err.context:
        return problem_at, f"{problem}, {err.context} from line {context_at}"
    return problem_at, problem
