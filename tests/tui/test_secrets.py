"""No password appears in any rendered screen or message of the explorer."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.conversation import ConversationModal
from pamexplorer.tui.screens.profile import ProfileScreen
from pamexplorer.tui.widgets.timeline import Timeline, render_entry
from tests.conftest import ModuleFactory, ServiceDirFactory
from tests.tui.conftest import (
    SECRET,
    TALKER_SOURCE,
    explorer,
    screen_text,
    transaction_screen,
    wait_until,
)


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
        screen = transaction_screen(app)
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


#: An echo-on answer taken from the environment: a one-time code typed as the login name.
OTP = "otp-7Hq2ZkW9"


async def test_no_profile_secret_in_the_profile_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # lab-conversation: pam_get_user asks "login:" (echo on), pam_echo greets the user by
    # name (an info message while the call runs), pam_exec asks the password. The login
    # answer comes from the environment, so the runner treats it as a secret.
    monkeypatch.setenv("SECRET_OTP", OTP)
    profile = tmp_path / "otp.yaml"
    profile.write_text(
        "name: a secret login answer\n"
        "service: lab-conversation\n"
        "config: lab\n"
        "answers:\n"
        '  - match: "^login"\n'
        "    answer: {env: SECRET_OTP}\n"
        '  - match: "(?i)password"\n'
        "    answer: chocolate\n"
        "steps:\n"
        "  - authenticate\n"
    )
    app = PamExplorerApp(LaunchOptions(profile=str(profile), stable=True))
    seen: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProfileScreen)
        timeline = screen.query_one(Timeline)
        shown_live: list[str] = []
        refresh_entry = timeline.refresh_entry

        def spy(index: int) -> None:  # what a running entry shows as messages arrive
            refresh_entry(index)
            shown_live.append(render_entry(timeline.entries[index], True).plain)
            seen.append(screen_text(app))

        timeline.refresh_entry = spy  # type: ignore[method-assign]
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.finished and not screen.busy, "the run")
        seen.append(screen_text(app))
        entries = list(timeline.entries)
        records = [repr(e.record) for e in entries]
        rendered = [render_entry(e, stable).plain for e in entries for stable in (True, False)]
        results = [repr(r) for r in screen.results]
    for text in seen + shown_live + records + rendered + results:
        assert OTP not in text
    # The secret really reached libpam and came back: the greeting and the echo-on answer.
    assert any("Hello ********" in text for text in rendered)
    assert any("Hello ********" in text for text in shown_live)
    assert any("login: ********" in text for text in rendered)
