"""The six stack calls by name, over one ``call(function, flags)``.

Shared by everything that offers a transaction to a person or a test: the in-process
``Transaction`` and the notebook API's live transaction.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pamexplorer.pam.codes import Function

Result = TypeVar("Result")


class NamedCalls(Generic[Result]):
    """``authenticate()``, ``acct_mgmt()``, ... each the same as ``call(Function.X, flags)``."""

    def call(self, function: Function, flags: Any = 0) -> Result:
        raise NotImplementedError

    def authenticate(self, flags: Any = 0) -> Result:
        return self.call(Function.AUTHENTICATE, flags)

    def setcred(self, flags: Any = 0) -> Result:
        return self.call(Function.SETCRED, flags)

    def acct_mgmt(self, flags: Any = 0) -> Result:
        return self.call(Function.ACCT_MGMT, flags)

    def open_session(self, flags: Any = 0) -> Result:
        return self.call(Function.OPEN_SESSION, flags)

    def close_session(self, flags: Any = 0) -> Result:
        return self.call(Function.CLOSE_SESSION, flags)

    def chauthtok(self, flags: Any = 0) -> Result:
        return self.call(Function.CHAUTHTOK, flags)
