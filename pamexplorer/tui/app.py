"""The interactive explorer: ``pamexplorer`` with no subcommand.

The app itself only chooses the first screen and offers app-wide keys (code reference, themes,
quit). Every screen's keys are also offered in the command palette (``ctrl+p``), so nothing is
reachable only by mouse or only by a key a person has to guess.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib
import os
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from pamexplorer.tui.messages import (
    BackToPicker,
    LeaveRun,
    LeaveTransaction,
    RunOpened,
    TransactionOpened,
)
from pamexplorer.tui.sources import LAB_USER

if TYPE_CHECKING:
    from pamexplorer.engine.aio import AsyncEngine
    from pamexplorer.runner import ProfileRun
    from pamexplorer.session import PamSession, SessionEvent

#: How long quitting waits for the transactions still ending before it kills their children.
ENDING_GRACE_S = 10.0


@dataclass(frozen=True)
class LaunchOptions:
    """What the command line asked for."""

    confdir: Path | None = None
    lab: bool = False
    service: str | None = None
    user: str | None = None
    profile: str | None = None
    #: Screenshots and snapshot tests: no temporary paths, no blinking cursor, no animation.
    stable: bool = False
    #: With ``stable``: show the calls' real durations (screenshots) instead of ``-- ms``
    #: (snapshot tests, whose runs must draw the same every time).
    durations: bool = False


def invoking_user() -> str:
    """The person running pamexplorer (the one behind sudo, if any)."""
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user:
        return sudo_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "root" if os.getuid() == 0 else str(os.getuid())


class PamExplorerApp(App[int]):
    """Pick a service, step through its PAM calls, see every return code."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "pamexplorer"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("question_mark", "codes", "Codes", key_display="?"),
        Binding("t", "change_theme", "Theme", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, options: LaunchOptions | None = None) -> None:
        self.options = options or LaunchOptions()
        super().__init__()
        if self.options.stable:
            self.animation_level = "none"
        self._engine: AsyncEngine | None = None
        self._cleanup = ExitStack()
        self._lab_dir: Path | None = None
        #: Transactions open on some screen: ended (or killed) when the app quits.
        self.open_sessions: set[PamSession] = set()
        #: Profile runs under way on some screen: ended (or killed) when the app quits.
        self.open_runs: set[ProfileRun] = set()
        #: Transactions and runs left behind by screens, ended in the background: task -> them.
        self._ending: dict[asyncio.Task[None], PamSession | ProfileRun] = {}

    def user_for(self, group: str) -> str:
        """The user a new screen starts with: the one asked for, the lab's ``alice`` in the
        lab, else the person running pamexplorer."""
        if self.options.user:
            return self.options.user
        if group == "lab":
            return LAB_USER
        return invoking_user()

    @property
    def hide_durations(self) -> bool:
        return self.options.stable and not self.options.durations

    @property
    def engine(self) -> AsyncEngine:
        """The engine's asyncio client, created on first use (the app starts without it)."""
        if self._engine is None:
            from pamexplorer.engine import AsyncEngine

            self._engine = AsyncEngine()
        return self._engine

    def lab_dir(self) -> Path:
        """The bundled lab's service directory, materialized once and removed on exit."""
        if self._lab_dir is None:
            from pamexplorer.lab import lab_confdir

            self._lab_dir = self._cleanup.enter_context(lab_confdir())
        return self._lab_dir

    def on_ready(self) -> None:
        """Warm the engine once the first screen shows, so the first pam_start is quick."""
        self.run_worker(self._prestart(), group="prestart", exit_on_error=False)

    async def _prestart(self) -> None:
        # the engine's modules load in a thread: the first screen answers keys meanwhile
        await asyncio.to_thread(importlib.import_module, "pamexplorer.engine")
        await self.engine.prestart()

    @on(TransactionOpened)
    def transaction_opened(self, message: TransactionOpened) -> None:
        session = message.session
        if session.state.over:
            return
        self.open_sessions.add(session)

        def forget(event: SessionEvent) -> None:
            if session.state.over:
                self.open_sessions.discard(session)

        session.subscribe(forget)

    @on(LeaveTransaction)
    def leave_transaction(self, message: LeaveTransaction) -> None:
        self.end_session(message.session)

    @on(RunOpened)
    def run_opened(self, message: RunOpened) -> None:
        self.open_runs.add(message.run)

    @on(LeaveRun)
    def leave_run(self, message: LeaveRun) -> None:
        self.end_run(message.run)

    def end_run(self, run: ProfileRun) -> None:
        """Finish a profile run a screen leaves behind, as :meth:`end_session` does: a step
        in flight is killed, an idle transaction gets pam_end in the background."""
        self.open_runs.discard(run)
        if run.state is not None and not run.state.over:
            self._finish(run)

    @on(BackToPicker)
    def back(self) -> None:
        self.back_to_picker()

    def end_session(self, session: PamSession) -> None:
        """Finish a transaction a screen leaves behind (back, restart, unmount, quit).

        ``PamSession.close``: a call in flight is killed at once (its module may never return);
        an idle transaction gets ``pam_end`` (modules' cleanups run) in the background, and
        quitting waits for it.
        """
        self.open_sessions.discard(session)
        if not session.state.over:
            self._finish(session)

    def _finish(self, owner: PamSession | ProfileRun) -> None:
        """Close a session or run in the background (once): a call in flight is killed now."""
        if owner in self._ending.values():
            return
        owner.abort()  # nothing to kill when idle; killed now, not when the task first runs
        task = asyncio.get_running_loop().create_task(owner.close())
        self._ending[task] = owner
        task.add_done_callback(lambda done: self._ending.pop(done, None))

    async def action_quit(self) -> None:
        """Quit at once: calls in flight are killed now, idle transactions get pam_end
        (quitting waits for those, at most ENDING_GRACE_S)."""
        for session in list(self.open_sessions):
            self.end_session(session)
        for run in list(self.open_runs):
            self.end_run(run)
        self.exit()

    async def on_unmount(self) -> None:
        # The screens are unmounted first, so every transaction they left is ending here.
        if self._ending:
            _, pending = await asyncio.wait(list(self._ending), timeout=ENDING_GRACE_S)
            for task in pending:  # a module's cleanup that hangs: kill its child
                self._ending[task].abort()
                task.cancel()
        self._cleanup.close()

    def back_to_picker(self) -> None:
        """Leave the current screen for the one below it, or for the service picker when it
        is the first screen (it cannot be switched away: Textual keeps no result for it)."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        else:
            from pamexplorer.tui.screens.picker import PickerScreen

            self.push_screen(PickerScreen())

    @property
    def stable(self) -> bool:
        return self.options.stable

    def get_default_screen(self) -> Screen[None]:
        options = self.options
        if options.profile:
            from pamexplorer.tui.screens.profile import ProfileScreen

            return ProfileScreen(options.profile)
        if options.service:
            from pamexplorer.tui.screens.transaction import TransactionScreen

            if options.lab:
                return TransactionScreen(options.service, self.lab_dir(), group="lab")
            return TransactionScreen(options.service, options.confdir)
        from pamexplorer.tui.screens.picker import PickerScreen

        return PickerScreen()

    def action_codes(self, code: int | None = None) -> None:
        """Open the code reference (on ``code`` if given)."""
        from pamexplorer.tui.screens.codes import CodeReferenceScreen

        if isinstance(self.screen, CodeReferenceScreen):
            return
        self.push_screen(CodeReferenceScreen(code))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every key of the current screen and the app, then Textual's own commands."""
        seen: set[str] = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or not active.enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            shown = binding.key_display or self.get_key_display(binding)
            yield SystemCommand(
                f"{binding.description} ({shown})",
                binding.tooltip or f"Same as pressing {shown or key}",
                partial(self.call_later, self.run_action, binding.action, active.node),
            )
        yield from super().get_system_commands(screen)
