"""The conversation the explorer hands the engine: one modal per prompt.

Info and error messages are not modal: the session reports them as events (the timeline
shows them) and they get no answer (``None``), as libpam expects. Cancelling a prompt raises
``ConversationAborted``, so the module sees ``PAM_CONV_ERR``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from textual.app import App

from pamexplorer.pam.codes import MessageStyle
from pamexplorer.pam.conversation import ConversationAborted, Message
from pamexplorer.pam.secrets import Secrets
from pamexplorer.tui.screens.conversation import ConversationModal


class ScreenConversation:
    """Answers a module's messages by asking the person at the screen."""

    def __init__(
        self, app: App[object], function: Callable[[], str], secrets: Secrets | None = None
    ) -> None:
        self.app = app
        self.function = function
        #: Echo-off answers typed here: the screen scrubs them from what modules send back.
        self.secrets = secrets
        self.modal: ConversationModal | None = None

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        answers: list[str | None] = []
        for message in messages:
            if not message.style.is_prompt:
                answers.append(None)
                continue
            if self.secrets is not None:
                message = Message(message.style, self.secrets.scrub(message.text))
            answer = await self.ask(message)
            if answer is None:
                raise ConversationAborted("the prompt was cancelled")
            if self.secrets is not None and message.style == MessageStyle.PAM_PROMPT_ECHO_OFF:
                self.secrets.add(answer)
            answers.append(answer)
        return answers

    async def ask(self, message: Message) -> str | None:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def answered(answer: str | None) -> None:
            self.modal = None
            if not future.done():
                future.set_result(answer)

        self.modal = ConversationModal(message.style, message.text, self.function())
        await self.app.push_screen(self.modal, callback=answered)
        return await future

    def cancel(self) -> None:
        """Close an open prompt as if Escape was pressed (used when a call is aborted)."""
        modal = self.modal
        if modal is not None and modal.is_current:
            modal.dismiss(None)
