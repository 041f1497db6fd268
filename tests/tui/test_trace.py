"""The per-module trace in the explorer (issue 10 §3), against the real libpam and the lab:
codes and actions on the stack's lines, the deciding rule marked, rules not run dimmed, the
modules' log lines and the code in its context in the detail pane."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text

from pamexplorer.engine.trace.build import NO_COMPILER
from pamexplorer.explain import explain_call
from pamexplorer.pam.records import unavailable
from pamexplorer.profile import resolve
from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.conversation import ConversationModal
from pamexplorer.tui.screens.profile import ProfileScreen
from pamexplorer.tui.screens.transaction import TransactionScreen
from pamexplorer.tui.widgets.call_detail import CallDetail, render_record_detail
from pamexplorer.tui.widgets.stack_view import StackView, TracedCall, rule_detail
from tests.conftest import SEGV_SOURCE, ModuleFactory, ServiceDirFactory
from tests.tui.conftest import (
    explorer,
    lesson_stack,
    opened,
    screen_text,
    wait_until,
)


def stack_lines(stack: StackView) -> dict[int, Text]:
    """Line number -> the stack view's rendering of that rule."""
    found: dict[int, Text] = {}
    for index, row in enumerate(stack.option_rows):
        if row is not None:
            prompt = stack.get_option_at_index(index).prompt
            assert isinstance(prompt, Text)
            found[row.line] = prompt
    return found


def shows(stack: StackView, record: object) -> bool:
    """The stack shows this call's trace."""
    return stack.call is not None and stack.call.record is record


def all_prompts(stack: StackView) -> str:
    return "\n".join(str(stack.get_option_at_index(i).prompt) for i in range(stack.option_count))


def dimmed(text: Text) -> bool:
    """Every character of the line is dim."""
    spans = [s for s in text.spans if "dim" in str(s.style)]
    return any(s.start == 0 and s.end >= len(text.plain) for s in spans)


def detail_text(screen: TransactionScreen) -> str:
    static = screen.query_one("#call-detail-text")
    content = static.render()
    return content.plain if isinstance(content, Text) else str(content)


async def called(pilot: Any, screen: TransactionScreen, key: str) -> None:
    """Press a call's key and wait for its record."""
    await pilot.press(key)
    await wait_until(pilot, lambda: not screen.busy and screen.last_record, "the call")


async def test_a_failed_login_shows_codes_actions_the_decider_and_the_log() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-login", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        screen, stack = await opened(pilot, app)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConversationModal), "a prompt")
        await pilot.press(*"not-alices-password", "enter")
        await wait_until(pilot, lambda: not screen.busy and screen.last_record, "the call")
        record = screen.last_record
        assert record is not None and record.function == "pam_authenticate"
        assert record.code == 7 and record.trace is not None
        assert record.trace.status == "traced", record.trace.reason
        await wait_until(
            pilot,
            lambda: shows(stack, record),
            "the stack to show the call",
        )

        lines = stack_lines(stack)
        # lab-login:2 pam_exec (the checker failed: PAM_SYSTEM_ERR, default=ignore),
        # :3 requisite pam_deny decides (7, die), :4 pam_permit never runs.
        assert "pam_exec.so 4 ignore" in lines[2].plain
        assert "pam_deny.so 7 die" in lines[3].plain
        assert lines[3].plain.startswith("▶")
        assert not lines[2].plain.startswith("▶")
        assert "not run" in lines[4].plain and dimmed(lines[4])
        assert not dimmed(lines[3]) and not dimmed(lines[2])
        # Other types are not marked: account's pam_permit did not run in this call.
        assert "not run" not in lines[5].plain and not dimmed(lines[5])
        shown = screen_text(app)
        assert "7 die" in shown and "▶" in shown

        # The timeline's call: the code in its context, the deciding rule, the log lines.
        detail = detail_text(screen)
        assert "PAM_AUTH_ERR (7)" in detail
        assert (
            "authenticate: pam_deny after pam_exec returned PAM_SYSTEM_ERR: a system error"
            in detail
        )
        assert "Decided by lab-login:3 pam_deny.so (die)" in detail
        assert "Log lines:" in detail
        lab = str(app.lab_dir().parent)
        exec_log = [
            x.text.replace(lab, "@LAB@") for m in record.trace.modules if m.line == 2 for x in m.log
        ]
        assert exec_log and all(line in detail for line in exec_log)
        # pam_exec's own line, the lab's temporary directory shown as the lab writes it.
        assert "pam_exec(lab-login:auth): @LAB@/checkpass failed: exit code 1" in detail
        assert lab not in detail
        assert "not-alices-password" not in detail + shown

        # The stack's rules, after the traced call: what each one did.
        stack.focus()
        await pilot.pause()
        stack.highlighted = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 2)
        await pilot.pause()
        detail = detail_text(screen)
        assert screen.query_one(CallDetail).border_title == "Selected rule"
        assert "lab-login:2  in the selected pam_authenticate:" in detail
        assert "PAM_SYSTEM_ERR (4) → ignore" in detail and "-- ms" in detail
        assert all(line in detail for line in exec_log)
        stack.highlighted = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 4)
        await pilot.pause()
        detail = detail_text(screen)
        assert "not run: lab-login:3 (die) ended the stack" in detail
        stack.highlighted = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 3)
        await pilot.pause()
        assert "this rule decided the call's code" in detail_text(screen)

        # pam_start selected in the timeline: the stack drops the marks.
        screen.timeline.focus()
        await pilot.press("up")
        await wait_until(
            pilot,
            lambda: not shows(stack, record),
            "pam_start selected",
        )
        assert "7 die" not in stack_lines(stack)[3].plain


async def test_jumps_show_where_they_land_and_the_rules_they_skip() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-jumps", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        screen, stack = await opened(pilot, app)
        await called(pilot, screen, "a")
        await wait_until(
            pilot,
            lambda: shows(stack, screen.last_record),
            "the marks",
        )
        lines = stack_lines(stack)
        assert "0 jump→5" in lines[2].plain  # alice: success=2 lands on line 5
        for skipped in (3, 4):
            assert "not run" in lines[skipped].plain and dimmed(lines[skipped])
        assert "0 ok" in lines[5].plain and "0 ok" in lines[6].plain
        assert lines[6].plain.startswith("▶")  # the last required decides PAM_SUCCESS
        record = screen.last_record
        assert record is not None
        assert explain_call(record.function, record.code, record.trace) == (
            "authenticate: pam_permit returned PAM_SUCCESS: the call succeeded: "
            "the stack reached a positive verdict"
        )
        stack.focus()
        stack.highlighted = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 3)
        await pilot.pause()
        assert "not run: skipped by the jump at lab-jumps:2" in detail_text(screen)
        stack.highlighted = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 5)
        await pilot.pause()
        # pam_echo's message is shown under its invocation.
        assert "Welcome, alice: a jump brought you here." in detail_text(screen)


async def test_no_trace_and_a_disagreement_are_said_not_hidden() -> None:
    app = PamExplorerApp(LaunchOptions(lab=True, service="lab-login", stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        screen, stack = await opened(pilot, app)
        await called(pilot, screen, "m")
        record = screen.last_record
        assert record is not None and record.trace is not None and record.code == 0
        # What a build without a C compiler gives (the engine side is tested in tests/trace).
        bare = replace(record, trace=unavailable(NO_COMPILER))
        stack.call = TracedCall.of(bare)
        await pilot.pause()
        assert "trace unavailable: built without a C compiler" in all_prompts(stack)
        assert "trace unavailable" in screen_text(app)  # under the account heading
        assert "▶" not in "".join(t.plain for t in stack_lines(stack).values())
        assert "trace unavailable: built without a C compiler" in render_record_detail(bare).plain
        assert explain_call(bare.function, bare.code, bare.trace) is None
        problem = "trace and simulator disagree: libpam returned 0, the dispatcher 7"
        flagged = replace(record, trace=replace(record.trace, disagreement=problem))
        stack.call = TracedCall.of(flagged)
        await pilot.pause()
        assert "trace and simulator disagree" in all_prompts(stack)
        assert "trace and simulator disagree" in screen_text(app)
        assert problem in render_record_detail(flagged).plain


#: An account module that finds the account expired and says so in syslog, as pam_unix does.
EXPIRED_SOURCE = r"""
#include <syslog.h>
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    syslog(LOG_AUTHPRIV | LOG_NOTICE, "expired(acct:account): account alice has expired");
    return 13; /* PAM_ACCT_EXPIRED */
}
"""


async def test_a_masked_code_is_explained_by_the_module_that_said_it(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    """Debian's common-account shape: the checking module's PAM_ACCT_EXPIRED is ignored and
    pam_deny returns PAM_AUTH_ERR; the explanation names both and the real reason."""
    module = c_module("expired", EXPIRED_SOURCE)
    confdir = service_dir(
        {
            "acct": (
                f"account [success=1 new_authtok_reqd=done default=ignore] {module}\n"
                "account requisite pam_deny.so\n"
                "account required pam_permit.so\n"
            )
        }
    )
    app = explorer(confdir, "acct")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, stack = await opened(pilot, app)
        await called(pilot, screen, "m")
        record = screen.last_record
        assert record is not None and record.code == 7  # PAM_AUTH_ERR: pam_deny's
        assert record.trace is not None and record.trace.status == "traced"
        name = module.name.removesuffix(".so")
        assert explain_call(record.function, record.code, record.trace) == (
            f"acct_mgmt: pam_deny after {name} returned PAM_ACCT_EXPIRED: "
            "the user account has expired"
        )
        detail = detail_text(screen)
        assert f"acct_mgmt: pam_deny after {name} returned PAM_ACCT_EXPIRED" in detail
        assert "expired(acct:account): account alice has expired" in detail
        await wait_until(pilot, lambda: shows(stack, record), "the marks")
        lines = stack_lines(stack)
        assert "13 ignore" in lines[1].plain and "7 die" in lines[2].plain
        assert lines[2].plain.startswith("▶") and dimmed(lines[3])


async def test_a_lessons_stack_shows_the_selected_calls_trace() -> None:
    app = PamExplorerApp(LaunchOptions(profile=str(resolve("lab-setcred")), stable=True))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ProfileScreen)
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.finished and not screen.busy, "the run")
        stack = await lesson_stack(pilot, screen)
        call = stack.call
        assert call is not None and call.function == "pam_setcred"  # the last step
        assert call.record is not None
        lines = stack_lines(stack)
        # pam_exec has no credentials (PAM_IGNORE), but setcred takes the action of the code it
        # returned in pam_authenticate (the frozen chain): success=1 jumps over pam_deny.
        assert "pam_exec.so 25 jump→4" in lines[2].plain
        assert "not run" in lines[3].plain and dimmed(lines[3])
        assert lines[4].plain.startswith("▶") and "pam_permit.so 0 ok" in lines[4].plain
        index = next(i for i, r in enumerate(stack.option_rows) if r and r.line == 2)
        row, traced = stack.option_rows[index], stack.option_traces[index]
        assert row is not None and traced is not None
        detail = rule_detail(row, traced, hide_ms=True).plain
        assert "PAM_IGNORE (25) → jump→4" in detail
        assert "libpam used the frozen chain's PAM_SUCCESS (0)" in detail


async def test_a_crash_keeps_the_trace_up_to_the_module_that_never_returned(
    service_dir: ServiceDirFactory, c_module: ModuleFactory
) -> None:
    segv = c_module("segv", SEGV_SOURCE)
    confdir = service_dir(
        {
            "crash": (
                f"auth optional pam_permit.so\nauth required {segv}\nauth required pam_permit.so\n"
            )
        }
    )
    app = explorer(confdir, "crash")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, stack = await opened(pilot, app)
        await pilot.press("a")
        await wait_until(
            pilot, lambda: any(e.kind == "crash" for e in screen.timeline.entries), "the crash"
        )
        await wait_until(pilot, lambda: stack.call is not None, "the crash's trace")
        assert stack.call is not None and stack.call.record is None
        assert stack.call.function == "pam_authenticate"
        lines = stack_lines(stack)
        assert "pam_permit.so 0 ok" in lines[1].plain
        assert "never returned" in lines[2].plain
        assert "the call crashed" in all_prompts(stack)
