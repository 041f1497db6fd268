"""Helpers for the notebook tests: run a notebook in a kernel, read what its cells showed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[2]


def repo_env() -> dict[str, str]:
    """This process's environment with this checkout first on ``PYTHONPATH``: a child
    (a kernel, a Jupyter server, ``python -m pamexplorer``) imports this tree's pamexplorer."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def run_notebook(km: Any, nb: Any, *, store_widget_state: bool = False) -> Any:
    """Execute every cell of ``nb`` (a NotebookNode) in ``km``'s kernel; errors raise."""
    client = nbclient.NotebookClient(nb, km=km, timeout=120, store_widget_state=store_widget_state)
    client.execute()
    return nb


def read_notebook(source: str | Path) -> Any:
    text = Path(source).read_text() if isinstance(source, Path) else source
    return nbformat.reads(text, as_version=4)


def cell_text(cell: Any) -> str:
    """What a code cell showed, as text: streams and the text/plain of results."""
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] in ("execute_result", "display_data"):
            parts.append(output["data"].get("text/plain", ""))
        elif output["output_type"] == "error":
            parts.append(f"ERROR {output['ename']}: {output['evalue']}")
    return "".join(parts)


def cell_html(cell: Any) -> str:
    return "".join(
        o["data"].get("text/html", "")
        for o in cell.get("outputs", [])
        if o["output_type"] in ("execute_result", "display_data")
    )


def has_widget(cell: Any) -> bool:
    return any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        for o in cell.get("outputs", [])
    )


def dump(nb: Any) -> str:
    return json.dumps(nb, indent=1)
