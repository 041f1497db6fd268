"""Reading what a program wrote to a pseudo-terminal, as the person in front of it would."""

from __future__ import annotations

import os
import select
import time


def read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 30.0) -> None:
    """Add what arrives on ``fd`` to ``seen`` until it holds ``needle``; fail (showing what
    came) at the timeout or at the end of the output."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"EOF before {needle!r} in {bytes(seen)!r}"
            seen += chunk
