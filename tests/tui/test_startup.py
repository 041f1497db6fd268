"""The first screen loads only what it shows: the picker lists services without the stack layer.

Checked in a fresh interpreter (this test process has everything imported already): building
the app and the picker, and listing every group the picker shows, leaves the resolver, the
simulator, the engine and the trace records unimported, and lists the very services the stack
layer's ``list_services`` (the CLI's lister) finds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pamexplorer.lab import LAB_SOURCE
from pamexplorer.stack import list_services
from tests.conftest import ServiceDirFactory

FIRST_SCREEN = """
import json, sys
from pathlib import Path
from pamexplorer.tui.app import LaunchOptions, PamExplorerApp
from pamexplorer.tui.screens.picker import PickerScreen
from pamexplorer.tui.sources import confdir_group, lab_group, system_group

app = PamExplorerApp(LaunchOptions(confdir=Path(sys.argv[1])))
screen = app.get_default_screen()
assert isinstance(screen, PickerScreen), screen
groups = [system_group(), confdir_group(Path(sys.argv[1])), lab_group()]
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("pamexplorer")),
    "groups": {g.key: list(g.services) for g in groups},
}))
"""

#: Loaded when a preview is read or a transaction opens, never for the first frame.
NOT_FOR_THE_FIRST_FRAME = (
    "pamexplorer.stack",
    "pamexplorer.engine",
    "pamexplorer.session",
    "pamexplorer.pam.codes",
    "pamexplorer.pam.records",
    "pamexplorer.tui.stack_rows",
    "pamexplorer.tui.widgets.timeline",
    "pamexplorer.tui.screens.transaction",
)


def test_the_picker_lists_services_without_loading_the_stack_layer(
    service_dir: ServiceDirFactory,
) -> None:
    confdir = service_dir(
        {
            "login": "auth required pam_permit.so\n",
            "other": "auth required pam_deny.so\n",
            "Capital": "auth required pam_permit.so\n",  # pam_start lowercases: never a service
            ".hidden": "auth required pam_permit.so\n",
        }
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", FIRST_SCREEN, str(confdir)],
        capture_output=True,
        text=True,
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    loaded = [
        m
        for m in shown["modules"]
        if any(m == heavy or m.startswith(heavy + ".") for heavy in NOT_FOR_THE_FIRST_FRAME)
    ]
    assert loaded == []
    assert shown["groups"] == {
        "system": [name for name, _ in list_services()],
        "confdir": [name for name, _ in list_services(str(confdir))],
        "lab": [name for name, _ in list_services(str(LAB_SOURCE / "pam.d"))],
    }
    assert shown["groups"]["confdir"] == ["login", "other"]
