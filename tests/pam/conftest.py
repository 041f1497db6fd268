"""C test modules shared by the pam/ tests (built with the ``c_module`` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pam.pam_csrc import FLAG_SPY

ModuleFactory = Callable[[str, str], Path]


@pytest.fixture
def flag_spy(c_module: ModuleFactory) -> Path:
    return c_module("flagspy", FLAG_SPY)
