"""The transaction screen driving real transactions through the engine."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Input, Static

from pamexplorer.tui.screens.conversation import ConversationModal
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.timeline import render_entry
from tests.conftest import SEGV_SOURCE, ModuleFactory, ServiceDirFactory
from tests.tui.conftest import (
    SECRET,
    TALKER_SOURCE,
    call_until_in_flight,
    explorer,
    hang_explorer,
    screen_text,
    transaction_screen,
    wait_until,
)


def timeline_text(screen: TransactionScreen) -> str:
    return "\n".join(render_entry(e, True).plain for e in screen.timeline.entries)


def records(screen: TransactionScreen) -> list[tuple[str, str]]:
    return [(e.record.function, e.record.name) for e in screen.timeline.entries if e.record]


def talker_dir(service_dir: ServiceDirFactory, c_module: ModuleFactory) -> Path:
    module = c_module("talker", TALKER_SOURCE)
    return service_dir({"talk": f"auth required {module}\n"})


async def test_answering_a_prompt_authenticates_and_hides_the_password(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    app = explorer(talker_dir(service_dir, c_module), "talk")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "a prompt")
        modal = app.screen
        assert isinstance(modal, ConversationModal)
        prompt = modal.query_one("#conversation-prompt", Static)
        # Shown as written, not read as markup.
        assert "[sudo] password for alice:" in screen_text(app)
        assert isinstance(prompt.content, Text)
        assert modal.query_one(Input).password
        # The info message came before the prompt and is already in the timeline.
        assert "Welcome [bold]stranger[/bold]" in timeline_text(screen)
        await pilot.press(*SECRET)
        assert SECRET not in screen_text(app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert records(screen) == [
            ("pam_start", "PAM_SUCCESS"),
            ("pam_authenticate", "PAM_SUCCESS"),
        ]
        shown = screen_text(app)
        assert "PAM_SUCCESS (0)" in shown
        assert "********" in timeline_text(screen)
        for entry in screen.timeline.entries:
            assert SECRET not in render_entry(entry, False).plain
        assert SECRET not in shown
        assert SECRET not in repr(screen.last_record)


async def test_escape_cancels_the_prompt_and_the_module_gets_conv_err(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    app = explorer(talker_dir(service_dir, c_module), "talk")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "a prompt")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert records(screen)[-1] == ("pam_authenticate", "PAM_CONV_ERR")
        assert "PAM_CONV_ERR (19)" in timeline_text(screen)
        assert app.screen is screen


async def test_wrong_answer_shows_auth_err_with_its_explanation(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    app = explorer(talker_dir(service_dir, c_module), "talk")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "a prompt")
        await pilot.press(*"nope", "enter")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert records(screen)[-1] == ("pam_authenticate", "PAM_AUTH_ERR")
        shown = screen_text(app)
        assert "PAM_AUTH_ERR (7)" in shown
        assert "Authentication failure" in shown
        assert "Usual causes" in shown


async def test_a_crashing_module_is_reported_and_a_new_transaction_works(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    segv = c_module("segv", SEGV_SOURCE)
    confdir = service_dir({"crash": f"auth required {segv}\naccount required pam_permit.so\n"})
    app = explorer(confdir, "crash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: not screen.busy and screen.timeline.entries, "a result")
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert "SIGSEGV during pam_authenticate" in timeline_text(screen)
        assert "SIGSEGV during pam_authenticate" in screen_text(app)
        assert "about to crash" in timeline_text(screen)
        assert screen.session is None
        await pilot.press("m")  # a call key starts a new transaction when none is open
        await wait_until(pilot, lambda: not screen.busy, "the call to finish")
        assert records(screen)[-2:] == [
            ("pam_start", "PAM_SUCCESS"),
            ("pam_acct_mgmt", "PAM_SUCCESS"),
        ]
        assert app.is_running


async def test_a_hung_call_can_be_aborted(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    app = hang_explorer(service_dir, c_module, "session required pam_permit.so\n")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        await call_until_in_flight(pilot, screen, "a", "pam_authenticate")
        # The UI still answers while the module hangs: open and close the code reference.
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen is not screen, "the code reference")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "back on the transaction")
        assert screen.busy
        await pilot.press("k")
        await wait_until(pilot, lambda: not screen.busy, "the abort")
        assert "aborted" in timeline_text(screen).lower()
        await pilot.press("n")
        await wait_until(pilot, lambda: not screen.busy, "a new pam_start")
        assert records(screen)[-1] == ("pam_start", "PAM_SUCCESS")
        await pilot.press("o")
        await wait_until(pilot, lambda: not screen.busy, "pam_open_session")
        assert records(screen)[-1] == ("pam_open_session", "PAM_SUCCESS")


async def test_end_flags_items_and_environment(service_dir: ServiceDirFactory) -> None:
    confdir = service_dir(
        {
            "envsvc": "auth required pam_permit.so\n"
            "session required pam_env.so readenv=0 user_readenv=0 "
            "conffile=/dev/null\n"
            "session required pam_permit.so\n",
        }
    )
    app = explorer(confdir, "envsvc")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: not screen.busy, "pam_start")
        # Items: set tty through the modal -> pam_set_item on the open transaction.
        await pilot.press("i")
        await wait_until(pilot, lambda: app.screen is not screen, "the items modal")
        tty = app.screen.query_one("#item-tty", Input)
        tty.value = "/dev/pts/7"
        tty.focus()
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: "pam_set_item(PAM_TTY" in timeline_text(screen), "pam_set_item"
        )
        assert "PAM_SUCCESS (0)" in timeline_text(screen).splitlines()[-1]
        # Environment: pam_putenv.
        await pilot.press("v")
        await wait_until(pilot, lambda: app.screen is not screen, "the environment modal")
        await pilot.press(*"GREETING=hello", "enter")
        await wait_until(pilot, lambda: "pam_putenv" in timeline_text(screen), "pam_putenv")
        # Flags: PAM_SILENT for the next call.
        await pilot.press("f")
        await wait_until(pilot, lambda: app.screen is not screen, "the flags modal")
        await pilot.press("down", "down", "down", "down", "down", "down", "space", "enter")
        await wait_until(pilot, lambda: app.screen is screen, "back")
        assert screen.next_flags == 0x8000
        await pilot.press("o")
        await wait_until(pilot, lambda: not screen.busy, "pam_open_session")
        last = screen.timeline.entries[-1].record
        assert last is not None and last.function == "pam_open_session"
        assert last.flags == 0x8000 and last.items["tty"] == "/dev/pts/7"
        assert last.env.get("GREETING") == "hello"
        assert "GREETING=hello" in screen_text(app)
        assert screen.next_flags == 0
        await pilot.press("e")
        await wait_until(pilot, lambda: not screen.busy and screen.session is None, "pam_end")
        assert records(screen)[-1] == ("pam_end", "PAM_SUCCESS")


async def test_a_failing_pam_start_leaves_no_transaction_open(
    service_dir: ServiceDirFactory,
) -> None:
    confdir = service_dir({"present": "auth required pam_permit.so\n"})
    app = explorer(confdir, "absent")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("a")
        await wait_until(pilot, lambda: not screen.busy and screen.timeline.entries, "start")
        await wait_until(pilot, lambda: not screen.busy, "start to finish")
        assert records(screen) == [("pam_start", "PAM_ABORT")]
        assert screen.session is None
        assert "pam_start failed" in timeline_text(screen)
        assert "PAM_ABORT (26)" in screen_text(app)


def test_bad_launch_options_are_one_line_usage_errors(tmp_path: Path, capsys: object) -> None:
    from pamexplorer.cli import main

    assert main(["--confdir", str(tmp_path / "nowhere")]) == 2
    assert main(["--profile", "no-such-profile"]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: x\nsteps: 3\n")
    assert main(["--profile", str(bad)]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 3
    assert "--confdir: expected a directory" in lines[0]
    assert lines[2].startswith(f"pamexplorer: {bad}:")
    assert "Traceback" not in err


async def test_set_item_and_putenv_hold_the_session_like_a_call(
    service_dir: ServiceDirFactory,
) -> None:
    confdir = service_dir({"plain": "auth required pam_permit.so\n"})
    app = explorer(confdir, "plain")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = transaction_screen(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.session is not None and not screen.busy, "start")
        # The item is being set in the engine child: a call, pam_putenv or pam_end asked for
        # meanwhile (with no await in between) is refused, not sent on the same channel.
        screen.apply_items({"tty": "/dev/pts/7"})
        assert screen.busy and screen.in_flight == "pam_set_item"
        screen.action_call("authenticate")
        screen.apply_env("COLOR=blue")
        screen.action_end()
        await wait_until(pilot, lambda: not screen.busy, "pam_set_item")
        assert [n.message for n in app._notifications][-3:] == [
            "A call is running: wait, or press k to abort it."
        ] * 3
        assert records(screen) == [("pam_start", "PAM_SUCCESS")]
        assert "pam_set_item(PAM_TTY, '/dev/pts/7')  PAM_SUCCESS" in timeline_text(screen)
        # pam_putenv holds it too; once it is done, the call runs and sees both.
        screen.apply_env("COLOR=blue")
        assert screen.busy and screen.in_flight == "pam_putenv"
        screen.action_call("authenticate")
        await wait_until(pilot, lambda: not screen.busy, "pam_putenv")
        assert records(screen) == [("pam_start", "PAM_SUCCESS")]
        await pilot.press("a")
        await wait_until(pilot, lambda: not screen.busy and len(records(screen)) == 2, "auth")
        last = screen.timeline.entries[-1].record
        assert last is not None and last.name == "PAM_SUCCESS"
        assert last.items["tty"] == "/dev/pts/7" and last.env.get("COLOR") == "blue"
