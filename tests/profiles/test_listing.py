"""`pamexplorer profiles` finds bundled and user profiles from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_profiles_json_from_elsewhere(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my-check.yaml").write_text("name: My check\nservice: login\nsteps: [acct_mgmt]\n")
    xdg = tmp_path / "xdg"
    (xdg / "pamexplorer" / "profiles").mkdir(parents=True)
    (xdg / "pamexplorer" / "profiles" / "xdg-one.yaml").write_text(
        "service: login\nsteps: [acct_mgmt]\n"
    )
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "local.yaml").write_text("service: x\nsteps: [nope]\n")
    env = dict(
        os.environ, PAMEXPLORER_PROFILES=str(mine), XDG_CONFIG_HOME=str(xdg), PYTHONPATH=str(ROOT)
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "profiles", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    entries = {e["name"]: e for e in json.loads(proc.stdout)}
    assert entries["my-check"] == {
        "name": "my-check",
        "title": "My check",
        "path": str(mine / "my-check.yaml"),
        "bundled": False,
    }
    assert entries["xdg-one"]["bundled"] is False
    assert entries["local"]["bundled"] is False and "error" in entries["local"]
    assert entries["lab-requisite"]["bundled"] is True
    assert entries["lab-requisite"]["title"] == "Keyword controls: requisite"
    assert sum(e["bundled"] for e in entries.values()) >= 14
    text = subprocess.run(
        [sys.executable, "-m", "pamexplorer", "profiles"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    ).stdout
    assert "my-check" in text and "lab-requisite" in text
