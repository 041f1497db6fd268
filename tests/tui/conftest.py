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
from pamexplorer.tui.screens.transaction import TransactionScreen

#: A module that talks: an info message (with markup-looking text), then an echo-off prompt
#: written like sudo's; it succeeds only for the right answer and passes conversation errors on.
TALKER_SOURCE = r"""
#include <string.h>
#include <stdlib.h>
#include <dlfcn.h>
/* The fixture does not link the module against libpam, and the engine loads libpam without
   RTLD_GLOBAL, so pam_get_item is looked up in the already loaded libpam. */
typedef int (*get_item_fn)(const pam_handle_t *, int, const void **);
static int say(pam_handle_t *pamh, int style, const char *text, char **answer) {
    const struct pam_conv *conv = NULL;
    void *lib = dlopen("libpam.so.0", RTLD_NOW | RTLD_NOLOAD);
    get_item_fn get_item = lib ? (get_item_fn)dlsym(lib, "pam_get_item") : NULL;
    if (!get_item || get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || !conv)
        return 19;
    struct pam_message msg = { style, text };
    const struct pam_message *msgs[1] = { &msg };
    struct pam_response *resp = NULL;
    int rc = conv->conv(1, msgs, &resp, conv->appdata_ptr);
    if (rc != PAM_SUCCESS) return rc;
    if (answer && resp) { *answer = resp[0].resp; resp[0].resp = NULL; }
    if (resp) { free(resp[0].resp); free(resp); }
    return PAM_SUCCESS;
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    char *answer = NULL;
    int rc = say(pamh, PAM_TEXT_INFO, "Welcome [bold]stranger[/bold]", NULL);
    if (rc != PAM_SUCCESS) return rc;
    rc = say(pamh, PAM_PROMPT_ECHO_OFF, "[sudo] password for alice:", &answer);
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

SEGV_SOURCE = r"""
#include <stdio.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    volatile int *p = (int *)0;
    printf("about to dereference NULL\n");
    fflush(stdout);
    return *p;
}
"""

HANG_SOURCE = r"""
#include <unistd.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    for (;;) pause();
    return 0;
}
"""


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
    service_dir: Callable[[dict[str, str]], Path],
    c_module: Callable[[str, str], Path],
    more_rules: str = "",
) -> PamExplorerApp:
    """The explorer on service ``hang``, whose pam_authenticate never returns."""
    hang = c_module("hang", HANG_SOURCE)
    return explorer(service_dir({"hang": f"auth required {hang}\n{more_rules}"}), "hang")


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
