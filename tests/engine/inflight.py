"""A libpam call left running in a worker thread while the test aborts, closes or times it out."""

from __future__ import annotations

import threading

from pamexplorer.engine import Session
from pamexplorer.pam.codes import Function


def call_in_thread(
    session: Session, function: Function = Function.AUTHENTICATE
) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``session.call(function)`` in a worker thread: the thread, and what the call
    raised (nothing while it runs, nor when it returned)."""
    raised: list[BaseException] = []

    def call() -> None:
        try:
            session.call(function)
        except BaseException as err:
            raised.append(err)

    worker = threading.Thread(target=call)
    worker.start()
    return worker, raised
