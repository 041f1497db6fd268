"""Helpers for driving the explorer with Pilot against real transactions."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.profile import ProfileScreen
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.stack_view import StackView
from tests.conftest import HANG_SOURCE, ModuleFactory, ServiceDirFactory

#: A module that talks: an info message (with markup-looking text), then an echo-off prompt
#: written like sudo's; it succeeds only for the right answer and passes conversation errors on.
#: (``converse_one`` is the prelude's; libpam is loaded RTLD_GLOBAL, so the module finds it.)
TALKER_SOURCE = r"""
#include <string.h>
#include <stdlib.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    char *answer = NULL;
    int rc = converse_one(pamh, PAM_TEXT_INFO, "Welcome [bold]stranger[/bold]", NULL);
    if (rc != PAM_SUCCESS) return rc;
    rc = converse_one(pamh, PAM_PROMPT_ECHO_OFF, "[sudo] password for alice:", &answer);
    if (rc != PAM_SUCCESS) return rc;
    int ok = answer && strcmp(answer, "s3cret-Pass") == 0;
    free(answer);
    return ok ? PAM_SUCCESS : 7;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    return PAM_SUCCESS;
}
"""
SECRET = "s3cret-Pass"


def explorer(
    confdir: Path | None,
    service: str | None,
    user: str = "alice",
    lab: bool = False,
    profile: str | None = None,
) -> PamExplorerApp:
    return PamExplorerApp(
        LaunchOptions(
            confdir=confdir, lab=lab, service=service, user=user, profile=profile, stable=True
        )
    )


def transaction_screen(app: PamExplorerApp) -> TransactionScreen:
    """The app's screen, which a ``--service`` launch makes the transaction screen."""
    screen = app.screen
    assert isinstance(screen, TransactionScreen)
    return screen


def hang_explorer(
    service_dir: ServiceDirFactory,
    c_module: ModuleFactory,
    more_rules: str = "",
) -> PamExplorerApp:
    """The explorer on service ``hang``, whose pam_authenticate never returns."""
    hang = c_module("hang", HANG_SOURCE)
    return explorer(service_dir({"hang": f"auth required {hang}\n{more_rules}"}), "hang")


async def opened(pilot: Pilot[Any], app: PamExplorerApp) -> tuple[TransactionScreen, StackView]:
    """The transaction screen and its stack, once the stack is read."""
    screen = transaction_screen(app)
    stack = screen.query_one(StackView)
    await wait_until(pilot, lambda: stack.lines is not None, "the stack")
    return screen, stack


async def lesson_stack(pilot: Pilot[Any], screen: ProfileScreen) -> StackView:
    """Switch a lesson's pane to its stack (``t``) and wait until the stack is read."""
    await pilot.press("t")
    stack = screen.query_one("#lesson-stack", StackView)
    await wait_until(pilot, lambda: stack.lines is not None, "the lesson's stack")
    return stack


async def call_until_in_flight(
    pilot: Pilot[Any], screen: TransactionScreen, key: str, function: str
) -> None:
    """Press a call key and wait until the call is running in the engine child."""
    await pilot.press(key)
    await wait_until(pilot, lambda: screen.in_flight == function, f"{function} running")


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], object], what: str, tries: int = 600
) -> None:
    """Let the app run until ``predicate()`` holds; fail (naming ``what``) if it never does."""
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)
    pytest.fail(f"never happened: {what}")


def screen_text(app: PamExplorerApp) -> str:
    """Everything the terminal shows right now, as plain text (the SVG export, tags removed)."""
    svg = app.export_screenshot()
    body = svg[svg.index('<g class="terminal') :] if '<g class="terminal' in svg else svg
    text = re.sub(r"<[^>]+>", "", body)
    return html.unescape(text).replace("\xa0", " ")
