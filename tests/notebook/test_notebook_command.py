"""``pamexplorer notebook LESSON [-o FILE.ipynb]`` as a user runs it: a real process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.conftest import run_cli
from tests.notebook.nbkit import REPO


def test_a_lesson_becomes_a_notebook(tmp_path: Path) -> None:
    result = run_cli("notebook", "lab-requisite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "wrote lab-requisite.ipynb\n"
    nb = json.loads((tmp_path / "lab-requisite.ipynb").read_text())
    assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
    kinds = [c["cell_type"] for c in nb["cells"]]
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources[0].startswith("# Keyword controls: requisite")
    assert sources[1].startswith("## Question")
    assert any(s.startswith("## Hints") for s in sources)
    assert any(s.startswith("## Explanation") for s in sources)
    assert "t.authenticate()  # expected: PAM_AUTH_ERR" in sources
    assert kinds[-1] == "code" and "Explorer(service='lab-requisite'" in sources[-1]
    assert all(c.get("id") for c in nb["cells"])


def test_output_options_and_refusals(tmp_path: Path) -> None:
    out = tmp_path / "mine.ipynb"
    assert run_cli("notebook", "lab-items", "-o", str(out), cwd=tmp_path).returncode == 0
    again = run_cli("notebook", "lab-items", "-o", str(out), cwd=tmp_path)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr == f"pamexplorer: {out}: -o: the file exists (use --force to replace it)\n"
    forced = run_cli("notebook", "lab-jumps", "-o", str(out), "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "lab-jumps" in out.read_text()
    stdout = run_cli("notebook", "getting-started", "-o", "-", cwd=tmp_path)
    assert stdout.returncode == 0
    assert json.loads(stdout.stdout)["cells"][0]["source"][0].startswith("# Getting started")
    missing = run_cli("notebook", "no-such-lesson", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("pamexplorer: no-such-lesson:1:")
    assert "Traceback" not in missing.stderr
    nowhere = run_cli("notebook", "lab-items", "-o", str(tmp_path / "no" / "x.ipynb"), cwd=tmp_path)
    assert nowhere.returncode == 2 and "expected a file in an existing directory" in nowhere.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/null"):
        special = run_cli("notebook", "lab-items", "-o", target, "--force", cwd=tmp_path)
        assert special.returncode == 2 and "expected a regular file" in special.stderr
    assert Path("/dev/null").is_char_device()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "mine.ipynb"]


def test_a_bundled_notebook_is_copied_as_shipped(tmp_path: Path) -> None:
    assert run_cli("notebook", "troubleshooting", cwd=tmp_path).returncode == 0
    shipped = REPO / "pamexplorer" / "notebooks" / "troubleshooting.ipynb"
    assert (tmp_path / "troubleshooting.ipynb").read_text() == shipped.read_text()


def test_lesson_text_cannot_inject_markup_or_code(tmp_path: Path) -> None:
    profile = tmp_path / "evil.yaml"
    profile.write_text(
        "name: '<script>alert(1)</script>'\n"
        "service: \"x');__import__('os');('\"\n"
        "config: lab\n"
        "user: alice\n"
        "steps:\n  - authenticate\n"
        "lesson:\n  question: <img src=x onerror=alert(1)>\n"
    )
    result = run_cli("notebook", str(profile), "-o", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    nb = json.loads(result.stdout)
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert sources[0].startswith("# &lt;script&gt;alert(1)&lt;/script&gt;")
    assert "&lt;img src=x onerror=alert(1)&gt;" in sources[1]
    code = "\n".join(
        s for c, s in zip(nb["cells"], sources, strict=True) if c["cell_type"] == "code"
    )
    compile(code.replace("await ", ""), "cells", "exec")  # valid Python: the name is a literal
    assert "pamexplorer.show(\"x');__import__('os');('\", lab=True)" in code
