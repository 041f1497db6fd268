"""The widget explorer driven from Python, as a person's clicks would: real libpam through the
engine, on the running event loop (as in a Jupyter kernel)."""

from __future__ import annotations

import asyncio
import html
import json
import uuid
from pathlib import Path

import ipywidgets
import pytest

from pamexplorer.notebook import Explorer
from pamexplorer.notebook.explorer import CrashEntry
from pamexplorer.pam.codes import Code, Flag, describe
from pamexplorer.session import SessionState
from pamexplorer.stack import list_services
from tests.engine.engine_csrc import FAULTS
from tests.notebook.nbkit import cell_text, dump, read_notebook, run_notebook


@pytest.fixture
def faults(service_dir, c_module) -> Path:
    faults = c_module("faults", FAULTS)
    conv = c_module(
        "nb-conv",
        """
        #include <stdio.h>
        PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
            printf("module says <hi>\\n"); fflush(stdout);
            return converse_one(h, PAM_PROMPT_ECHO_ON, "Code: ", NULL);
        }
        """,
    )
    permit = "account required pam_permit.so\n"
    return service_dir(
        {
            "hang": f"auth required {faults} hang\n{permit}",
            "segv": f"auth required {faults} print-segv\n{permit}",
            "conv": f"auth required {conv}\n{permit}",
            "echo": "auth required pam_echo.so <img src=x onerror=alert(1)>\n" + permit,
            "permit": "auth required pam_permit.so\n" + permit,
        }
    )


async def finish(explorer: Explorer) -> None:
    explorer.close_transaction()
    await explorer.idle()


async def test_authenticate_through_the_password_field() -> None:
    ex = Explorer(service="lab-login", lab=True, user="alice")
    ex.buttons["authenticate"].click()
    fields = await ex.prompted()
    assert [type(f) for f in fields] == [ipywidgets.Password]
    assert ex.state is SessionState.WAITING
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.1)  # the loop is free while the module waits for the answer
    ticker.cancel()
    assert ticks > 1 and ex.state is SessionState.WAITING
    fields[0].value = "wonderland"  # what the browser sends when Enter is pressed
    await ex.idle()
    assert fields[0].value == "" and ex.prompt.fields == []
    assert "pam_authenticate PAM_SUCCESS (0) Success" in ex.timeline_text()

    ex.buttons["authenticate"].click()  # again, in the same transaction, answered by button
    await ex.prompted()
    ex.prompt.answer_button.click()  # an empty password
    await ex.idle()
    last = ex.timeline[-1]
    assert not isinstance(last, CrashEntry) and last.code == Code.PAM_AUTH_ERR
    view = ex.timeline_view.value
    assert "PAM_AUTH_ERR (7)" in view and "Authentication failure" in view
    assert html.escape(describe(7).explanation) in view
    assert "prompt (echo off): Password:" in view and "********" in view and " ms<" in view
    assert next(r for r in ex.timeline if not isinstance(r, CrashEntry)).function == "pam_start"
    lab = Path(ex.session.confdir or "")
    assert lab.is_dir()
    await finish(ex)
    assert ex.timeline[-1].function == "pam_end"
    assert not lab.parent.exists()  # the lab's private copy is gone with the explorer's end


async def test_cancel_gives_the_module_conv_err_and_output_shows(faults: Path) -> None:
    ex = Explorer(service="conv", confdir=str(faults), user="alice")
    ex.buttons["authenticate"].click()
    fields = await ex.prompted()
    assert [type(f) for f in fields] == [ipywidgets.Text]
    ex.prompt.cancel_button.click()
    await ex.idle()
    record = ex.timeline[-1]
    assert not isinstance(record, CrashEntry) and record.code == Code.PAM_CONV_ERR
    assert "PAM_CONV_ERR (19)" in ex.timeline_view.value
    assert "output: module says &lt;hi&gt;" in ex.timeline_view.value
    ex.buttons["authenticate"].click()
    (field,) = await ex.prompted()
    field.value = "1234"
    await ex.idle()
    assert ex.timeline[-1].code == Code.PAM_SUCCESS
    assert ex.timeline[-1].messages[0].answer == "1234"  # echo on: the answer is shown
    await finish(ex)


async def test_abort_ends_a_hung_call_and_the_widget_goes_on(faults: Path) -> None:
    ex = Explorer(service="hang", confdir=str(faults), user="alice")
    ex.buttons["authenticate"].click()
    await ex.wait(lambda: ex.state is SessionState.IN_CALL and ex.session.in_flight is not None)
    assert ex.session.in_flight == "pam_authenticate"
    assert not ex.abort_button.disabled and ex.buttons["acct_mgmt"].disabled
    ex.abort_button.click()
    await ex.idle()
    assert ex.state is SessionState.CRASHED
    assert ex.timeline[-1] == CrashEntry("aborted during pam_authenticate")
    assert "aborted during pam_authenticate" in ex.timeline_view.value
    assert ex.abort_button.disabled and not ex.buttons["acct_mgmt"].disabled
    ex.buttons["acct_mgmt"].click()  # a fresh transaction starts
    await ex.idle()
    assert "pam_acct_mgmt PAM_SUCCESS (0) Success" in ex.timeline_text().splitlines()[-1]
    await finish(ex)


async def test_a_crash_shows_and_the_widget_stays_usable(faults: Path) -> None:
    ex = Explorer(service="segv", confdir=str(faults), user="alice")
    ex.buttons["authenticate"].click()
    await ex.idle()
    assert ex.state is SessionState.CRASHED
    assert ex.timeline[-1] == CrashEntry("SIGSEGV during pam_authenticate", ("last words",))
    view = ex.timeline_view.value
    assert "SIGSEGV during pam_authenticate" in view and "output: last words" in view
    assert ex.errors == []
    ex.buttons["acct_mgmt"].click()
    await ex.idle()
    assert ex.timeline_text().splitlines()[-1] == "pam_acct_mgmt PAM_SUCCESS (0) Success"
    await finish(ex)


async def test_module_text_is_escaped(faults: Path) -> None:
    ex = Explorer(service="echo", confdir=str(faults), user="alice")
    ex.buttons["authenticate"].click()
    await ex.idle()
    view = ex.timeline_view.value
    assert "info: &lt;img src=x onerror=alert(1)&gt;" in view and "<img" not in view
    await finish(ex)


async def test_flags_user_and_items_reach_libpam(faults: Path) -> None:
    ex = Explorer(service="permit", confdir=str(faults), user="bob", items={"tty": "/dev/pts/9"})
    ex.flags.value = ("PAM_SILENT", "PAM_ESTABLISH_CRED")
    ex.buttons["authenticate"].click()
    await ex.idle()
    record = ex.timeline[-1]
    assert record.function == "pam_authenticate"
    assert record.flags == Flag.PAM_SILENT  # a flag authenticate does not take is left out
    assert record.items["user"] == "bob" and record.items["tty"] == "/dev/pts/9"
    ex.items_field.value = "rhost=198.51.100.4"
    ex.buttons["set_items"].click()
    ex.flags.value = ()
    await ex.idle()
    ex.buttons["acct_mgmt"].click()
    await ex.idle()
    assert ex.timeline[-1].items["rhost"] == "198.51.100.4" and ex.timeline[-1].flags == 0
    ex.items_field.value = "nonsense"
    ex.buttons["set_items"].click()
    await ex.idle()
    assert ex.errors[-1] == "items: 'nonsense': expected NAME=VALUE"
    assert "expected NAME=VALUE" in ex.error_view.value
    await finish(ex)


async def test_the_service_picker(faults: Path) -> None:
    ex = Explorer()
    assert ex.source.value == "lab" and "lab-login" in ex.service_picker.options
    assert "other" not in ex.service_picker.options
    ex.service_picker.value = "lab-login"
    assert "pam_exec.so" in ex.stack_view.value and "lab-login:3" in ex.stack_view.value
    ex.source.value = "system"
    assert list(ex.service_picker.options) == [name for name, _ in list_services()]
    ex.source.value = "directory"
    assert not ex.confdir_field.layout.display
    ex.confdir_field.value = str(faults)
    assert sorted(ex.service_picker.options) == ["conv", "echo", "hang", "permit", "segv"]
    ex.service_picker.value = "permit"
    ex.buttons["authenticate"].click()  # no user: pam_permit asks for one (echo on)
    (field,) = await ex.prompted()
    assert (
        isinstance(field, ipywidgets.Text)
        and "login:" in ex.prompt.box.children[0].children[0].value
    )
    field.value = "carol"
    await ex.idle()
    assert ex.timeline[-1].items["user"] == "carol"
    assert ex.timeline[-1].code == Code.PAM_SUCCESS
    assert "pam_permit.so" in ex.stack_view.value
    await finish(ex)


async def test_the_password_is_not_in_the_widget_state() -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    ex = Explorer(service="lab-login", lab=True, user="alice")
    ex.buttons["authenticate"].click()
    (field,) = await ex.prompted()
    field.value = secret
    await ex.idle()
    state = json.dumps(ipywidgets.Widget.get_manager_state())
    assert "lab-login" in state and secret not in state
    assert secret not in ex.timeline_view.value
    await finish(ex)


SAVED_NOTEBOOK = """
{{"cells": [
 {{"cell_type": "code", "execution_count": null, "id": "a", "metadata": {{}}, "outputs": [],
   "source": "from pamexplorer.notebook import Explorer\\nex = Explorer(service='lab-login', lab=True, user='alice')\\nex"}},
 {{"cell_type": "code", "execution_count": null, "id": "b", "metadata": {{}}, "outputs": [],
   "source": "ex.buttons['authenticate'].click()\\n(field,) = await ex.prompted()\\nfield.value = open('{secret_file}').read()\\nawait ex.idle()\\nprint(ex.timeline_text())"}}
 ],
 "metadata": {{"kernelspec": {{"display_name": "Python 3", "language": "python", "name": "python3"}}}},
 "nbformat": 4, "nbformat_minor": 5}}
"""  # noqa: E501


def test_a_saved_notebook_holds_no_password(kernel, tmp_path: Path) -> None:
    secret = "wonderland"  # alice's lab password: the call must succeed with it
    secret_file = tmp_path / "typed"  # what the person types, kept out of the cell's source
    secret_file.write_text(secret)
    source = SAVED_NOTEBOOK.format(secret_file=secret_file)
    nb = run_notebook(kernel, read_notebook(source), store_widget_state=True)
    assert "pam_authenticate PAM_SUCCESS (0) Success" in cell_text(nb.cells[1])
    saved = tmp_path / "saved.ipynb"
    saved.write_text(dump(nb))
    text = saved.read_text()
    widgets_state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["state"].get("description") == "authenticate" for m in widgets_state.values())
    assert secret not in text


async def test_the_stack_marks_each_line_with_its_code_from_the_trace() -> None:
    ex = Explorer(service="lab-login", lab=True, user="alice")
    ex.buttons["authenticate"].click()
    (field,) = await ex.prompted()
    field.value = "not-alice's"
    await ex.idle()
    record = ex.timeline[-1]
    assert record.trace is not None and record.trace.status == "traced", record.trace
    rows = ex.stack_view.value.split("<tr")
    exec_row = next(r for r in rows if "pam_exec.so" in r)
    deny = next(r for r in rows if "pam_deny.so" in r)
    permit = next(r for r in rows if "pam_permit.so" in r and "lab-login:4" in r)
    assert "PAM_SYSTEM_ERR (4)" in exec_row and "ignore" in exec_row  # checkpass said no
    assert "decided" not in exec_row
    assert "PAM_AUTH_ERR (7)" in deny and "die" in deny
    assert deny.startswith(" class='decided-row'") and "&#9664; decided" in deny
    assert "PAM_" not in permit and "not run" in permit  # not reached: dimmed, no code
    assert permit.startswith(" class='dim'")
    timeline = ex.timeline_view.value
    assert "trace: lab-login:3 pam_deny.so PAM_AUTH_ERR (7) -&gt; die" in timeline
    assert '<div class="msg decided">trace: decided by lab-login:3 pam_deny.so (die)' in timeline
    ex.call_picker.value = 0  # pam_start: no line ran
    assert "PAM_AUTH_ERR (7)" not in ex.stack_view.value
    await finish(ex)


async def test_a_value_arriving_just_after_the_answer_click_is_the_answer() -> None:
    ex = Explorer(service="lab-login", lab=True, user="alice")
    ex.buttons["authenticate"].click()
    (field,) = await ex.prompted()
    ex.prompt.answer_button.click()  # the browser's click overtook the field's value
    field.value = "wonderland"
    await ex.idle()
    assert ex.timeline[-1].code == Code.PAM_SUCCESS
    await finish(ex)
