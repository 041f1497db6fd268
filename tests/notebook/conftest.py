"""Fixtures for the notebook face: a real Jupyter kernel shared by a test module.

Notebooks run headless through nbclient on a real ipykernel (one kernel shared by the module's
tests, so twenty lesson notebooks cost seconds, not minutes); every call reaches real libpam
through the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ipywidgets", reason="the jupyter extra is not installed")
pytest.importorskip("nbformat", reason="nbformat is not installed")
pytest.importorskip("nbclient", reason="nbclient is not installed")

from tests.notebook.nbkit import repo_env


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running python3 kernel whose ``pamexplorer`` is this checkout's."""
    from jupyter_client.manager import KernelManager

    cwd = tmp_path_factory.mktemp("kernel-cwd")
    env = repo_env()
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(cwd), env=env)
    try:
        yield km
    finally:
        km.shutdown_kernel(now=True)
