"""Picker, code reference, command palette, profiles: behaviour with Pilot, real libpam."""

from __future__ import annotations

import re
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import DataTable, Input, OptionList

from pamexplorer.pam.codes import Code
from pamexplorer.profile import resolve
from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.codes import CodeReferenceScreen
from pamexplorer.tui.screens.picker import PickerScreen
from pamexplorer.tui.screens.profile import ProfileScreen
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.timeline import render_entry
from tests.conftest import ServiceDirFactory
from tests.tui.conftest import explorer, screen_text, transaction_screen, wait_until


async def test_picker_filters_previews_and_opens(service_dir: ServiceDirFactory) -> None:
    confdir = service_dir(
        {
            "alpha": "auth required pam_permit.so\n",
            "beta": "auth requisite pam_deny.so\naccount include alpha\n",
        }
    )
    app = explorer(confdir, None)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, PickerScreen)
        services = app.screen.query_one("#services", OptionList)
        names = [o.id for o in services.options if o.id]
        assert any(n.endswith(":alpha") for n in names)
        assert any(n.endswith(":lab-login") for n in names)  # the lab is its own group
        await pilot.press(*"beta")
        names = [o.id for o in services.options if o.id]
        assert [n.split(":", 1)[1] for n in names] == ["beta"]
        # The preview is read in a thread: line 1, the control, the module, on one line.
        await wait_until(pilot, lambda: "pam_deny.so" in screen_text(app), "the preview")
        assert re.search(r"1\s+requisite\s+pam_deny\.so", screen_text(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TransactionScreen), "opened")
        screen = transaction_screen(app)
        assert screen.service == "beta" and screen.confdir == confdir
        await pilot.press("a")
        await wait_until(pilot, lambda: not screen.busy and screen.timeline.entries, "a call")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        last = screen.timeline.entries[-1].record
        assert last is not None and last.name == "PAM_AUTH_ERR"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PickerScreen), "back")


async def test_code_reference_lists_all_32_codes_with_live_text() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, CodeReferenceScreen), "codes")
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(Code) == 32
        await pilot.press(*["down"] * 19)
        shown = screen_text(app)
        assert "PAM_CONV_ERR (19)" in shown
        assert "Conversation error" in shown  # pam_strerror, read from libpam
        assert "Usual causes" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PickerScreen), "back")


async def test_every_transaction_key_is_in_the_command_palette(
    service_dir: ServiceDirFactory,
) -> None:
    confdir = service_dir({"svc": "auth required pam_permit.so\n"})
    app = explorer(confdir, "svc")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        titles = [c.title for c in app.get_system_commands(screen)]
        for action in (
            "New",
            "Auth",
            "Acct",
            "Cred",
            "Open",
            "Close",
            "Passwd",
            "End",
            "Flags",
            "Items",
            "Env",
            "User",
            "Back",
            "Codes",
            "Quit",
            "Theme",
        ):
            assert any(t.startswith(action) for t in titles), action
        # Running a command from the palette performs the action.
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "palette")
        await pilot.press(*"Auth (a)")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen, "palette closed")
        assert isinstance(screen, TransactionScreen)
        await wait_until(
            pilot,
            lambda: not screen.busy and len(screen.timeline.entries) >= 2,
            "pam_authenticate from the palette",
        )
        last = screen.timeline.entries[-1].record
        assert last is not None and last.function == "pam_authenticate"


async def test_user_can_be_changed(service_dir: ServiceDirFactory) -> None:
    confdir = service_dir({"svc": "auth required pam_succeed_if.so user = bob\n"})
    app = explorer(confdir, "svc", user="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: not screen.busy and screen.timeline.entries, "call")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert screen.timeline.entries[-1].record.name == "PAM_AUTH_ERR"  # type: ignore[union-attr]
        await pilot.press("u")
        await wait_until(pilot, lambda: app.screen is not screen, "the user modal")
        app.screen.query_one(Input).value = "bob"
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: (
                "pam_set_item(PAM_USER"
                in "\n".join(render_entry(e, True).plain for e in screen.timeline.entries)
            ),
            "pam_set_item",
        )
        await pilot.press("a")
        await wait_until(
            pilot,
            lambda: (
                screen.timeline.entries[-1].record is not None
                and screen.timeline.entries[-1].record.function == "pam_authenticate"
                and not screen.busy
            ),
            "second call",
        )
        last = screen.timeline.entries[-1].record
        assert last is not None and last.name == "PAM_SUCCESS" and last.items["user"] == "bob"


async def test_a_lesson_runs_step_by_step_with_hints_and_explanation() -> None:
    path = resolve("lab-setcred")
    app = PamExplorerApp(LaunchOptions(profile=str(path), stable=True))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProfileScreen)
        assert screen.profile is not None and screen.profile.lesson is not None
        lesson = screen.profile.lesson
        assert "Why does" in screen_text(app)
        assert lesson.hints[0][:30] not in screen_text(app)
        await pilot.press("h")
        assert "Hint 1" in screen_text(app)
        assert "Explanation" not in screen_text(app)
        await pilot.press("s")  # pam_start
        await wait_until(
            pilot, lambda: not screen.busy and screen.results[0] is not None, "pam_start"
        )
        await pilot.press("s")  # authenticate (the scripted answer)
        await wait_until(
            pilot, lambda: not screen.busy and screen.results[1] is not None, "authenticate"
        )
        assert not screen.finished
        assert screen.results[1].name == "PAM_SUCCESS" and screen.results[1].ok  # type: ignore[union-attr]
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.finished and not screen.busy, "the rest")
        assert all(r is not None and r.ok for r in screen.results)
        shown = screen_text(app)
        assert "finished: 4/4 met" in shown
        assert "Explanation" in shown
        # The lab password in the profile's answers is never on screen.
        assert "builder" not in shown


async def test_unmet_expectations_are_marked(tmp_path: Path) -> None:
    profile = tmp_path / "deny.yaml"
    profile.write_text(
        "name: expects the impossible\n"
        "service: svc\n"
        "config:\n"
        "  svc: |\n"
        "    auth required pam_deny.so\n"
        "    account required pam_permit.so\n"
        "steps:\n"
        "  - authenticate\n"
        "  - acct_mgmt\n"
    )
    app = PamExplorerApp(LaunchOptions(profile=str(profile), stable=True))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProfileScreen)
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.finished and not screen.busy, "the run")
        assert [r.ok for r in screen.results if r] == [True, False, True]
        shown = screen_text(app)
        assert "unmet" in shown
        assert "expected PAM_SUCCESS, got PAM_AUTH_ERR (7)" in shown
        assert "finished: 2/3 met" in shown


async def test_lab_paths_show_as_the_lab_marker() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, stable=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press(*"lab-substack")
        await wait_until(pilot, lambda: "↳ substack" in screen_text(app), "the preview")
        shown = screen_text(app)
        assert "↳ substack @LAB@/pam.d/lab-common (lab-substack:2)" in shown
        assert "pamexplorer-lab-" not in shown


async def test_profile_picker_opens_a_lesson() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, stable=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.screen.query("#profiles"), "the profile list")
        profiles = app.screen.query_one("#profiles", OptionList)
        assert profiles.option_count >= 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ProfileScreen), "a profile")
        screen = app.screen
        assert isinstance(screen, ProfileScreen) and screen.profile is not None
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.query("#profiles"), "back to the list")


def test_nothing_below_the_front_ends_imports_textual() -> None:
    import ast

    package = Path(__file__).resolve().parents[2] / "pamexplorer"
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        if rel.parts[0] in ("tui", "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "textual" or n.startswith("textual.") for n in names):
                offenders.append(str(rel))
    assert offenders == []
