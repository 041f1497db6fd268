"""Leaving a screen or quitting ends an idle transaction with pam_end (modules' data cleanups
run); only a call in flight is killed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.profile import ProfileScreen
from tests.conftest import ModuleFactory, ServiceDirFactory
from tests.tui.conftest import (
    call_until_in_flight,
    explorer,
    hang_explorer,
    transaction_screen,
    wait_until,
)

#: pam_authenticate leaves data on the handle; pam_end runs its cleanup, which writes the file
#: named by the module's argument. The file exists only if pam_end ran.
MARKER_SOURCE = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
extern int pam_set_data(pam_handle_t *, const char *, void *,
                        void (*)(pam_handle_t *, void *, int));
static void cleanup(pam_handle_t *pamh, void *data, int status) {
    int fd = open((const char *)data, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) { (void)write(fd, "pam_end\n", 8); close(fd); }
    free(data);
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    if (argc < 1) return 3; /* PAM_SERVICE_ERR */
    char *path = strdup(argv[0]);
    if (!path) return 5; /* PAM_BUF_ERR */
    return pam_set_data(pamh, "marker", path, cleanup);
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    return PAM_SUCCESS;
}
"""


def marker_service(c_module: ModuleFactory, marker: Path) -> str:
    module = c_module("marker", MARKER_SOURCE)
    return f"auth required {module} {marker}\naccount required pam_permit.so\n"


def marked_explorer(
    service_dir: ServiceDirFactory, c_module: ModuleFactory, marker: Path
) -> PamExplorerApp:
    confdir = service_dir({"marked": marker_service(c_module, marker)})
    return explorer(confdir, "marked")


async def test_quitting_ends_an_idle_transaction(
    tmp_path: Path, service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    marker = tmp_path / "ended"
    app = marked_explorer(service_dir, c_module, marker)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.session is not None and not screen.busy, "auth")
        assert screen.timeline.entries[-1].record is not None
        assert screen.timeline.entries[-1].record.name == "PAM_SUCCESS"
        assert not marker.exists()
        await pilot.press("q")
    assert marker.read_text() == "pam_end\n"


async def test_leaving_ends_an_idle_transaction(
    tmp_path: Path, service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    marker = tmp_path / "ended"
    app = marked_explorer(service_dir, c_module, marker)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.session is not None and not screen.busy, "auth")
        assert not marker.exists()
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not screen, "back to the picker")
        await wait_until(pilot, marker.exists, "pam_end")


def marker_profile(tmp_path: Path, c_module: ModuleFactory, marker: Path) -> Path:
    service = marker_service(c_module, marker)
    profile = tmp_path / "marked.yaml"
    profile.write_text(
        "name: leaves data on the handle\n"
        "service: marked\n"
        "config:\n"
        "  marked: |\n" + "".join(f"    {line}\n" for line in service.splitlines()) + "steps:\n"
        "  - authenticate\n"
        "  - acct_mgmt\n"
    )
    return profile


async def run_one_step(app: PamExplorerApp, pilot: Pilot[Any]) -> ProfileScreen:
    screen = app.screen
    assert isinstance(screen, ProfileScreen)
    await pilot.press("s")
    await wait_until(pilot, lambda: not screen.busy and screen.results[0] is not None, "start")
    await pilot.press("s")  # authenticate; acct_mgmt is left
    await wait_until(pilot, lambda: not screen.busy and screen.results[1] is not None, "auth")
    assert screen.results[1] is not None and screen.results[1].name == "PAM_SUCCESS"
    assert screen.run is not None and not screen.finished
    return screen


async def test_profile_back_restart_and_quit_end_the_transaction(
    tmp_path: Path, c_module: ModuleFactory
) -> None:
    for way in ("escape", "n", "q"):
        marker = tmp_path / f"ended-{way}"
        profile = marker_profile(tmp_path, c_module, marker)
        app = PamExplorerApp(LaunchOptions(profile=str(profile), stable=True))
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await run_one_step(app, pilot)
            assert not marker.exists()
            await pilot.press(way)
            if way != "q":
                await wait_until(pilot, marker.exists, f"pam_end after {way}")
                assert screen.run is None
        assert marker.read_text() == "pam_end\n", way


def gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.parametrize("key", ["escape", "q"])
async def test_leaving_or_quitting_during_a_hung_call_kills_it(
    key: str, service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    """escape leaves the screen, q quits the app: either kills the call in flight at once."""
    app = hang_explorer(service_dir, c_module)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await call_until_in_flight(pilot, screen, "a", "pam_authenticate")
        assert screen.session is not None
        pid = screen.session.pid
        assert pid is not None and not gone(pid)
        await pilot.press(key)
        if key == "escape":
            await wait_until(pilot, lambda: gone(pid), "the hung child killed")
            assert screen.session is None
    assert gone(pid)
