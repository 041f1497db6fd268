"""Lessons as notebooks: one curriculum (the YAML profiles), two faces.

:func:`lesson_notebook` turns a profile into a Jupyter notebook (nbformat 4, written as plain
JSON: no Jupyter package is needed to write one): the title and question as markdown, the
profile's steps as code cells using :mod:`pamexplorer.api` (each with the code it should
return), the hints and the explanation, and a final cell with the widget Explorer on the
lesson's service. Every value from the profile reaches the code cells through ``repr`` (a
literal, never code) and the markdown cells escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pamexplorer.pam.codes import flag_names
from pamexplorer.profile import (
    Answer,
    AskAnswer,
    CallStep,
    DirectoryConfig,
    EnvAnswer,
    InlineConfig,
    LiteralAnswer,
    Profile,
    PutenvStep,
    SetItemStep,
    Step,
)

#: Where the bundled notebooks live (shipped in the wheel).
BUNDLED = Path(__file__).resolve().parent.parent / "notebooks"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def markdown_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": _lines(source)}


def code_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": _lines(source),
    }


def _lines(source: str) -> list[str]:
    lines = source.strip("\n").split("\n")
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def notebook(cells: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cells": list(cells),
        "metadata": {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def dumps(nb: Mapping[str, Any]) -> str:
    cells = [dict(cell, id=f"cell-{i}") for i, cell in enumerate(nb["cells"])]
    return json.dumps({**nb, "cells": cells}, indent=1, ensure_ascii=False) + "\n"


def md(value: str) -> str:
    """Profile text shown as markdown, with HTML escaped (a lesson cannot inject markup)."""
    return html.escape(value.strip(), quote=False)


# -- reading a profile ------------------------------------------------------------------------


def _config(profile: Profile) -> tuple[str, Any]:
    """``("lab", None)``, ``("system", None)``, ``("directory", path)`` or ``("inline", files)``."""
    match profile.config:
        case InlineConfig(files=files):
            return "inline", dict(files)
        case DirectoryConfig(path=path):
            return "directory", path
        case config:
            return config.kind.value, None


def _answer_code(answer: Answer) -> tuple[str | None, str]:
    """The import an answer needs (or None) and the expression that gives it."""
    match answer:
        case EnvAnswer(name=name):
            return "import os", f"os.environ[{name!r}]"
        case AskAnswer(match=match):
            return "import getpass", f"getpass.getpass({(match or 'answer') + ': '!r})"
        case LiteralAnswer(value=value):
            return None, repr(value)


def _answers_code(profile: Profile) -> tuple[list[str], str]:
    """Imports the answers need, and the ``answers=`` argument (or "")."""
    if not profile.answers:
        return [], ""
    imports: set[str] = set()
    entries = []
    for answer in profile.answers:
        needs, expr = _answer_code(answer)
        if needs is not None:
            imports.add(needs)
        entries.append(expr if answer.match is None else f"({answer.match!r}, {expr})")
    return sorted(imports), f"answers=[{', '.join(entries)}]"


def _step_code(step: Step) -> str:
    codes = step.expect.code_names()
    comment = f"  # expected: {' or '.join(codes)}" if codes else "  # any code"
    if step.expect.decided_by:  # the record's trace lines end with "decided by FILE:LINE ..."
        comment += f"; decided by {step.expect.decided_by}"
    match step:
        case SetItemStep(items=items):
            return "\n".join(f"t.set_item({k!r}, {v!r})" for k, v in items.items()) + comment
        case PutenvStep(entry=entry):
            return f"t.putenv({entry!r}){comment}"
        case CallStep(function=function, flags=flags):
            names = "|".join(flag_names(flags))
            argument = repr(names) if names else ""
            return f"t.{function.short}({argument}){comment}"


def lesson_notebook(profile: Profile) -> dict[str, Any]:
    """The notebook for one profile (with or without a ``lesson`` section)."""
    title = profile.display_title
    kind, where = _config(profile)
    service, user = profile.service, profile.user
    source_args = {"lab": ", lab=True", "system": "", "directory": ", confdir=confdir"}.get(
        kind, ", confdir=confdir"
    )
    cells = [markdown_cell(f"# {md(title)}\n\n{md(profile.description or '')}")]
    lesson = profile.lesson
    if lesson is not None:
        cells.append(markdown_cell(f"## Question\n\n{md(lesson.question)}"))
    about = {
        "lab": "the bundled lab (a private copy, removed afterwards)",
        "system": "this system's own configuration",
        "directory": f"the directory `{md(str(where))}`",
        "inline": "service files written by the first cell into a temporary directory",
    }[kind]
    cells.append(
        markdown_cell(
            f"Service `{md(service)}` from {about}, "
            + (f"user `{md(user)}`. " if user else "no user given to pam_start. ")
            + "Run the cells in order; each call shows its return code."
        )
    )
    setup = ["import pamexplorer"]
    if kind == "directory":
        setup.append(f"confdir = {str(where)!r}")
    elif kind == "inline":
        setup += ["import pathlib", "import tempfile", "", "confdir = tempfile.mkdtemp()"]
        for name, text in where.items():
            setup.append(f"pathlib.Path(confdir, {name!r}).write_text({text!r})")
    setup += ["", f"pamexplorer.show({service!r}{source_args})"]
    cells.append(code_cell("\n".join(setup)))

    imports, answers = _answers_code(profile)
    extra = "".join(
        f", {key}={value!r}"
        for key, value in (("items", dict(profile.items)), ("env", dict(profile.env)))
        if value
    )
    opening = [
        *imports,
        *([""] if imports else []),
        f"t = pamexplorer.open({service!r}, {user!r}{source_args}{extra}"
        f"{', ' + answers if answers else ''})",
        "t.start_record",
    ]
    cells.append(code_cell("\n".join(opening)))
    cells += [code_cell(_step_code(step)) for step in profile.steps]
    cells.append(code_cell("t.close()\nt"))
    if lesson is not None and lesson.hints:
        hints = "\n".join(f"- {md(h)}" for h in lesson.hints)
        cells.append(markdown_cell(f"## Hints\n\n{hints}"))
    if lesson is not None and lesson.explanation:
        cells.append(markdown_cell(f"## Explanation\n\n{md(lesson.explanation)}"))
    cells.append(
        markdown_cell(
            "## Explore\n\nThe same service in the widget explorer: press the calls in any "
            "order, answer prompts in the fields that appear, and compare the codes."
        )
    )
    explorer = f"Explorer(service={service!r}, user={user!r}{source_args})"
    cells.append(code_cell(f"from pamexplorer.notebook import Explorer\n\n{explorer}"))
    return notebook(cells)
