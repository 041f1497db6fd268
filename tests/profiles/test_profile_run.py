"""ProfileRun: a profile stepped one call at a time over a PamSession (what the lesson screen
drives from a worker, and what run_profile loops over), against the real libpam."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.pam.records import Message
from pamexplorer.profile import ProfileError, load, loads
from pamexplorer.report import render
from pamexplorer.runner import (
    CRASHED,
    ERROR,
    FAILED,
    NOT_RUN,
    PASSED,
    SKIPPED,
    ProfileRun,
    StepStatus,
    run_profile,
)
from pamexplorer.session import (
    Crashed,
    MessagesShown,
    RecordReceived,
    SessionEvent,
    SessionState,
)
from tests.conftest import ModuleFactory
from tests.engine.engine_csrc import FAULTS

SECURITY = "/lib/x86_64-linux-gnu/security"
SECRET = "s3cr3t-Tok3n-0815"
ASKED = "typed-by-a-person-42"

# Asks for a token (echo on), then asks again quoting it (echo off), then reports both in an
# info message, the PAM environment and stdout. PAM_SUCCESS only when both answers came.
ECHOING = r"""
#include <stdio.h>
#include <stdlib.h>
static int ask(pam_handle_t *h, int style, const char *text, char **out) {
    const struct pam_conv *conv;
    struct pam_message m = {style, text};
    const struct pam_message *pm[1] = {&m};
    struct pam_response *r = NULL;
    if (pam_get_item(h, PAM_CONV, (const void **)&conv) != PAM_SUCCESS) return 4;
    if (conv->conv(1, pm, &r, conv->appdata_ptr) != 0 || !r || !r[0].resp) return 19;
    *out = r[0].resp; free(r);
    return 0;
}
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    char *token = NULL, *again = NULL, buf[512];
    const struct pam_conv *conv;
    struct pam_response *r2 = NULL;
    if (ask(h, PAM_PROMPT_ECHO_ON, "Token:", &token)) return 19;
    snprintf(buf, sizeof buf, "Password for %s:", token);
    if (ask(h, PAM_PROMPT_ECHO_OFF, buf, &again)) return 19;
    snprintf(buf, sizeof buf, "got %s and %s", token, again);
    struct pam_message m = {PAM_TEXT_INFO, buf};
    const struct pam_message *pm[1] = {&m};
    pam_get_item(h, PAM_CONV, (const void **)&conv);
    conv->conv(1, pm, &r2, conv->appdata_ptr);
    snprintf(buf, sizeof buf, "BOTH=%s/%s", token, again);
    pam_putenv(h, buf);
    printf("stdout %s %s\n", token, again);
    fflush(stdout);
    return 0;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *h, int f, int c, const char **v) { return 0; }
"""


def profile_text(service_lines: str, steps: str, extra: str = "") -> str:
    return (
        "name: Run object\nservice: svc\nconfig:\n  svc: |\n"
        + "".join(f"    {line}\n" for line in service_lines.strip().splitlines())
        + f"user: alice\n{extra}steps:\n{steps}"
    )


PLAIN = profile_text(
    "auth required pam_permit.so\naccount required pam_deny.so",
    "  - authenticate\n  - putenv: A=1\n  - acct_mgmt: {expect: PAM_AUTH_ERR}\n  - setcred\n",
)


async def test_stepping_matches_the_blocking_run() -> None:
    profile = loads(PLAIN)
    run = ProfileRun(profile)
    assert (run.started, run.done, run.next_index) == (False, False, 0)
    start = await run.start()
    assert start is not None and (start.function, start.status) == ("pam_start", PASSED)
    assert start.record is not None and start.record.function == "pam_start"
    assert run.next_index == 1 and run.state is SessionState.IDLE and not run.busy
    seen = []
    while (result := await run.next_step()) is not None:
        seen.append((result.index, result.function, result.status))
    assert seen == [
        (1, "pam_authenticate", PASSED),
        (2, "pam_putenv", PASSED),
        (3, "pam_acct_mgmt", PASSED),
        (4, "pam_setcred", PASSED),
    ]
    assert run.done and await run.next_step() is None
    stepped = await run.finish()
    assert await run.finish() is stepped  # idempotent
    assert run.state is None
    looped = await asyncio.to_thread(run_profile, profile)
    assert [_timeless(s.to_dict()) for s in stepped.steps] == [
        _timeless(s.to_dict()) for s in looped.steps
    ]
    assert stepped.status is looped.status is PASSED


def _timeless(step: dict[str, Any]) -> dict[str, Any]:
    """A step's JSON without what differs between two runs: durations, the private copy of
    the service files' directory."""
    modules = [
        {**m, "duration_ms": 0, "file": os.path.basename(m["file"])} for m in step["modules"]
    ]
    return {**step, "duration_ms": 0, "modules": modules}


async def test_next_step_starts_a_run_not_yet_started() -> None:
    async with ProfileRun(loads(PLAIN)) as run:
        first = await run.next_step()
        assert first is not None and first.function == "pam_start"


async def test_finishing_early_ends_the_transaction_and_marks_the_rest(
    tmp_path: Path, c_module: ModuleFactory
) -> None:
    faults = c_module("faults", FAULTS)
    marker = tmp_path / "marker"
    text = profile_text(f"auth required {faults} ok {marker}", "  - authenticate\n  - setcred\n")
    events: list[SessionEvent] = []
    run = ProfileRun(loads(text), on_event=events.append)
    await run.start()
    await run.next_step()
    result = await run.finish()
    assert [s.status for s in result.steps] == [PASSED, PASSED, NOT_RUN]
    assert result.status is NOT_RUN and result.reason == "finished before step 2 (setcred) ran"
    assert result.steps[2].problems == ("not run: the run finished before this step",)
    assert marker.read_text() == "pam_end 0"  # pam_end ran in the child
    records = [e.record.function for e in events if isinstance(e, RecordReceived)]
    assert records == ["pam_start", "pam_authenticate", "pam_end"]
    text = render([result], "text")
    assert text.startswith("NOT RUN Run object") and "1 profile(s): 1 not run" in text
    assert '"status": "not run"' in render([result], "json")
    assert 'skipped="1"' in render([result], "junit")


async def test_a_crash_ends_the_run(c_module: ModuleFactory) -> None:
    faults = c_module("faults", FAULTS)
    steps = "  - setcred\n  - authenticate\n  - acct_mgmt\n"
    text = profile_text(f"auth required {faults} segv", steps)
    events: list[SessionEvent] = []
    async with ProfileRun(loads(text), on_event=events.append) as run:
        results = [await run.next_step() for _ in range(3)]
        assert results[2] is not None and results[2].status is CRASHED
        assert await run.next_step() is None
    result = await run.finish()
    assert [s.status for s in result.steps] == [PASSED, PASSED, CRASHED, NOT_RUN]
    assert result.status is CRASHED and result.exit_status == 3 and "SIGSEGV" in str(result.reason)
    assert any(isinstance(e, Crashed) for e in events)


async def test_abort_kills_a_hung_step(c_module: ModuleFactory) -> None:
    faults = c_module("faults", FAULTS)
    text = profile_text(f"auth required {faults} hang", "  - authenticate\n  - acct_mgmt\n")
    run = ProfileRun(loads(text), timeout=None)
    await run.start()
    step = asyncio.ensure_future(run.next_step())
    while not run.busy:
        await asyncio.sleep(0.01)
    assert run.abort()
    result = await step
    assert result is not None and result.status is CRASHED and result.name == "aborted"
    assert [s.status for s in (await run.finish()).steps] == [PASSED, CRASHED, NOT_RUN]


async def test_a_run_never_started_is_not_run() -> None:
    result = await ProfileRun(loads(PLAIN)).finish()
    assert result.status is NOT_RUN and result.reason == "finished before pam_start ran"
    assert [s.index for s in result.steps] == [1, 2, 3, 4]


async def test_secrets_never_reach_results_or_events(
    c_module: ModuleFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An env secret and an asked one, each echoed by the module in a prompt, a message, the
    environment and stdout: the person is asked with the prompt scrubbed, and every result
    and forwarded event shows ******** instead."""
    so = c_module("echoing", ECHOING)
    monkeypatch.setenv("PAMEXPLORER_RUN_TOKEN", SECRET)
    text = profile_text(
        f"auth required {so}",
        "  - authenticate\n",
        "answers:\n  - match: Token\n    answer: {env: PAMEXPLORER_RUN_TOKEN}\n"
        "  - match: Password\n    answer: {ask: true}\n",
    )
    prompts: list[Message] = []

    async def ask(message: Message) -> str:
        prompts.append(message)
        return ASKED

    events: list[SessionEvent] = []
    async with ProfileRun(loads(text), ask=ask, on_event=events.append) as run:
        await run.start()
        auth = await run.next_step()
    result = await run.finish()
    assert auth is not None and auth.status is PASSED
    assert prompts == [Message(MessageStyle.PAM_PROMPT_ECHO_OFF, "Password for ********:")]
    assert auth.messages[2]["text"] == "got ******** and ********"
    assert auth.env["BOTH"] == "********/********"
    assert auth.output == ("stdout ******** ********",)
    shown = " ".join(m.text for e in events if isinstance(e, MessagesShown) for m in e.messages)
    assert "Password for ********:" in shown and "got ******** and ********" in shown
    everything = repr(events) + repr(result) + repr(auth.record) + repr(result.to_dict())
    assert SECRET not in everything and ASKED not in everything


async def test_a_cancelled_ask_fails_the_step_not_the_run(c_module: ModuleFactory) -> None:
    so = c_module("echoing", ECHOING)
    text = profile_text(
        f"auth required {so}", "  - authenticate\n", "answers:\n  - answer: {ask: true}\n"
    )

    async def cancel(message: Message) -> None:
        return None

    result = await ProfileRun(loads(text), ask=cancel).run()
    assert result.steps[1].name == "PAM_CONV_ERR" and result.status is FAILED


async def test_missing_env_answer_is_a_profile_error_and_cleans_up() -> None:
    text = profile_text(
        "auth required pam_permit.so",
        "  - authenticate\n",
        "answers:\n  - answer: {env: PAMEXPLORER_NOT_SET_ANYWHERE}\n",
    )
    run = ProfileRun(loads(text, "/tmp/p.yaml"))
    with pytest.raises(ProfileError, match=r"^/tmp/p.yaml:\d+: answers\[0\]\.answer\.env: "):
        await run.run()
    assert run.state is None


async def test_skipped_profile_never_starts_a_child() -> None:
    run = ProfileRun(loads("service: no-such-service-here\nsteps: [authenticate]\n"))
    assert run.skip is not None
    assert await run.start() is None
    assert run.done and run.state is None
    result = await run.finish()
    assert result.status is SKIPPED and result.exit_status == 0 and result.steps == ()


def test_status_values_are_what_reports_print() -> None:
    assert [s.value for s in StepStatus] == [
        "passed",
        "failed",
        "error",
        "crashed",
        "skipped",
        "not run",
    ]
    assert [s.exit_status for s in StepStatus] == [0, 1, 2, 3, 0, 1]


async def test_session_state_after_finish(c_module: ModuleFactory) -> None:
    events: list[SessionEvent] = []
    run = ProfileRun(loads(PLAIN), on_event=events.append)
    await run.run()
    states = [getattr(e, "state", None) for e in events]
    assert states[-1] is SessionState.ENDED


def test_service_files_that_cannot_be_written_are_an_error_result() -> None:
    """A profile built in code, past the reader's checks: no traceback, an error result."""
    from pamexplorer.pam.codes import Function
    from pamexplorer.profile import CallStep, InlineConfig, Profile

    profile = Profile(
        service="x",
        steps=(CallStep(Function.AUTHENTICATE),),
        config=InlineConfig({"t" * 300: "auth required pam_permit.so\n"}),
    )
    result = run_profile(profile)
    assert result.status is ERROR and result.exit_status == 2
    assert (
        result.reason == "<profile>:1: config: cannot set up the service files (File name too long)"
    )


def test_a_directory_whose_service_is_no_regular_file_is_an_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "svc")
    (tmp_path / "p.yaml").write_text(f"service: SVC\nconfig: {tmp_path}\nsteps: [authenticate]\n")
    result = run_profile(load(tmp_path / "p.yaml"))
    assert result.status is ERROR and result.steps == ()
    assert result.reason == (
        f"{tmp_path}/p.yaml:2: config: expected {tmp_path}/svc to be a regular file"
    )
