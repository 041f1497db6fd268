"""Every log line still reaches syslog, exactly as without the shim.

There is no /dev/log on these machines: as root, a private mount namespace (``unshare
--mount``) gets a tmpfs over /dev (with null, zero, urandom bound back) and a datagram socket
bound at /dev/log; the same module logs once untraced and once traced, and the syslog socket
must receive the same lines both times.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from trace_csrc import LOGGER

ServiceDir = Callable[[dict[str, str]], Path]
FlaggedModule = Callable[[str, str, Sequence[str]], Path]

ROOT = Path(__file__).resolve().parent.parent.parent

SCRIPT = textwrap.dedent(
    r"""
    import json, os, re, socket, subprocess, sys, tempfile
    confdir = sys.argv[1]
    old = tempfile.mkdtemp()
    def run(*argv):
        subprocess.run(argv, check=True, capture_output=True)
    run("mount", "--make-rprivate", "/")
    run("mount", "--rbind", "/dev", old)
    run("mount", "-t", "tmpfs", "tmpfs", "/dev")
    for name in ("null", "zero", "urandom", "random", "full"):
        if os.path.exists(os.path.join(old, name)):
            open(os.path.join("/dev", name), "w").close()
            run("mount", "--bind", os.path.join(old, name), os.path.join("/dev", name))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("/dev/log")
    listener.settimeout(0.5)

    from pamexplorer.engine.tracer import TracedTransaction
    from pamexplorer.pam.codes import Function
    from pamexplorer.pam.transaction import Transaction

    head = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d [^ :]*: ")
    def drain():
        got = []
        while True:
            try:
                data = listener.recv(65536).decode()
            except socket.timeout:
                return got
            match = head.match(data)
            got.append([int(match.group(1)), data[match.end():]] if match else [-1, data])

    out = {}
    for name, kind in (("plain", Transaction), ("traced", TracedTransaction)):
        txn = kind("svc", "alice", confdir=confdir)
        txn.start()
        record = txn.call(Function.AUTHENTICATE)
        txn.end()
        out[name] = drain()
        if record.trace is not None:
            out["trace"] = [[l.priority, l.text] for l in record.trace.modules[0].log]
    print(json.dumps(out))
    """
)


def test_log_lines_are_forwarded_to_syslog(
    flagged_module: FlaggedModule, service_dir: ServiceDir, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    logger = flagged_module("logger", LOGGER, ("-O2", "-D_FORTIFY_SOURCE=2"))
    confdir = service_dir({"svc": f"auth required {logger} forwarded 0\n"})
    script = tmp_path / "listen.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "--mount", sys.executable, str(script), str(confdir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if (
        done.returncode != 0
        and "unshare" in done.stderr
        and "Operation not permitted" in done.stderr
    ):
        pytest.skip(f"unshare refused here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    texts = [text for _, text in out["traced"]]
    assert [p for p, _ in out["traced"]] == [p for p, _ in out["plain"]]
    assert out["traced"] == out["plain"]  # byte for byte, as without the shim
    assert texts[0] == "PAM _pam_init_handlers: no default config other"  # pam_start's
    assert len(texts) == 6 and texts[-1] == "errno forwarded No such file or directory"
    assert [text for _, text in out["trace"]] == texts[1:]  # the trace holds the same lines
    # same levels (syslog adds the default facility, LOG_USER, where the caller gave none)
    assert [p & 7 for p, _ in out["trace"]] == [p & 7 for p, _ in out["traced"][1:]]
