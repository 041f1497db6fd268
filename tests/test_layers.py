"""The layer picture of DESIGN.md, held by the imports themselves.

Two checks: a static one over every ``import`` in the package (module level and inside
functions alike), and a runtime one: importing every front-end module leaves libpam out of the
process (only engine children load it).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pamexplorer"

#: Highest layer first; a module may import its own layer or any layer below it, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pamexplorer.cli", "pamexplorer.__main__"),
    ("pamexplorer.tui", "pamexplorer.notebook"),
    (
        "pamexplorer.runner",
        "pamexplorer.report",
        "pamexplorer.calltext",
        "pamexplorer.explain",
        "pamexplorer.api",
        "pamexplorer.views",
    ),
    ("pamexplorer.session",),
    ("pamexplorer.profile",),
    ("pamexplorer.engine",),
    ("pamexplorer.stack", "pamexplorer.pamdirs", "pamexplorer.lab"),
    ("pamexplorer.pam",),
)
#: Siblings that must not import each other.
INDEPENDENT = (("pamexplorer.tui", "pamexplorer.notebook"),)
#: The ctypes side: libpam bindings and what builds records from them.
CTYPES_MODULES = ("pamexplorer.pam.libpam", "pamexplorer.pam.bridge", "pamexplorer.pam.transaction")
#: Who may import the ctypes side: pam/ itself and the child side of engine/.
CTYPES_IMPORTERS = (
    "pamexplorer.pam",
    "pamexplorer.engine.child",
    "pamexplorer.engine.forkserver",
    "pamexplorer.engine.tracer",
)
#: Modules that run only in an engine child (or the fork server): the runtime check skips them.
CHILD_SIDE = (*CTYPES_MODULES, *CTYPES_IMPORTERS[1:])


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _layer(module: str) -> int | None:
    for index, names in enumerate(LAYERS):
        if any(_under(module, name) for name in names):
            return index
    return None


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return [(line, name) for line, name in out if _under(name, "pamexplorer")]


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name refers to (``from pkg import mod`` names a module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_layers_only_import_downward() -> None:
    modules = _modules()
    problems = []
    for module, path in modules.items():
        own = _layer(module)
        for line, name in _imports(module, path):
            target = _known(name, modules)
            if target is None or target == "pamexplorer":
                continue
            theirs = _layer(target)
            if own is not None and theirs is not None and theirs < own:
                problems.append(f"{path.name}:{line}: {module} imports {target} (a higher layer)")
            for group in INDEPENDENT:
                mine = next((g for g in group if _under(module, g)), None)
                other = next((g for g in group if _under(target, g)), None)
                if mine and other and mine != other:
                    problems.append(f"{path.name}:{line}: {module} imports sibling {target}")
    assert problems == []


def test_ctypes_bindings_only_in_pam_and_the_engine_child() -> None:
    modules = _modules()
    problems = []
    for module, path in modules.items():
        if any(_under(module, allowed) for allowed in CTYPES_IMPORTERS):
            continue
        for line, name in _imports(module, path):
            target = _known(name, modules)
            if target in CTYPES_MODULES:
                problems.append(f"{path}:{line}: {module} imports {target}")
            if _under(name, "ctypes") or name == "pam":
                problems.append(f"{path}:{line}: {module} imports {name}")
    assert problems == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in _modules() if m != "pamexplorer" and _layer(m) is None] == []


FRONT_END_PROBE = """
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
maps = open('/proc/self/maps').read()
print('libpam.so' in maps, 'pam' in sys.modules)
"""


def test_front_end_modules_never_load_libpam() -> None:
    pytest.importorskip("textual")
    names = [
        m
        for m in _modules()
        if not any(_under(m, c) for c in CHILD_SIDE)
        and not m.endswith("__main__")
        and (
            not _under(m, "pamexplorer.notebook")
            or __import__("importlib.util").util.find_spec("ipywidgets") is not None
        )
    ]
    assert "pamexplorer.engine.client" in names and "pamexplorer.tui.app" in names
    result = subprocess.run(
        [sys.executable, "-c", FRONT_END_PROBE, *sorted(names)],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
