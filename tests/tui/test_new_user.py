"""What new users tripped on (issue 11): the lab's user, a footer that fits, the stack at 80
columns, the environment after pam_putenv, the items dialog, the timeline between
transactions, the lesson's stack and hints; and a module that floods the conversation."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

from pamexplorer.profile import resolve
from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.environment import EnvironmentModal
from pamexplorer.tui.screens.items import ItemsModal
from pamexplorer.tui.screens.picker import PickerScreen
from pamexplorer.tui.screens.profile import ProfileScreen
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.call_detail import render_detail
from pamexplorer.tui.widgets.timeline import MESSAGES_SHOWN, render_entry
from tests.conftest import ModuleFactory, ServiceDirFactory
from tests.tui.conftest import (
    call_until_in_flight,
    explorer,
    lesson_stack,
    opened,
    screen_text,
    transaction_screen,
    wait_until,
)


async def test_the_lab_starts_as_alice_and_says_how_to_switch() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-login", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        assert screen.user == "alice"
        assert "user alice (u changes)" in screen_text(app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PickerScreen), "the picker")
        await pilot.press(*"lab-login", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TransactionScreen), "opened")
        assert transaction_screen(app).user == "alice"


def footer_fits(app: PamExplorerApp) -> list[str]:
    """Footer keys cut off or under the docked palette key (the ``palettea`` glitch)."""
    footer = app.screen.query_one(Footer)
    keys = list(footer.query(FooterKey))
    palette = [k for k in keys if k.has_class("-command-palette")]
    right = palette[0].region.x if palette else footer.region.right
    return [k.description or k.key for k in keys if k not in palette and k.region.right > right]


async def test_footers_fit_80_and_100_columns() -> None:
    lesson = str(resolve("lab-setcred"))
    for width in (80, 100):
        for options in (
            LaunchOptions(lab=True, service="lab-login", stable=True),
            LaunchOptions(profile=lesson, stable=True),
            LaunchOptions(lab=True, stable=True),
        ):
            app = PamExplorerApp(options)
            async with app.run_test(size=(width, 24)) as pilot:
                await pilot.pause(0.2)
                assert footer_fits(app) == [], (width, type(app.screen).__name__)


async def test_the_stack_at_80_columns_shows_jumps_the_dash_and_the_whole_rule() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-jumps", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        _, stack = await opened(pilot, app)
        shown = screen_text(app)
        assert "succ→5" in shown  # line 2's success=2 lands on line 5
        rows = [r for r in stack.option_rows if r is not None]
        assert [r.short_control for r in rows[:2]] == ["succ→5", "succ→5"]
        stack.focus()
        stack.highlighted = stack.option_rows.index(rows[0])
        await pilot.pause()
        shown = screen_text(app)
        assert "Selected rule" in shown
        assert "success: skip 2 → line 5" in shown
        assert "auth [success=2 default=ignore]" in shown
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-missing", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        _, stack = await opened(pilot, app)
        assert "-required" in screen_text(app).replace(" ", "")
        rows = [r for r in stack.option_rows if r is not None]
        assert rows[0].quiet and rows[0].type_token == "-auth"


async def test_env_after_putenv_items_dialog_and_transaction_separators(
    service_dir: ServiceDirFactory,
) -> None:
    confdir = service_dir({"plain": "auth required pam_permit.so\n"})
    app = explorer(confdir, "plain")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.open and not screen.busy, "authenticate")
        assert "◀ this call" in screen_text(app)
        # pam_putenv, then v: the new value shows before any further call.
        screen.apply_env("FRUIT=apple")
        await wait_until(pilot, lambda: not screen.busy, "pam_putenv")
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentModal), "env")
        assert "FRUIT=apple" in screen_text(app)
        await pilot.press("escape")
        # Items: the first field has the focus; Tab then typing adds, it does not replace.
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ItemsModal), "items")
        modal = app.screen
        await pilot.press("x")
        assert modal.query_one("#item-user", Input).value == "alicex"
        await pilot.press("tab", "tab", "shift+tab", "y")
        assert modal.query_one("#item-tty", Input).value == "y"
        await pilot.press("escape")
        # pam_end: no "this call" marker, an explanation that is not about a verdict.
        await pilot.press("e")
        await wait_until(pilot, lambda: not screen.open and not screen.busy, "pam_end")
        assert "◀ this call" not in screen_text(app)
        end = screen.timeline.entries[-1]
        assert end.record is not None and end.record.function == "pam_end"
        assert "no module decides" in render_detail(end).plain
        # A second transaction is set apart from the first.
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.open and not screen.busy, "second")
        kinds = [e.kind for e in screen.timeline.entries]
        assert kinds.count("separator") == 1
        assert (
            "transaction 2"
            in render_entry(screen.timeline.entries[kinds.index("separator")], True).plain
        )


async def test_a_lesson_shows_its_stack_and_scrolls_to_a_new_hint() -> None:
    app = PamExplorerApp(LaunchOptions(profile=str(resolve("lab-setcred")), stable=True))
    async with app.run_test(size=(80, 18)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProfileScreen)
        await lesson_stack(pilot, screen)
        assert "pam_exec.so" in screen_text(app)
        await pilot.press("t", "h")
        await pilot.pause(0.3)
        lesson = screen.query_one("#lesson", VerticalScroll)
        hint = screen.query(".hint-text").last()
        assert lesson.scroll_y > 0  # the pane scrolled down to the hint
        assert lesson.region.y <= hint.region.y < lesson.region.bottom
        assert "Hint 1" in screen_text(app)


#: One conversation call with thousands of info messages (the count is the module's argument).
FLOOD_SOURCE = r"""
#include <stdlib.h>
#include <stdio.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    const struct pam_conv *conv = NULL;
    if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv) return 19;
    int count = argc > 0 ? atoi(argv[0]) : 1000;
    char text[64];
    for (int i = 0; i < count; i++) {
        snprintf(text, sizeof text, "line %d", i);
        struct pam_message msg = { PAM_TEXT_INFO, text };
        const struct pam_message *msgs[1] = { &msg };
        struct pam_response *resp = NULL;
        int rc = conv->conv(1, msgs, &resp, conv->appdata_ptr);
        if (resp) { free(resp[0].resp); free(resp); }
        if (rc != PAM_SUCCESS) return rc;
    }
    return PAM_SUCCESS;
}
"""


async def test_a_flood_of_messages_is_shown_in_part_and_the_call_can_be_aborted(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    flood = c_module("flood", FLOOD_SOURCE)
    confdir = service_dir(
        {"flood": f"auth required {flood} 3000\n", "endless": f"auth required {flood} 100000000\n"}
    )
    app = explorer(confdir, "flood")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.open and not screen.busy, "3,000 messages")
        record = screen.timeline.entries[-1].record
        assert record is not None and len(record.messages) == 3000
        shown = render_entry(screen.timeline.entries[-1], True).plain
        assert f"{3000 - MESSAGES_SHOWN:,} more messages not shown" in shown
    app = explorer(confdir, "endless")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await call_until_in_flight(pilot, screen, "a", "pam_authenticate")
        await wait_until(
            pilot, lambda: len(screen.timeline.entries[-1].live) > 2000, "messages arriving"
        )
        await pilot.press("k")
        await wait_until(pilot, lambda: not screen.busy, "the abort")
        assert screen.timeline.entries[-1].kind == "crash"
        assert "aborted" in render_entry(screen.timeline.entries[-1], True).plain
