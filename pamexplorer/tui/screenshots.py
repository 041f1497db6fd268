"""``pamexplorer screenshots [DIR]``: the README's SVGs, made by driving the real app.

Each picture is a real run (real libpam through the engine, the bundled lab) in stable mode
(no temporary paths, no blinking cursor), with the calls' real durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from pamexplorer.tui.app import LaunchOptions, PamExplorerApp

SIZE = (100, 30)
Script = Callable[[PamExplorerApp, Pilot[int]], Awaitable[None]]


async def settle(pilot: Pilot[int], done: Callable[[], object], tries: int = 400) -> None:
    """Let the app work until ``done()`` holds (a call finished, a modal opened)."""
    for _ in range(tries):
        if done():
            break
        await pilot.pause(0.05)
    # Let layout and scrolling catch up with the last entry before a picture is taken.
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)
    await pilot.pause()


def _busy(app: PamExplorerApp) -> bool:
    from pamexplorer.tui.screens.profile import ProfileScreen
    from pamexplorer.tui.screens.transaction import TransactionScreen

    screen = app.screen
    return isinstance(screen, TransactionScreen | ProfileScreen) and screen.busy


async def show_picker(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    await pilot.press(*"login")
    await pilot.press("down")
    await pilot.pause()


async def fail_a_call(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    from pamexplorer.tui.screens.conversation import ConversationModal

    await pilot.press("a")
    await settle(pilot, lambda: isinstance(app.screen, ConversationModal))
    await pilot.press(*"not-the-password", "enter")
    await settle(pilot, lambda: not isinstance(app.screen, ConversationModal) and not _busy(app))


async def inspect_a_rule(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    """A failed login, then the stack's first rule that ran: what its module returned, what
    libpam did with it, what it logged."""
    from pamexplorer.tui.widgets.stack_view import StackView

    await fail_a_call(app, pilot)
    stack = app.screen.query_one(StackView)
    stack.focus()
    traced = [i for i, t in enumerate(stack.option_traces) if t is not None and t.ran]
    if traced:
        stack.highlighted = traced[0]
    await settle(pilot, lambda: True)


async def open_a_prompt(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    from pamexplorer.tui.screens.conversation import ConversationModal

    await pilot.press("a")
    await settle(pilot, lambda: isinstance(app.screen, ConversationModal))
    await pilot.press(*"secret")


async def show_codes(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    app.action_codes(7)
    await pilot.pause()


async def run_a_lesson(app: PamExplorerApp, pilot: Pilot[int]) -> None:
    await pilot.press("h", "r")
    from pamexplorer.tui.screens.profile import ProfileScreen

    def finished() -> bool:
        screen = app.screen
        return isinstance(screen, ProfileScreen) and screen.finished and not screen.busy

    await settle(pilot, finished)


SHOTS: dict[str, tuple[LaunchOptions, Script]] = {
    "picker": (LaunchOptions(stable=True), show_picker),
    "transaction-failed": (
        LaunchOptions(lab=True, service="lab-login", stable=True, durations=True),
        fail_a_call,
    ),
    "transaction-trace": (
        LaunchOptions(lab=True, service="lab-login", stable=True, durations=True),
        inspect_a_rule,
    ),
    "conversation": (
        LaunchOptions(lab=True, service="lab-login", stable=True, durations=True),
        open_a_prompt,
    ),
    "codes": (LaunchOptions(stable=True, lab=True), show_codes),
    "lesson": (LaunchOptions(profile="lab-setcred", stable=True, durations=True), run_a_lesson),
}


async def _shoot(name: str, directory: Path) -> Path:
    options, script = SHOTS[name]
    if options.profile is not None:
        from pamexplorer.profile import resolve

        options = LaunchOptions(profile=str(resolve(options.profile)), stable=True, durations=True)
    app = PamExplorerApp(options)
    target = directory / f"{name}.svg"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await script(app, pilot)
        await pilot.pause()
        target.write_text(app.export_screenshot(title=f"pamexplorer: {name}"))
    return target


def write_screenshots(directory: Path | str = "screenshots") -> list[Path]:
    """Render every screenshot into ``directory``; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    async def all_shots() -> list[Path]:
        return [await _shoot(name, out) for name in SHOTS]

    return asyncio.run(all_shots())
