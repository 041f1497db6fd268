"""Looks: the main screens at 80x24 and 120x36 (stable mode: no durations, no temp paths)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from pamexplorer.profile import resolve
from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screenshots import (
    fail_a_call,
    inspect_a_rule,
    open_a_prompt,
    run_a_lesson,
    show_codes,
)

SIZES = [(80, 24), (120, 36)]


async def lab_picker(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    await pilot.press(*"lab-re")
    await pilot.pause()


SCENES: dict[str, tuple[Callable[[], LaunchOptions], Callable[..., Awaitable[None]]]] = {
    "picker": (lambda: LaunchOptions(lab=True, stable=True), lab_picker),
    "failed-call": (
        lambda: LaunchOptions(lab=True, service="lab-login", user="alice", stable=True),
        fail_a_call,
    ),
    "conversation": (
        lambda: LaunchOptions(lab=True, service="lab-login", user="alice", stable=True),
        open_a_prompt,
    ),
    "codes": (lambda: LaunchOptions(lab=True, stable=True), show_codes),
    "lesson": (
        lambda: LaunchOptions(profile=str(resolve("lab-setcred")), stable=True),
        run_a_lesson,
    ),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_screen_snapshot(snap_compare: Any, scene: str, size: tuple[int, int]) -> None:
    make_options, script = SCENES[scene]
    app = PamExplorerApp(make_options())

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.pause()
        await script(app, pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_traced_rule_snapshot(snap_compare: Any) -> None:
    """At 80x24: after a failed login, the stack's codes and actions, the deciding rule marked,
    the rule not run dimmed, and the first rule's invocation with its log line."""
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-login", user="alice", stable=True))

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.pause()
        await inspect_a_rule(app, pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
