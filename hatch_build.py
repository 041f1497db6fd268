"""Build hook: compile the trace shim (pamexplorer/engine/trace/pamtrace.c) at install time.

``pip install .`` and editable installs both run it. Without a C compiler the install still
succeeds: a warning is printed, no shim is shipped, and every face says "trace unavailable:
built without a C compiler".
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
RELATIVE = "pamexplorer/engine/trace/_pamtrace.so"


def _build_module() -> Any:
    """pamexplorer/engine/trace/build.py, loaded by path (the package is not installed yet)."""
    path = ROOT / "pamexplorer" / "engine" / "trace" / "build.py"
    spec = importlib.util.spec_from_file_location("_pamexplorer_trace_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_shim(root: Path = ROOT) -> str | None:
    """Build the shim into the source tree; None when built, else why not."""
    build = _build_module()
    return build.build_shim(root / RELATIVE, root / "pamexplorer/engine/trace/pamtrace.c")


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        problem = compile_shim(Path(self.root))
        if problem is not None:
            print(f"pamexplorer: warning: trace shim not built ({problem})", file=sys.stderr)
            return
        if version != "editable":  # an editable install reads the source tree directly
            build_data["force_include"][str(Path(self.root) / RELATIVE)] = RELATIVE
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
