"""Placeholder: registers nothing yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any, parser: argparse.ArgumentParser) -> None:
    return None
