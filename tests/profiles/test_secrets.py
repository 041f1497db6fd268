"""A secret given through {env: NAME} never shows, even when a module echoes it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pamexplorer.cli import main
from pamexplorer.profile import EnvAnswer, load
from pamexplorer.report import render
from pamexplorer.runner import run_profile

ModuleFactory = Callable[[str, str], Path]

SECRET = "s3cr3t-Tok3n-4711"

# Asks with echo ON (so nothing redacts it by style), then leaks the answer everywhere it can:
# an info message, the PAM environment, stdout and syslog (a log line of the trace).
LEAKY = """
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    const struct pam_conv *conv;
    struct pam_message m1 = {PAM_PROMPT_ECHO_ON, "Token:"};
    const struct pam_message *pm1[1] = {&m1};
    struct pam_response *r = NULL, *r2 = NULL;
    char buf[256];
    if (pam_get_item(h, PAM_CONV, (const void **)&conv) != PAM_SUCCESS) return 4;
    if (conv->conv(1, pm1, &r, conv->appdata_ptr) != 0 || !r || !r[0].resp) return 19;
    snprintf(buf, sizeof buf, "you typed %s", r[0].resp);
    struct pam_message m2 = {PAM_TEXT_INFO, buf};
    const struct pam_message *pm2[1] = {&m2};
    conv->conv(1, pm2, &r2, conv->appdata_ptr);
    snprintf(buf, sizeof buf, "LEAK=%s", r[0].resp);
    pam_putenv(h, buf);
    printf("stdout says %s\\n", r[0].resp);
    syslog(LOG_NOTICE, "syslog says %s", r[0].resp);
    fflush(stdout);
    free(r[0].resp); free(r);
    return 7;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *h, int f, int c, const char **v) { return 0; }
"""


@pytest.fixture
def leaky_profile(tmp_path: Path, c_module: ModuleFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    so = c_module("leaky", LEAKY)
    monkeypatch.setenv("PAMEXPLORER_TEST_TOKEN", SECRET)
    path = tmp_path / "leaky.yaml"
    path.write_text(f"""
name: Leaky
service: svc
config: {{svc: "auth required {so}"}}
user: alice
answers:
  - match: Token
    answer: {{env: PAMEXPLORER_TEST_TOKEN}}
steps:
  - authenticate:
      expect_env: {{LEAK: something-else}}
      expect_messages: [nothing-like-this]
""")
    return path


def test_secret_absent_from_every_format(leaky_profile: Path) -> None:
    result = run_profile(load(leaky_profile))
    assert result.status == "failed"
    auth = result.steps[1]
    assert auth.messages[0]["text"] == "Token:"
    assert auth.messages[0]["answer"] == "********"
    assert auth.messages[1]["text"] == "you typed ********"
    assert auth.env["LEAK"] == "********"
    assert auth.log == ("notice: syslog says ********",)
    assert auth.decided_by is not None and auth.decided_by.endswith("(bad)")
    for fmt in ("text", "json", "junit"):
        rendered = render([result], fmt)
        assert SECRET not in rendered, fmt
        assert "********" in rendered, fmt
    assert SECRET not in repr(result)
    assert SECRET not in str(result.reason)


def test_secret_absent_from_cli_output(
    leaky_profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("text", "json", "junit"):
        status = main(["run", "--format", fmt, str(leaky_profile)])
        out, err = capsys.readouterr()
        assert status == 1
        assert SECRET not in out and SECRET not in err, fmt
    status = main(["run", "--format", "json", str(leaky_profile)])
    data = json.loads(capsys.readouterr().out)
    assert data["steps"][1]["output"] == ["stdout says ********"]
    assert data["steps"][1]["log"] == ["syslog says ********"]
    assert [x for m in data["steps"][1]["modules"] for x in m["log"]] == ["syslog says ********"]


def test_profile_keeps_the_source_not_the_value(leaky_profile: Path) -> None:
    profile = load(leaky_profile)
    run_profile(profile)
    assert profile.answers == (EnvAnswer("PAMEXPLORER_TEST_TOKEN", match="Token"),)
    assert SECRET not in repr(profile)


# Looks for the secret's variable in everything the engine child could show of an environment:
# its environ (getenv) and the block /proc/self/environ reads (kept from the exec that made it).
ENV_PROBE = """
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
PAM_EXTERN int pam_sm_authenticate(pam_handle_t *h, int f, int c, const char **v) {
    char block[65536];
    size_t n, i;
    FILE *env = fopen("/proc/self/environ", "r");
    if (getenv("PAMEXPLORER_TEST_TOKEN")) return 7;
    if (!env) return 4;
    n = fread(block, 1, sizeof block - 1, env);
    fclose(env);
    for (i = 0; i < n; i++) if (!block[i]) block[i] = '\\n';
    block[n] = 0;
    return strstr(block, "PAMEXPLORER_TEST_TOKEN") ? 7 : 0;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *h, int f, int c, const char **v) { return 0; }
"""


def test_secret_source_variable_never_reaches_the_engine_child(
    tmp_path: Path, c_module: ModuleFactory
) -> None:
    so = c_module("envprobe-profile", ENV_PROBE)
    path = tmp_path / "probe.yaml"
    path.write_text(f"""
name: Probe
service: svc
config: {{svc: "auth required {so}"}}
user: alice
answers:
  - answer: {{env: PAMEXPLORER_TEST_TOKEN}}
steps:
  - authenticate: {{expect: PAM_SUCCESS}}
""")
    # A whole `pamexplorer run` process, started with the secret in its environment.
    done = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "run", str(path)],
        env={**os.environ, "PAMEXPLORER_TEST_TOKEN": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
