"""What an engine child inherits from whoever forks it (pure data: front ends import it)."""

from __future__ import annotations

from collections.abc import Mapping

#: Variables an engine child keeps from whoever forked it; nothing else passes (a profile's
#: secret may sit in the front end's environment).
INHERITED_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def child_environment(source: Mapping[str, str]) -> dict[str, str]:
    """The environment an engine child runs with, taken from ``source``."""
    env = {k: source[k] for k in INHERITED_ENV if k in source}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update({k: v for k, v in source.items() if k.startswith("LC_")})
    return env
