"""``pamexplorer notebook LESSON [-o FILE.ipynb]``: a lesson written out as a Jupyter notebook."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from pamexplorer.cli import UsageError

EPILOG = """\
LESSON is a profile (a YAML file or the name of a bundled or user profile, see:
pamexplorer profiles), or a bundled notebook: getting-started, troubleshooting.
The notebook needs the Jupyter extra to run: python3 -m pip install 'pamexplorer[jupyter]'.

examples:
  pamexplorer notebook getting-started && jupyter lab getting-started.ipynb
  pamexplorer notebook lab-requisite -o requisite.ipynb
  pamexplorer notebook lab-required -o - | jq '.cells | length'
"""


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    sub = subparsers.add_parser(
        "notebook",
        help="write a lesson as a Jupyter notebook (steps as cells, then the widget explorer)",
        description="Write a lesson as a Jupyter notebook: question, hints and explanation as "
        "text, the profile's steps as code cells using the Python API, and a final cell with "
        "the widget explorer on the lesson's service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("lesson", metavar="LESSON")
    sub.add_argument(
        "-o",
        "--output",
        metavar="FILE.ipynb",
        help="where to write it ('-' for standard output; default: ./LESSON.ipynb)",
    )
    sub.add_argument("--force", action="store_true", help="replace an existing file")
    sub.set_defaults(func=run)


def notebook_text(reference: str) -> tuple[str, str]:
    """(name, notebook JSON) for a bundled notebook or a profile."""
    from pamexplorer.notebook.lessons import BUNDLED, dumps, lesson_notebook

    bundled = BUNDLED / f"{reference.removesuffix('.ipynb')}.ipynb"
    if "/" not in reference and bundled.is_file():
        return bundled.stem, bundled.read_text()
    from pamexplorer.profile import ProfileError, load, resolve

    try:
        profile = load(resolve(reference))
    except ProfileError as err:
        raise UsageError(str(err)) from None
    return profile.name, dumps(lesson_notebook(profile))


def write_atomically(path: Path, data: str) -> None:
    """A temporary beside the target, renamed over it: nothing half-written."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    name, data = notebook_text(args.lesson)
    if args.output == "-":
        sys.stdout.write(data)
        return 0
    path = Path(args.output or f"{name}.ipynb")
    if path.is_dir():
        path = path / f"{name}.ipynb"
    if path.exists() and not path.is_file():
        raise UsageError(f"{path}: -o: expected a regular file (or '-' for standard output)")
    if path.exists() and not args.force:
        raise UsageError(f"{path}: -o: the file exists (use --force to replace it)")
    if not path.parent.is_dir():
        raise UsageError(f"{path}: -o: expected a file in an existing directory")
    try:
        write_atomically(path, data)
    except OSError as err:
        raise UsageError(f"{path}: -o: {err.strerror or err}") from None
    print(f"wrote {path}")
    return 0
