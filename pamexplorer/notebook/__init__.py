"""The Jupyter face: the widget :class:`Explorer` (needs ``pip install 'pamexplorer[jupyter]'``)
and lessons written out as notebooks (:mod:`pamexplorer.notebook.lessons`, no extra needed)."""

from typing import Any

__all__ = ["Explorer"]


def __getattr__(name: str) -> Any:
    # ipywidgets is imported only when the explorer is asked for: writing a lesson notebook
    # (``pamexplorer notebook LESSON``) works on the core install.
    if name == "Explorer":
        from pamexplorer.notebook.explorer import Explorer

        return Explorer
    raise AttributeError(f"module 'pamexplorer.notebook' has no attribute {name!r}")
