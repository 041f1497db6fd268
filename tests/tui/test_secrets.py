"""No password appears in any rendered screen or message of the explorer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import OptionList

from pamexplorer.tui.screens.conversation import ConversationModal
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.timeline import render_entry
from tests.tui.conftest import SECRET, TALKER_SOURCE, explorer, screen_text, wait_until

ModuleFactory = Callable[[str, str], Path]
ServiceDirFactory = Callable[[dict[str, str]], Path]


async def test_no_password_in_any_screen_or_message(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    talker = c_module("talker", TALKER_SOURCE)
    # pam_exec runs `env` after authentication: it would show a password leaked into the
    # environment; pam_echo shows the items a module can read (%u user, %h rhost, %t tty).
    confdir = service_dir(
        {
            "talk": f"auth required {talker}\n"
            "auth optional pam_echo.so user=%u host=%h tty=%t\n"
            "session optional pam_exec.so stdout /usr/bin/env\n"
            "session required pam_permit.so\n",
        }
    )
    app = explorer(confdir, "talk")
    seen: list[str] = []
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, TransactionScreen)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "a prompt")
        for char in SECRET:
            await pilot.press(char)
            seen.append(screen_text(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.busy, "authenticate")
        await pilot.press("o")
        await wait_until(pilot, lambda: not screen.busy, "open_session")
        assert screen.timeline.entries[-1].record is not None
        assert screen.timeline.entries[-1].record.name == "PAM_SUCCESS"
        # Every entry of the timeline, selected in turn (the detail pane shows items and env).
        timeline = screen.query_one("#timeline", OptionList)
        timeline.focus()
        for index in range(len(screen.timeline.entries)):
            timeline.highlighted = index
            await pilot.pause()
            seen.append(screen_text(app))
        for key in ("i", "v", "f", "question_mark"):
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is not screen, f"the {key} screen")
            seen.append(screen_text(app))
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen, "back")
        messages = [
            render_entry(e, stable).plain
            for e in screen.timeline.entries
            for stable in (True, False)
        ]
        records = [repr(e.record) for e in screen.timeline.entries]
        notifications = [str(n.message) for n in app._notifications]
    assert seen and messages
    for text in seen + messages + records + notifications:
        assert SECRET not in text
    # The call really got the answer: the prompt was answered and authentication succeeded.
    assert any("PAM_SUCCESS" in m and "pam_authenticate" in m for m in messages)
