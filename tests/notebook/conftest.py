"""Fixtures for the notebook face: a real Jupyter kernel, fault modules, the Explorer's waits.

Notebooks run headless through nbclient on a real ipykernel (one kernel shared by the module's
tests, so twenty lesson notebooks cost seconds, not minutes); every call reaches real libpam
through the engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets", reason="the jupyter extra is not installed")
nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running python3 kernel whose ``pamexplorer`` is this checkout's."""
    from jupyter_client.manager import KernelManager

    cwd = tmp_path_factory.mktemp("kernel-cwd")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(cwd), env=env)
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)


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
