"""pamexplorer: watch Linux-PAM work, one call at a time.

In Python (a notebook, a REPL): ``pamexplorer.open``, ``show``, ``codes``, ``simulate`` and
``run`` come from :mod:`pamexplorer.api`, imported on first use so the command line pays
nothing for them.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("open", "show", "codes", "simulate", "run", "LiveTransaction", "EngineCrashed")


def __getattr__(name: str) -> Any:
    if name in _API:
        from pamexplorer import api

        return getattr(api, name)
    raise AttributeError(f"module 'pamexplorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
