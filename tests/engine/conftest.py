"""Engine test setup: the ``soak`` marker, an engine with a warm fork server, and the compiled
fault modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pamexplorer.engine import Engine
from tests.engine.engine_csrc import FAULTS, HOSTILE, PASSWORD

ModuleFactory = Callable[[str, str], Path]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: long-running leak checks (run in CI; deselect with -m 'not soak')"
    )


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine whose fork server is up (a generous timeout: no test here waits for it)."""
    Engine.prestart()
    yield Engine(timeout=60)


@pytest.fixture
def faults(c_module: ModuleFactory) -> Path:
    return c_module("faults", FAULTS)


@pytest.fixture
def password_module(c_module: ModuleFactory) -> Path:
    return c_module("password", PASSWORD)


@pytest.fixture
def hostile(c_module: ModuleFactory) -> Path:
    return c_module("hostile", HOSTILE)
