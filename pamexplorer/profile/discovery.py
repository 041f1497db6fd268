"""Finding profiles: the bundled curriculum and a person's own directories, by name or path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pamexplorer.profile.model import SUFFIXES, ProfileError, profile_name
from pamexplorer.profile.reader import load


@dataclass(frozen=True)
class ProfileEntry:
    name: str
    title: str
    path: Path
    bundled: bool
    error: str | None = None


def bundled_dir() -> Path | None:
    """The curriculum shipped with pamexplorer: in the wheel, or the source checkout's."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_profiles", package.parent / "profiles"):
        if candidate.is_dir():
            return candidate
    return None


def user_dirs() -> list[Path]:
    """Directories of a person's own profiles, in search order."""
    dirs: list[Path] = []
    extra = os.environ.get("PAMEXPLORER_PROFILES")
    if extra:
        dirs.extend(Path(p).expanduser() for p in extra.split(os.pathsep) if p and "\0" not in p)
    dirs.append(Path.cwd() / "profiles")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    if "\0" not in config:
        dirs.append(Path(config) / "pamexplorer" / "profiles")
    bundled = bundled_dir()
    seen: set[Path] = set()
    out: list[Path] = []
    for d in dirs:
        try:
            resolved = d.resolve()
        except (OSError, RuntimeError):  # a symlink loop, a name too long
            continue
        if resolved in seen or (bundled is not None and resolved == bundled.resolve()):
            continue
        seen.add(resolved)
        out.append(d)
    return out


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _yaml_files(directory: Path) -> Iterator[Path]:
    try:
        names = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES)
    except OSError:  # not a directory, unreadable
        return
    yield from (p for p in names if _is_file(p))


def discover() -> list[ProfileEntry]:
    """Every bundled and user profile; a user profile shadows a bundled one of the same name."""
    entries: list[ProfileEntry] = []
    seen: set[str] = set()
    sources: list[tuple[Path, bool]] = [(d, False) for d in user_dirs()]
    bundled = bundled_dir()
    if bundled is not None:
        sources.append((bundled, True))
    for directory, is_bundled in sources:
        for path in _yaml_files(directory):
            name = profile_name(path.name)
            if name in seen:
                continue
            seen.add(name)
            try:
                title = load(path).display_title
                error = None
            except ProfileError as err:
                title, error = name, str(err)
            entries.append(ProfileEntry(name, title, path, is_bundled, error))
    return entries


def resolve(reference: str) -> Path:
    """A path to an existing file, or the name of a user or bundled profile. A path that
    exists but is no regular file (a directory, a FIFO) is returned for :func:`load` to
    refuse with its kind."""
    if "\0" not in reference and reference:
        candidate = _expanded(reference)
        if _is_file(candidate):
            return candidate
        if "/" not in reference and reference not in (".", ".."):
            stem = profile_name(reference)
            dirs = user_dirs()
            bundled = bundled_dir()
            if bundled is not None:
                dirs.append(bundled)
            for directory in dirs:
                for suffix in SUFFIXES:
                    path = directory / f"{stem}{suffix}"
                    if _is_file(path):
                        return path
        if _exists(candidate):
            return candidate
    raise ProfileError(
        reference.replace("\0", "\\0"),
        1,
        "profile",
        "expected a profile file or the name of a "
        "bundled or user profile (see: pamexplorer profiles)",
    )


def _expanded(reference: str) -> Path:
    try:
        return Path(reference).expanduser()
    except RuntimeError:  # ~someone who does not exist
        return Path(reference)


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True
