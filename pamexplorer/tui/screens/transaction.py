"""The transaction screen: the stack, the calls made so far, and what the selected one means.

Every libpam call runs in the engine's child process, awaited from a worker, so the screen keeps
answering keys while a module thinks, hangs or crashes. ``k`` aborts a call in flight.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from pamexplorer.pam.codes import Flag, Function, flag_names, item_by_name
from pamexplorer.tui.render import code_label
from pamexplorer.tui.widgets.call_detail import CallDetail
from pamexplorer.tui.widgets.stack_view import StackView
from pamexplorer.tui.widgets.timeline import Entry, Timeline

if TYPE_CHECKING:
    from pamexplorer.pam.conversation import Message
    from pamexplorer.pam.records import CallRecord
    from pamexplorer.tui.conversation import ScreenConversation

CALL_KEYS = {
    "authenticate": Function.AUTHENTICATE,
    "acct_mgmt": Function.ACCT_MGMT,
    "setcred": Function.SETCRED,
    "open_session": Function.OPEN_SESSION,
    "close_session": Function.CLOSE_SESSION,
    "chauthtok": Function.CHAUTHTOK,
}
_IDLE_ONLY = {"new", "call", "setcred", "end", "flags", "items", "environment", "user"}


class TransactionScreen(Screen[None]):
    """One service, one user, a sequence of transactions, one call at a time."""

    BINDINGS = [
        Binding("n", "new", "New", tooltip="pam_start a new transaction (ends the open one)"),
        Binding("a", "call('authenticate')", "Auth", tooltip="pam_authenticate"),
        Binding("m", "call('acct_mgmt')", "Acct", tooltip="pam_acct_mgmt"),
        Binding("c", "setcred", "Cred", tooltip="pam_setcred, choosing its flag"),
        Binding("o", "call('open_session')", "Open", tooltip="pam_open_session"),
        Binding("x", "call('close_session')", "Close", tooltip="pam_close_session"),
        Binding("p", "call('chauthtok')", "Passwd", tooltip="pam_chauthtok"),
        Binding("e", "end", "End", tooltip="pam_end: finish the transaction"),
        Binding("k", "abort", "Abort", tooltip="Kill the call in flight (a hung module)"),
        Binding("f", "flags", "Flags", tooltip="Flags for the next call"),
        Binding("i", "items", "Items", tooltip="Edit PAM items (tty, rhost, ruser, ...)"),
        Binding("v", "environment", "Env", tooltip="Show the PAM environment, pam_putenv"),
        Binding("u", "user", "User", tooltip="Change the user"),
        Binding("escape", "back", "Back", tooltip="Back to the service list"),
    ]
    AUTO_FOCUS = "#timeline"

    def __init__(self, service: str, confdir: Path | None = None, group: str = "") -> None:
        super().__init__()
        self.service = service
        self.confdir = confdir
        self.group = group
        self.session: Any = None  # the engine's async session while a transaction is open
        self.busy = False
        self.next_flags = 0
        self.items: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.last_record: CallRecord | None = None
        self.conversation: ScreenConversation | None = None
        self.in_flight = ""
        self.running_index: int | None = None

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with Horizontal(id="transaction-body"):
            with VerticalScroll(id="stack-panel") as stack:
                stack.border_title = "Stack"
                yield StackView(id="stack")
            with Vertical(id="calls-column"):
                timeline = Timeline(id="timeline")
                timeline.border_title = "Calls"
                yield timeline
                detail = CallDetail(id="detail")
                detail.border_title = "Selected call"
                yield detail
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.service
        self.query_one(StackView).load(self.service, self.confdir)
        self.query_one("#stack-panel").border_subtitle = self.where
        self.update_status()

    @property
    def where(self) -> str:
        if self.group:
            return self.group
        return "system" if self.confdir is None else "confdir"

    @property
    def stable(self) -> bool:
        return bool(getattr(self.app, "stable", False))

    @property
    def user(self) -> str:
        return str(getattr(self.app, "user", ""))

    @property
    def timeline(self) -> Timeline:
        return self.query_one(Timeline)

    def update_status(self) -> None:
        text = Text()
        text.append(" service ", style="dim")
        text.append(self.service, style="bold")
        text.append("  user ", style="dim")
        text.append(self.user, style="bold")
        text.append("  ")
        if self.busy:
            text.append(f"{self.in_flight} running", style="bold yellow")
        elif self.session is not None:
            text.append("transaction open", style="bold green")
        else:
            text.append("no transaction", style="dim")
        if self.next_flags:
            text.append("  next flags ", style="dim")
            text.append("|".join(flag_names(self.next_flags)), style="bold")
        self.query_one("#status", Static).update(text)

    def set_busy(self, busy: bool, function: str = "") -> None:
        self.busy = busy
        self.in_flight = function if busy else ""
        self.update_status()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return True if self.busy else None
        if action in _IDLE_ONLY and self.busy:
            return None
        return True

    # -- timeline -------------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one(CallDetail).show(self.timeline.selected_entry)

    def note(self, title: str, detail: str = "") -> None:
        self.timeline.add(Entry("note", title, detail=detail))

    def live_message(self, message: Message) -> None:
        """An info or error message arriving during a call: shown at once under the call."""
        if self.running_index is None:
            return
        entry = self.timeline.entries[self.running_index]
        entry.live.append(message)
        self.timeline.refresh_entry(self.running_index)

    def record(self, record: CallRecord, index: int | None = None) -> None:
        self.last_record = record
        entry = Entry("call", record.function, record=record, flags=record.flags)
        if index is None:
            self.timeline.add(entry)
        else:
            self.timeline.replace(index, entry)

    # -- actions --------------------------------------------------------------------------
    def action_new(self) -> None:
        self.run_calls(None, 0, restart=True)

    def action_call(self, name: str) -> None:
        flags, self.next_flags = self.next_flags, 0
        self.run_calls(CALL_KEYS[name], flags)

    def action_setcred(self) -> None:
        from pamexplorer.tui.screens.flags import FlagsModal

        def chosen(flags: int | None) -> None:
            if flags is not None:
                self.next_flags = 0
                self.run_calls(Function.SETCRED, flags)

        selected = self.next_flags or Flag.PAM_ESTABLISH_CRED
        self.app.push_screen(
            FlagsModal("pam_setcred flags", selected, Function.SETCRED.flags), chosen
        )

    def action_flags(self) -> None:
        from pamexplorer.tui.screens.flags import FlagsModal

        def chosen(flags: int | None) -> None:
            if flags is not None:
                self.next_flags = flags
                self.update_status()

        self.app.push_screen(FlagsModal("Flags for the next call", self.next_flags), chosen)

    def action_end(self) -> None:
        if self.session is None:
            self.notify("No transaction is open.", severity="warning")
            return
        self.end_transaction()

    def action_abort(self) -> None:
        if not self.busy or self.session is None:
            return
        if self.conversation is not None:
            self.conversation.cancel()
        self.session.abort()

    def action_items(self) -> None:
        from pamexplorer.tui.screens.items import ItemsModal

        values: dict[str, str | None] = {}
        if self.last_record is not None and self.session is not None:
            values.update(self.last_record.items)
        values.update(self.items)
        self.app.push_screen(ItemsModal(values), self.apply_items)

    def apply_items(self, changed: dict[str, str] | None) -> None:
        if not changed:
            return
        self.items.update(changed)
        if self.session is not None:
            self.set_items_now(changed)
        else:
            shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
            self.note("items for the next pam_start", shown)

    def action_environment(self) -> None:
        from pamexplorer.tui.screens.environment import EnvironmentModal

        env = dict(self.last_record.env) if self.last_record and self.session else {}
        if self.session is None:
            env.update(self.env)
        self.app.push_screen(EnvironmentModal(env, self.session is not None), self.apply_env)

    def apply_env(self, line: str | None) -> None:
        if not line:
            return
        if self.session is not None:
            self.putenv_now(line)
            return
        name, sep, value = line.partition("=")
        if sep:
            self.env[name] = value
        else:
            self.env.pop(name, None)
        self.note("PAM environment for the next pam_start", line)

    def action_user(self) -> None:
        from pamexplorer.tui.screens.ask import AskModal

        def chosen(user: str | None) -> None:
            if user is None or not user.strip():
                return
            self.app.user = user.strip()  # type: ignore[attr-defined]
            self.update_status()
            if self.session is not None:
                self.set_items_now({"user": user.strip()})
            else:
                self.note(f"user for the next pam_start: {user.strip()}")

        self.app.push_screen(AskModal("User", "User name for pam_start:", self.user), chosen)

    def action_back(self) -> None:
        self.leave_session()
        self.app.back_to_picker()  # type: ignore[attr-defined]

    def leave_session(self) -> None:
        """Hand the open transaction to the app to finish: pam_end when idle (in the
        background; quitting waits for it), killed when a call is in flight."""
        session, self.session = self.session, None
        if session is not None:
            self.app.end_session(session, in_flight=self.busy)  # type: ignore[attr-defined]

    # -- engine work (workers) ------------------------------------------------------------
    def engine(self) -> Any:
        return self.app.engine  # type: ignore[attr-defined]

    def run_calls(self, function: Function | None, flags: int, restart: bool = False) -> None:
        if self.begin_request(function.value if function else "pam_start"):
            self.call_worker(function, flags, restart)

    @work(group="pam", exit_on_error=False)
    async def call_worker(self, function: Function | None, flags: int, restart: bool) -> None:
        try:
            if restart and self.session is not None:
                await self.close_session(show=True)
            if self.session is None and not await self.start_transaction():
                return
            if function is not None:
                await self.call(function, flags)
        except Exception as err:  # never let a worker take the app down
            self.timeline.add(
                Entry("crash", f"internal error: {type(err).__name__}", detail=str(err))
            )
        finally:
            self.set_busy(False)

    async def start_transaction(self) -> bool:
        from pamexplorer.engine import EngineCrashed, EngineError
        from pamexplorer.tui.conversation import ScreenConversation

        self.conversation = ScreenConversation(self.app, lambda: self.in_flight, self.live_message)
        self.in_flight = "pam_start"
        self.running_index = self.timeline.add(Entry("running", "pam_start"))
        try:
            session = await self.engine().start(
                self.service,
                self.user,
                confdir=str(self.confdir) if self.confdir else None,
                items=dict(self.items),
                env=dict(self.env),
                conversation=self.conversation,
            )
        except (EngineCrashed, EngineError) as err:
            self.crashed(err, self.running_index)
            return False
        finally:
            index, self.running_index = self.running_index, None
        record: CallRecord = session.start_record
        self.record(record, index)
        if record.code != 0:
            try:
                await session.end()
            except Exception:
                session.abort()
            self.note("pam_start failed: no transaction is open", "press n to try again")
            return False
        self.session = session
        self.update_status()
        return True

    async def call(self, function: Function, flags: int) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError

        self.in_flight = function.value
        self.update_status()
        self.query_one(StackView).highlight = function.module_type
        self.running_index = self.timeline.add(Entry("running", function.value, flags=flags))
        try:
            record = await self.session.call(function, flags)
        except (EngineCrashed, EngineError) as err:
            self.crashed(err, self.running_index)
            return
        finally:
            index, self.running_index = self.running_index, None
        self.record(record, index)

    def crashed(self, err: Exception, index: int | None) -> None:
        """The engine child died (signal, exit, timeout, abort): report it, forget the session."""
        kind = getattr(err, "kind", "")
        detail = "the engine child is gone; press n for a new transaction"
        if kind == "aborted":
            detail = "aborted with k; press n for a new transaction"
        output = getattr(getattr(self.session, "session", None), "crash_output", None) or []
        if output:
            detail = "module output before it: " + " | ".join(output[-5:]) + "\n    " + detail
        entry = Entry("crash", str(err), detail=detail)
        if index is None:
            self.timeline.add(entry)
        else:
            self.timeline.replace(index, entry)
        if self.session is not None:
            try:
                self.session.abort()
            except Exception:
                pass
        self.session = None
        self.update_status()

    def end_transaction(self) -> None:
        if self.begin_request("pam_end"):
            self.end_worker()

    @work(group="pam", exit_on_error=False)
    async def end_worker(self) -> None:
        try:
            await self.close_session(show=True)
        finally:
            self.set_busy(False)

    async def close_session(self, show: bool = False) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError

        session, self.session = self.session, None
        if session is None:
            return
        try:
            record = await session.end()
        except (EngineCrashed, EngineError) as err:
            if show:
                self.crashed(err, None)
            return
        if show and record is not None:
            self.record(record)
        self.update_status()

    def set_items_now(self, changed: dict[str, str]) -> None:
        """pam_set_item in the open transaction; like a call, it holds the session busy."""
        if self.begin_request("pam_set_item"):
            self.set_items_worker(changed)

    def putenv_now(self, line: str) -> None:
        """pam_putenv in the open transaction; like a call, it holds the session busy."""
        if self.begin_request("pam_putenv"):
            self.putenv_worker(line)

    def begin_request(self, function: str) -> bool:
        """Mark the session busy for one request, or refuse: one request at a time."""
        if self.busy:
            self.notify("A call is running: wait, or press k to abort it.", severity="warning")
            return False
        self.set_busy(True, function)
        return True

    @work(group="pam", exit_on_error=False)
    async def set_items_worker(self, changed: dict[str, str]) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError

        try:
            for name, value in changed.items():
                item = item_by_name(name)
                if self.session is None:
                    return
                try:
                    code = await self.session.set_item(name, value)
                except (EngineCrashed, EngineError) as err:
                    self.crashed(err, None)
                    return
                self.note(f"pam_set_item({item.name}, {value!r})  {code_label(code)}")
        finally:
            self.set_busy(False)

    @work(group="pam", exit_on_error=False)
    async def putenv_worker(self, line: str) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError

        try:
            if self.session is None:
                return
            try:
                code = await self.session.putenv(line)
            except (EngineCrashed, EngineError) as err:
                self.crashed(err, None)
                return
            self.note(f"pam_putenv({line!r})  {code_label(code)}")
        finally:
            self.set_busy(False)

    def on_unmount(self) -> None:
        self.leave_session()
