"""The transaction screen: the stack, the calls made so far, and what the selected one means.

Every libpam call runs in the engine's child process, awaited from a worker, so the screen keeps
answering keys while a module thinks, hangs or crashes. ``k`` aborts a call in flight.
The status line and the footer follow the screen's reactive state (``busy``, ``in_flight``,
``next_flags``, ``user``, ``open``); leaving hands an open transaction to the app with a message.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static

from pamexplorer.pam.codes import Flag, Function, flag_names, item_by_name
from pamexplorer.pam.records import Message
from pamexplorer.pam.secrets import Secrets
from pamexplorer.tui.messages import BackToPicker, LeaveTransaction, TransactionOpened
from pamexplorer.tui.render import code_label, shown_line
from pamexplorer.tui.widgets.call_detail import CallDetail
from pamexplorer.tui.widgets.stack_view import StackView, traced_call
from pamexplorer.tui.widgets.timeline import Entry, Timeline

if TYPE_CHECKING:
    from pamexplorer.engine import EngineCrashed
    from pamexplorer.pam.records import CallRecord
    from pamexplorer.session import PamSession, SessionEvent
    from pamexplorer.tui.app import PamExplorerApp
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
#: Requests that end in a call record (a timeline entry runs while they do).
RECORDED = frozenset({"pam_start", "pam_end", *(f.value for f in Function)})

CALLS = Binding.Group("call")
SETTINGS = Binding.Group("set")


class TransactionScreen(Screen[None]):
    """One service, one user, a sequence of transactions, one call at a time."""

    # The footer fits 80 columns: the six calls and the four settings are grouped under one
    # word each; every binding has its own description in the command palette (ctrl+p).
    BINDINGS = [
        Binding("n", "new", "New", tooltip="pam_start a new transaction (ends the open one)"),
        Binding("a", "call('authenticate')", "Auth", tooltip="pam_authenticate", group=CALLS),
        Binding("m", "call('acct_mgmt')", "Acct", tooltip="pam_acct_mgmt", group=CALLS),
        Binding("c", "setcred", "Cred", tooltip="pam_setcred, with a flag you pick", group=CALLS),
        Binding("o", "call('open_session')", "Open", tooltip="pam_open_session", group=CALLS),
        Binding("x", "call('close_session')", "Close", tooltip="pam_close_session", group=CALLS),
        Binding("p", "call('chauthtok')", "Passwd", tooltip="pam_chauthtok", group=CALLS),
        Binding("e", "end", "End", tooltip="pam_end: finish the transaction"),
        Binding(
            "k", "abort", "Abort", tooltip="Kill the call in flight (a hung module)", show=False
        ),
        Binding("f", "flags", "Flags", tooltip="Flags for the next call", group=SETTINGS),
        Binding(
            "i", "items", "Items", tooltip="PAM items (tty, rhost, ruser, ...)", group=SETTINGS
        ),
        Binding(
            "v", "environment", "Env", tooltip="The PAM environment, pam_putenv", group=SETTINGS
        ),
        Binding("u", "user", "User", tooltip="Change the user", group=SETTINGS),
        Binding("escape", "back", "Back", tooltip="Back to the service list"),
    ]
    AUTO_FOCUS = "#timeline"

    busy: reactive[bool] = reactive(False, bindings=True, init=False)
    in_flight: reactive[str] = reactive("", init=False)
    next_flags: reactive[int] = reactive(0, init=False)
    user: reactive[str] = reactive("", init=False)
    #: A transaction is open (pam_start succeeded, no pam_end yet).
    open: reactive[bool] = reactive(False, bindings=True, init=False)

    def __init__(self, service: str, confdir: Path | None = None, group: str = "") -> None:
        super().__init__()
        self.service = service
        self.confdir = confdir
        self.group = group
        self.session: PamSession | None = None
        self.items: dict[str, str] = {}
        self.env: dict[str, str] = {}
        #: Items and PAM environment as they are now in the open transaction: the last
        #: record's, with the pam_set_item and pam_putenv made since.
        self.items_now: dict[str, str | None] = {}
        self.env_now: dict[str, str] = {}
        self.last_record: CallRecord | None = None
        self.conversation: ScreenConversation | None = None
        self.running_index: int | None = None
        self.running_flags = 0
        self.transactions = 0
        #: Echo-off answers typed on this screen: scrubbed from everything modules send back.
        self.secrets = Secrets()

    @property
    def pam_app(self) -> PamExplorerApp:
        return cast("PamExplorerApp", self.app)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with Horizontal(id="transaction-body"):
            stack = StackView(id="stack")
            stack.border_title = "Stack"
            yield stack
            with Vertical(id="calls-column"):
                timeline = Timeline(id="timeline")
                timeline.border_title = "Calls"
                yield timeline
                detail = CallDetail(id="detail")
                detail.border_title = "Selected call"
                yield detail
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = shown_line(self.service)
        self.set_reactive(TransactionScreen.user, self.pam_app.user_for(self.group))
        stack = self.query_one(StackView)
        stack.border_subtitle = self.where
        stack.load(self.service, self.confdir)
        self.query_one(CallDetail).confdir = self.confdir
        self.render_status()

    @property
    def where(self) -> str:
        if self.group:
            return self.group
        return "system" if self.confdir is None else "confdir"

    @property
    def timeline(self) -> Timeline:
        return self.query_one(Timeline)

    # -- state shown: the status line follows the reactives ---------------------------------
    def watch_busy(self) -> None:
        self.render_status()

    def watch_in_flight(self) -> None:
        self.render_status()

    def watch_next_flags(self) -> None:
        self.render_status()

    def watch_user(self) -> None:
        self.render_status()

    def watch_open(self, is_open: bool) -> None:
        if not is_open:
            self.query_one(StackView).highlight = None
        self.render_status()

    def render_status(self) -> None:
        text = Text()
        text.append(" service ", style="dim")
        text.append(shown_line(self.service), style="bold")
        text.append(" · user ", style="dim")
        text.append(shown_line(self.user), style="bold")
        text.append(" (u changes)", style="dim")
        text.append(" · ", style="dim")
        if self.busy:
            text.append(f"{self.in_flight} running, k aborts", style="bold yellow")
        elif self.open:
            text.append("transaction open", style="bold green")
        else:
            text.append("no transaction", style="dim")
        if self.next_flags:
            text.append(" · next flags ", style="dim")
            text.append("|".join(flag_names(self.next_flags)), style="bold")
        self.query_one("#status", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "abort":
            return True if self.busy else None
        if action in _IDLE_ONLY and self.busy:
            return None
        return True

    # -- the detail pane follows the focused list -------------------------------------------
    @on(OptionList.OptionHighlighted, "#timeline")
    def timeline_highlighted(self) -> None:
        entry = self.timeline.selected_entry
        self.query_one(CallDetail).show(entry)
        # The stack shows what the selected call did, rule by rule (a running call: nothing).
        self.query_one(StackView).call = traced_call(entry)

    @on(StackView.RuleHighlighted)
    def rule_highlighted(self, event: StackView.RuleHighlighted) -> None:
        if event.row is not None and event.view.has_focus:
            self.query_one(CallDetail).show_rule(event.row, event.traced)

    def on_descendant_focus(self) -> None:
        focused = self.focused
        detail = self.query_one(CallDetail)
        if isinstance(focused, StackView) and focused.selected_row is not None:
            detail.show_rule(focused.selected_row, focused.selected_trace)
        elif isinstance(focused, Timeline):
            detail.show(self.timeline.selected_entry)

    # -- timeline -------------------------------------------------------------------------
    def note(self, title: str, detail: str = "") -> None:
        self.timeline.add(Entry("note", title, detail=detail))

    def record(self, record: CallRecord, index: int | None = None) -> None:
        record = self.secrets.scrub_record(record)
        self.last_record = record
        self.items_now = dict(record.items)
        self.env_now = dict(record.env)
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

        self.app.push_screen(FlagsModal("Flags for the next call", self.next_flags), chosen)

    def action_end(self) -> None:
        if self.session is None:
            self.notify("No transaction is open.", severity="warning")
            return
        if not self.refuse_while_busy():
            self.hold("pam_end")
            self.end_worker()

    def action_abort(self) -> None:
        if self.session is not None and not self.session.abort():
            self.notify("Nothing to abort yet: pam_start is still loading the stack.")

    def action_items(self) -> None:
        from pamexplorer.tui.screens.items import ItemsModal

        values: dict[str, str | None] = {}
        if self.session is not None:
            values.update(self.items_now)
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

        env = dict(self.env_now) if self.session is not None else dict(self.env)
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
            self.user = user.strip()
            if self.session is not None:
                self.set_items_now({"user": self.user})
            else:
                self.note(f"user for the next pam_start: {self.user}")

        self.app.push_screen(AskModal("User", "User name for pam_start:", self.user), chosen)

    def action_back(self) -> None:
        self.leave_session()
        self.post_message(BackToPicker())

    def leave_session(self) -> None:
        """Hand the open transaction to the app to finish: pam_end when idle (in the
        background; quitting waits for it), killed at once when a call is in flight."""
        session, self.session = self.session, None
        self.set_reactive(TransactionScreen.open, False)  # the screen is going: no redraw
        if session is not None and not session.state.over:
            self.app.post_message(LeaveTransaction(session))

    # -- the session's events drive the screen ----------------------------------------------
    def session_event(self, session: PamSession, event: SessionEvent) -> None:
        """Events of the screen's current session (a session left behind is the app's)."""
        from pamexplorer.session import (
            Crashed,
            MessagesShown,
            RecordReceived,
            SessionState,
            StateChanged,
        )

        if session is not self.session:
            return
        if isinstance(event, StateChanged):
            self.busy = event.state.busy
            self.in_flight = event.in_flight or ""
            self.open = event.state in (
                SessionState.IDLE,
                SessionState.IN_CALL,
                SessionState.WAITING,
            )
            if event.in_flight in RECORDED and self.running_index is None:
                self.running_index = self.timeline.add(
                    Entry("running", event.in_flight, flags=self.running_flags)
                )
        elif isinstance(event, MessagesShown):
            if self.running_index is not None:
                for message in event.messages:
                    scrubbed = Message(message.style, self.secrets.scrub(message.text))
                    self.timeline.add_live(self.running_index, scrubbed)
        elif isinstance(event, RecordReceived):
            index, self.running_index = self.running_index, None
            self.record(event.record, index)
        elif isinstance(event, Crashed):
            index, self.running_index = self.running_index, None
            self.crashed(event.crash, event.output, index)

    def crashed(self, err: EngineCrashed, output: tuple[str, ...], index: int | None) -> None:
        """The engine child died (signal, exit, timeout, abort): report it, with the trace of
        the call up to where it stopped."""
        detail = "the engine child is gone; press n for a new transaction"
        if err.kind == "aborted":
            detail = "aborted with k; press n for a new transaction"
        if output:
            shown = " | ".join(shown_line(self.secrets.scrub(line)) for line in output[-5:])
            detail = f"module output before it: {shown}\n    {detail}"
        trace = self.secrets.scrub_trace(err.trace) if err.trace is not None else None
        entry = Entry("crash", str(err), detail=detail, trace=trace, function=err.during)
        if index is None:
            self.timeline.add(entry)
        else:
            self.timeline.replace(index, entry)

    # -- engine work (workers) ------------------------------------------------------------
    def run_calls(self, function: Function | None, flags: int, restart: bool = False) -> None:
        if self.refuse_while_busy():
            return
        self.hold(function.value if function and self.open and not restart else "pam_start")
        self.call_worker(function, flags, restart)

    def refuse_while_busy(self) -> bool:
        if self.busy:
            self.notify("A call is running: wait, or press k to abort it.", severity="warning")
        return self.busy

    def hold(self, function: str) -> None:
        """Busy from the key press on (the worker starts later): one request at a time."""
        self.in_flight = function
        self.busy = True

    @work(group="pam", exit_on_error=False)
    async def call_worker(self, function: Function | None, flags: int, restart: bool) -> None:
        try:
            if restart and self.session is not None:
                self.running_flags = 0
                await self.session.end()
                self.session = None
            if self.session is None and not await self.start_transaction():
                return
            if function is not None and self.session is not None:
                self.query_one(StackView).highlight = function.module_type
                self.running_flags = flags
                await self.session.call(function, flags)
        except Exception as err:
            self.failed(err)
        finally:
            self.settle()

    def failed(self, err: Exception) -> None:
        """A request that raised: a crash the session reported already, or a refusal (bad
        input, a request in the wrong state) shown here; never let a worker take the app down."""
        from pamexplorer.engine import EngineCrashed, EngineError

        if isinstance(err, EngineCrashed):
            return
        index, self.running_index = self.running_index, None
        title = str(err) if isinstance(err, EngineError) else f"internal error: {err!r}"
        entry = Entry("crash", title)
        if index is None:
            self.timeline.add(entry)
        else:
            self.timeline.replace(index, entry)

    def settle(self) -> None:
        """After a request: busy only if the session still is."""
        session = self.session
        self.busy = session is not None and session.state.busy
        if not self.busy:
            self.in_flight = ""
        if session is None or session.state.over:
            self.session = None
            self.open = False

    async def start_transaction(self) -> bool:
        from pamexplorer.session import PamSession
        from pamexplorer.tui.conversation import ScreenConversation

        self.conversation = ScreenConversation(self.app, lambda: self.in_flight, self.secrets)
        self.transactions += 1
        self.timeline.separate(f"transaction {self.transactions}")
        self.query_one(StackView).highlight = None
        self.running_flags = 0
        session = PamSession(
            self.service,
            self.user,
            confdir=str(self.confdir) if self.confdir else None,
            items=dict(self.items),
            env=dict(self.env),
            conversation=self.conversation,
            engine=self.pam_app.engine,
        )
        session.subscribe(partial(self.session_event, session))
        self.session = session
        record = await session.start()
        if record.code != 0:
            self.session = None
            self.note("pam_start failed: no transaction is open", "press n to try again")
            return False
        self.post_message(TransactionOpened(session))
        return True

    @work(group="pam", exit_on_error=False)
    async def end_worker(self) -> None:
        try:
            if self.session is not None:
                self.running_flags = 0
                await self.session.end()
        except Exception as err:
            self.failed(err)
        finally:
            self.settle()

    def set_items_now(self, changed: dict[str, str]) -> None:
        """pam_set_item in the open transaction; like a call, it holds the session busy."""
        if not self.refuse_while_busy():
            self.hold("pam_set_item")
            self.set_items_worker(changed)

    def putenv_now(self, line: str) -> None:
        """pam_putenv in the open transaction; like a call, it holds the session busy."""
        if not self.refuse_while_busy():
            self.hold("pam_putenv")
            self.putenv_worker(line)

    @work(group="pam", exit_on_error=False)
    async def set_items_worker(self, changed: dict[str, str]) -> None:
        try:
            for name, value in changed.items():
                item = item_by_name(name)
                if self.session is None:
                    return
                code = await self.session.set_item(name, value)
                if code == 0:
                    self.items_now[name] = value
                self.note(f"pam_set_item({item.name}, {value!r})  {code_label(code)}")
        except Exception as err:
            self.failed(err)
        finally:
            self.settle()

    @work(group="pam", exit_on_error=False)
    async def putenv_worker(self, line: str) -> None:
        try:
            if self.session is None:
                return
            code = await self.session.putenv(line)
            if code == 0:
                name, sep, value = line.partition("=")
                if sep:
                    self.env_now[name] = value
                else:
                    self.env_now.pop(name, None)
            self.note(f"pam_putenv({line!r})  {code_label(code)}")
        except Exception as err:
            self.failed(err)
        finally:
            self.settle()

    def on_unmount(self) -> None:
        self.leave_session()
