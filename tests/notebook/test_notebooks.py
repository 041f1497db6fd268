"""Every bundled notebook and every lesson written as a notebook runs headless in a real kernel,
and what its cells show is checked: codes, messages, the crash, the explorer widget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pamexplorer.notebook.lessons import BUNDLED, dumps, lesson_notebook
from pamexplorer.pam.codes import Code
from pamexplorer.profile import load
from pamexplorer.runner import skip_reason
from tests.notebook.nbkit import (
    REPO,
    cell_html,
    cell_text,
    has_widget,
    read_notebook,
    run_notebook,
)

LESSONS = sorted((REPO / "profiles").glob("*.yaml"))


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def find(nb, needle: str):
    """The one code cell whose source contains ``needle``."""
    cells = [c for c in code_cells(nb) if needle in c.source]
    assert len(cells) == 1, needle
    return cells[0]


def test_bundled_notebooks_are_the_two_we_ship() -> None:
    assert sorted(p.name for p in BUNDLED.glob("*.ipynb")) == [
        "getting-started.ipynb",
        "troubleshooting.ipynb",
    ]


def test_getting_started_runs_and_shows_the_tour(kernel) -> None:
    nb = run_notebook(kernel, read_notebook(BUNDLED / "getting-started.ipynb"))
    stack = cell_text(find(nb, 'pamexplorer.show("lab-login"'))
    assert "pam_exec.so expose_authtok" in stack and "lab-login:3" in stack
    fail = find(nb, "not-the-password")
    assert cell_text(fail).startswith("pam_authenticate  PAM_AUTH_ERR (7)  Authentication failure")
    assert "PAM_AUTH_ERR (7)" in cell_html(fail) and "not-the-password" not in cell_text(fail)
    assert "wrong password" in cell_text(find(nb, 'codes("PAM_AUTH_ERR")'))
    ok = cell_text(find(nb, '"wonderland"'))
    assert ok.startswith("pam_authenticate  PAM_SUCCESS (0)") and "-> ********" in ok
    assert "wonderland" not in ok
    timeline = cell_text(find(nb, "t.close_session()"))
    for call in ("pam_acct_mgmt  PAM_SUCCESS (0)", "pam_open_session  PAM_SUCCESS (0)"):
        assert call in timeline
    assert "pam_end  PAM_SUCCESS (0)" in timeline and "[ended]" in timeline
    simulated = cell_text(find(nb, "pamexplorer.simulate("))
    assert "lab-login:2 pam_exec.so PAM_SUCCESS (0) -> jump 1" in simulated
    assert cell_text(find(nb, "EngineCrashed")).strip() == "SIGSEGV during pam_start"
    assert has_widget(find(nb, "Explorer(service="))


def test_troubleshooting_finds_the_line_that_refuses(kernel) -> None:
    nb = run_notebook(kernel, read_notebook(BUNDLED / "troubleshooting.ipynb"))
    both = cell_text(find(nb, 'for user in ("daemon", "nobody")'))
    assert "daemon   authenticate -> PAM_SUCCESS (0), acct_mgmt -> PAM_SUCCESS (0)" in both
    assert "nobody   authenticate -> PAM_SUCCESS (0), acct_mgmt -> PAM_PERM_DENIED (6)" in both
    refused = cell_text(find(nb, 't = pamexplorer.open("sshd", "nobody"'))
    assert refused.startswith("pam_acct_mgmt  PAM_PERM_DENIED (6)")
    bisect = cell_text(find(nb, "comment_out=(name, rule.line)")).splitlines()
    letting_in = [line for line in bisect if line.endswith("PAM_SUCCESS (0)")]
    assert len(bisect) == 5 and len(letting_in) == 1
    assert re.match(r"without sshd:5 +pam_access\.so", letting_in[0])
    simulated = cell_text(find(nb, "pamexplorer.simulate("))
    assert "pam_acct_mgmt  PAM_PERM_DENIED (6)" in simulated
    assert has_widget(find(nb, "Explorer(service="))


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_runs_as_a_notebook(kernel, path: Path) -> None:
    profile = load(path)
    reason = skip_reason(profile)
    if reason is not None:
        pytest.skip(reason)
    nb = run_notebook(kernel, read_notebook(dumps(lesson_notebook(profile))))
    markdown = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if profile.lesson is not None:
        assert profile.lesson.question.strip().splitlines()[0] in markdown
    start = find(nb, "t = pamexplorer.open(")
    assert cell_text(start).startswith("pam_start  PAM_SUCCESS (0)")
    checked = 0
    for cell in code_cells(nb):
        expected = re.search(r"# expected: (.*)$", cell.source)
        if expected is None:
            continue
        codes, _, decided_by = expected.group(1).partition("; decided by ")
        names = codes.split(" or ")
        shown = cell_text(cell)
        if decided_by:  # the trace's deciding rule, in the record's own lines
            decided = [x for x in shown.splitlines() if "trace: decided by " in x]
            assert len(decided) == 1 and f" {decided_by} " in decided[0] + " ", shown
        if "set_item" in cell.source or "putenv" in cell.source:  # they return the code
            assert any(shown.strip() == str(int(Code[name])) for name in names), shown
        else:
            assert any(f"{name} (" in shown.splitlines()[0] for name in names), shown
        checked += 1
    assert checked == len(profile.steps)
    assert "[ended]" in cell_text(find(nb, "t.close()"))
    assert has_widget(find(nb, "Explorer(service="))
