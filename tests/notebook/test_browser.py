"""The notebook face in a real browser: JupyterLab (and Notebook 7) started here on 127.0.0.1,
Debian's Chromium driven by Playwright. Open the getting-started notebook, run all, press
authenticate in the explorer, type the lab password into the prompt field: ``PAM_SUCCESS (0)``;
a wrong password: ``PAM_AUTH_ERR (7)``. The run takes a screenshot of the explorer; with
``PAMEXPLORER_SCREENSHOTS=1`` the JupyterLab run replaces the README's
``screenshots/notebook.png``.

Skips (saying why) where Chromium or Playwright is missing; CI (``.ci/run``) installs both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pamexplorer.notebook.lessons import BUNDLED
from tests.notebook.nbkit import REPO, repo_env

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "screenshots" / "notebook.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Generous: a shared 2-core machine may start JupyterLab and a kernel slowly.
WAIT_MS = 90_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (/usr/bin/chromium; CI installs it)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: (module to run, its app's config name, the notebook's URL path): JupyterLab, and Notebook 7
#: when it is installed (the jupyter extra brings JupyterLab only).
FRONT_ENDS = {
    "jupyterlab": ("jupyterlab", "LabApp", "lab/tree/getting-started.ipynb"),
    "notebook7": ("notebook", "JupyterNotebookApp", "notebooks/getting-started.ipynb"),
}


@pytest.fixture(params=sorted(FRONT_ENDS))
def jupyterlab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A JupyterLab (or Notebook 7) server on a free local port with a token, serving a copy
    of the getting-started notebook; its URL. Stopped (and waited for) afterwards."""
    module, app, url_path = FRONT_ENDS[request.param]
    pytest.importorskip(module, reason=f"{module} is not installed")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(BUNDLED / "getting-started.ipynb", root)
    port, token = free_port(), secrets.token_hex(16)
    env = repo_env()
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--{app}.expose_app_in_browser=True",
            *(
                [
                    "--LabApp.news_url=",
                    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                ]
                if app == "LabApp"
                else []
            ),
            "--ServerApp.terminals_enabled=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()}"
                    )
                time.sleep(0.2)
        yield f"{base}/{url_path}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_explorer_in_jupyterlab(jupyterlab: str, tmp_path: Path) -> None:
    readme = os.environ.get("PAMEXPLORER_SCREENSHOTS") == "1" and "/lab/tree/" in jupyterlab
    shot = SCREENSHOT if readme else tmp_path / "nb.png"
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            page.goto(jupyterlab)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                " && window.jupyterapp.shell.currentWidget.sessionContext"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                ".connectionStatus === 'connected'"
            )
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            explorer = page.locator(".pamx-explorer")
            explorer.wait_for()
            # The tour's cells ran in the kernel: the crash cell printed its one line.
            page.get_by_text("SIGSEGV during pam_start", exact=True).wait_for()

            def attempt(password: str, code: str) -> None:
                explorer.get_by_role("button", name="authenticate", exact=True).click()
                field = explorer.locator(".pamx-prompt input[type=password]")
                field.wait_for()
                field.fill(password)
                field.press("Enter")  # the field's value goes to the kernel, which answers
                entry = explorer.locator(".pamx-entry", has_text="pam_authenticate")
                try:
                    entry.filter(has_text=code).first.wait_for()
                except sync_api.TimeoutError:
                    pytest.fail(f"no {code} in the explorer:\n{explorer.inner_text()}")
                page.wait_for_function(
                    "() => !document.querySelector('.pamx-explorer input[type=password]')"
                )

            attempt("wonderland", "PAM_SUCCESS (0)")
            attempt("typed-in-the-browser", "PAM_AUTH_ERR (7)")
            entries = explorer.locator(".pamx-entry").all_inner_texts()
            calls = [e for e in entries if "pam_authenticate" in e]
            assert "PAM_SUCCESS (0)" in calls[0] and "PAM_AUTH_ERR (7)" in calls[1]
            assert "Authentication failure" in calls[1] and "********" in calls[1]
            # The per-module trace: the timeline names the deciding rule, the stack marks it.
            assert "trace: decided by lab-login:3 pam_deny.so (die)" in calls[1]
            stack_rows = explorer.locator("tr.decided-row").all_inner_texts()
            assert len(stack_rows) == 1 and "pam_deny.so" in stack_rows[0], stack_rows
            assert "PAM_AUTH_ERR (7) die" in stack_rows[0] and "decided" in stack_rows[0]
            body = page.locator("body").inner_text()
            assert "typed-in-the-browser" not in body  # the field was emptied and removed
            explorer.locator(".pamx-entry").last.scroll_into_view_if_needed()
            explorer.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
