"""The terminal belongs to the user: text a module, a service file or a file name sends (OSC 52
clipboard writes, title changes, a cleared screen, BEL, C1 controls) shows escaped in every
widget and never reaches the terminal raw."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import Input

from pamexplorer.tui.screens.conversation import ConversationModal
from pamexplorer.tui.screens.environment import EnvironmentModal
from pamexplorer.tui.screens.items import ItemsModal
from pamexplorer.tui.screens.picker import PickerScreen
from tests.conftest import ModuleFactory, ServiceDirFactory
from tests.ptyread import read_until
from tests.tui.conftest import explorer, opened, screen_text, wait_until

#: The clipboard write a hostile module sends: "pwned", base64.
OSC52 = "\x1b]52;c;cHduZWQ=\x07"
TITLE = "\x1b]0;owned-title\x07"
CLEAR = "\x1b[2J"
C1 = "\u009b31m"

#: Sends every kind of sequence through every channel a module has: an info and an error
#: message, a prompt, its stdout, the PAM environment and an item; then fails.
HOSTILE_SOURCE = r"""
#include <stdio.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    printf("out \033]52;c;cHduZWQ=\007 \033]0;owned-title\007\n");
    fflush(stdout);
    converse_one(pamh, PAM_TEXT_INFO, "info \033]52;c;cHduZWQ=\007 \033[2J bell\007", NULL);
    converse_one(pamh, PAM_ERROR_MSG, "error \033]0;owned-title\007 \302\23331m", NULL);
    pam_putenv(pamh, "EVIL=\033]52;c;cHduZWQ=\007");
    pam_set_item(pamh, 4 /* PAM_RHOST */, "host\033]0;owned-title\007");
    if (converse_one(pamh, PAM_PROMPT_ECHO_ON, "prompt \033]52;c;cHduZWQ=\007:", NULL) != 0)
        return 19;
    return 7;
}
"""


def hostile_dir(service_dir: ServiceDirFactory, c_module: ModuleFactory) -> Path:
    module = c_module("hostile", HOSTILE_SOURCE)
    confdir = service_dir({"evil": f"auth required {module} arg\x1b]0;owned-title\x07\n"})
    # pam_start lowercases service names, so only a lowercase file name is a service.
    (confdir / "named\x1b[2kx").write_text("auth required pam_permit.so\n")
    return confdir


def raw(text: str) -> bool:
    """The text holds a control sequence an attacker sent (not its escaped form)."""
    return any(seq in text for seq in ("\x1b]", "\x1b[2J", "\x07", "\u009b"))


async def test_module_and_file_text_shows_escaped_everywhere(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    app = explorer(hostile_dir(service_dir, c_module), "evil")
    async with app.run_test(size=(160, 50)) as pilot:
        screen, stack = await opened(pilot, app)
        stack.focus()
        stack.highlighted = 1  # the rule: the detail pane shows it whole
        await pilot.pause()
        assert "arg\\x1b]0;owned-title\\x07" in screen_text(app)
        assert not raw(screen_text(app))
        await pilot.press("tab")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "the prompt")
        shown = screen_text(app)
        assert "prompt \\x1b]52;c;cHduZWQ=\\x07:" in shown
        assert not raw(shown)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.busy and screen.session, "the call")
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "info \\x1b]52;c;cHduZWQ=\\x07 \\x1b[2J bell\\x07" in shown
        assert "error \\x1b]0;owned-title\\x07 \\x9b31m" in shown
        assert "out \\x1b]52;c;cHduZWQ=\\x07" in shown
        assert "EVIL=\\x1b]52;c;cHduZWQ=\\x07" in shown  # the detail pane's environment
        assert "host\\x1b]0;owned-title\\x07" in shown  # and its items
        assert not raw(shown)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EnvironmentModal), "env")
        assert "EVIL=\\x1b]52;c;cHduZWQ=\\x07" in screen_text(app)
        assert not raw(screen_text(app))
        await pilot.press("escape", "i")
        await wait_until(pilot, lambda: isinstance(app.screen, ItemsModal), "items")
        rhost = app.screen.query_one("#item-rhost", Input).value
        assert rhost == "host\\x1b]0;owned-title\\x07"
        assert not raw(screen_text(app))
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PickerScreen), "the picker")
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "named\\x1b[2kx" in shown
        assert not raw(shown)


def test_the_terminal_never_receives_a_modules_sequences(
    tmp_path: Path, service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    """The real app on a pseudo-terminal: everything it writes, read back byte for byte."""
    confdir = hostile_dir(service_dir, c_module)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="40", PYTHONPATH=str(root))
    env.pop("TEXTUAL", None)
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "pamexplorer", "--confdir", str(confdir), "--service", "evil"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        cwd=tmp_path,
    )
    os.close(slave)
    seen = bytearray()
    try:
        read_until(master, b"no transaction", seen, timeout=60)
        os.write(master, b"a")
        # the prompt, escaped, in the conversation modal
        read_until(master, b"cHduZWQ=\\x07:", seen, timeout=60)
        os.write(master, b"\r")
        read_until(master, b"PAM_AUTH_ERR", seen, timeout=60)
        read_until(master, b"x1b[2J bell", seen, timeout=60)
        os.write(master, b"q")
        deadline = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:  # keep the pty drained
            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        assert child.wait(timeout=5) == 0
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        os.close(master)
    assert b"\x1b]52;c;cHduZWQ" not in seen
    assert b"owned-title\x07" not in seen
    assert b"\x1b]0;owned" not in seen
    assert "\u009b31m".encode() not in seen
