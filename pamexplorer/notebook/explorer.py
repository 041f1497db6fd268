"""The widget explorer: one PAM transaction at a time, driven by buttons, in a notebook.

``Explorer(service="lab-login", lab=True, user="alice")`` shows a button per libpam call (with
the flags to pass), the user and items, the resolved stack (each line marked with the code it
returned in the selected call, when the engine traced it), and a timeline of every call: code,
``pam_strerror`` text, explanation, duration, messages and module output.

It drives :class:`pamexplorer.session.PamSession` and never manages a transaction itself. Calls
run as tasks on the kernel's event loop (the engine runs libpam in worker threads), so the kernel
stays free while a module waits for an answer: a prompt shows as a text or password field, and a
widget callback only resolves the future the conversation awaits. Cancel gives the module
``PAM_CONV_ERR``; Abort kills a call that hangs; a crash shows in the timeline and the next call
starts a fresh transaction.

Module text is always escaped (``pamexplorer.pam.html.text``). A password typed into a field
is read once and the field cleared and closed at once, before the notebook could save widget
state; records keep echo-off answers redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from pamexplorer.api import loop_thread, service_source
from pamexplorer.engine import EngineError
from pamexplorer.lab import lab_services
from pamexplorer.pam.codes import Flag, Function, MessageStyle, describe, item_by_name
from pamexplorer.pam.conversation import ConversationAborted
from pamexplorer.pam.html import CSS, code_label, crash_body, record_body, text, visible
from pamexplorer.pam.records import CallRecord, Message
from pamexplorer.session import (
    Crashed,
    MessagesShown,
    PamSession,
    RecordReceived,
    RequestRefused,
    SessionEvent,
    SessionState,
    StateChanged,
)
from pamexplorer.stack import Stack, list_services, resolve
from pamexplorer.views import StackView

#: Buttons, in the order an application calls them.
CALLS: tuple[tuple[str, Function], ...] = (
    ("authenticate", Function.AUTHENTICATE),
    ("acct_mgmt", Function.ACCT_MGMT),
    ("setcred", Function.SETCRED),
    ("open_session", Function.OPEN_SESSION),
    ("close_session", Function.CLOSE_SESSION),
    ("chauthtok", Function.CHAUTHTOK),
)
SOURCES = ("lab", "system", "directory")


@dataclass(frozen=True)
class CrashEntry:
    """A call that never returned: ``SIGSEGV during pam_authenticate``, ``aborted during ...``,
    with the module output that came before."""

    message: str
    output: tuple[str, ...] = ()


def _settle(future: asyncio.Future[Any], action: Callable[[], None]) -> None:
    """Resolve ``future`` on its own loop (a widget callback may come from another thread)."""

    def settle() -> None:
        if not future.done():
            action()

    loop = future.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        settle()
    else:
        loop.call_soon_threadsafe(settle)


class PromptBox:
    """Where a module's messages and prompts appear; an async conversation for PamSession.

    ``respond`` shows the messages, one field per prompt (a password field for echo-off), and
    awaits a future that only the Answer and Cancel callbacks resolve."""

    def __init__(self) -> None:
        self.box = widgets.VBox(layout=widgets.Layout(margin="4px 0"))
        self.fields: list[widgets.Text | widgets.Password] = []
        self.answer_button = widgets.Button(description="Answer", button_style="primary")
        self.cancel_button = widgets.Button(
            description="Cancel", tooltip="module gets PAM_CONV_ERR"
        )
        self.answer_button.on_click(lambda _: self._answer_clicked())
        self.cancel_button.on_click(lambda _: self.cancel())
        self._future: asyncio.Future[list[str | None]] | None = None
        self._messages: Sequence[Message] = ()

    @property
    def waiting(self) -> bool:
        return self._future is not None and not self._future.done()

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        if not any(m.style.is_prompt for m in messages):
            self._show_messages(messages)
            return [None] * len(messages)
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        self._messages = messages
        rows: list[widgets.Widget] = []
        self.fields = []
        for message in messages:
            label = widgets.HTML(f'<span class="pamx">{text(message.text)}</span>')
            if not message.style.is_prompt:
                rows.append(label)
                continue
            field: widgets.Text | widgets.Password
            if message.style is MessageStyle.PAM_PROMPT_ECHO_OFF:
                field = widgets.Password(value="", continuous_update=False)
            else:
                field = widgets.Text(value="", continuous_update=False)
            field.add_class("pamx-prompt")
            self.fields.append(field)
            rows.append(widgets.HBox([label, field]))
        # Enter (or leaving) the last field answers, like a terminal's return key.
        self.fields[-1].observe(self._entered, names="value")
        self.box.children = (*rows, widgets.HBox([self.answer_button, self.cancel_button]))
        try:
            return await self._future
        finally:
            self._future = None
            self._clear()

    def _entered(self, change: Mapping[str, Any]) -> None:
        self.submit()

    #: How long an Answer click with an empty last field waits for the field's value: the
    #: browser sends a field's value and a click as separate messages, and under load the
    #: click can arrive first. A value arriving meanwhile answers at once (the observer).
    LATE_VALUE_GRACE = 0.5

    def _answer_clicked(self) -> None:
        future = self._future
        if future is None or future.done():
            return
        if self.fields and self.fields[-1].value == "":
            future.get_loop().call_later(self.LATE_VALUE_GRACE, self._submit_if, future)
        else:
            self.submit()

    def _submit_if(self, future: asyncio.Future[list[str | None]]) -> None:
        if self._future is future:
            self.submit()

    def submit(self) -> None:
        """Answer the waiting prompts with what the fields hold; the fields are emptied and
        closed before anything else happens."""
        future = self._future
        if future is None or future.done():
            return
        values = iter([f.value for f in self.fields])
        self._clear()
        answers = [next(values) if m.style.is_prompt else None for m in self._messages]
        _settle(future, lambda: future.set_result(answers))

    def cancel(self) -> None:
        """Refuse to answer: the module gets ``PAM_CONV_ERR`` and the call goes on."""
        future = self._future
        self._clear()
        if future is not None and not future.done():
            error = ConversationAborted("cancelled in the notebook")
            _settle(future, lambda: future.set_exception(error))

    def _clear(self) -> None:
        for field in self.fields:
            field.unobserve_all()
            field.value = ""  # never left in widget state the notebook could save
        rows, self.box.children = self.box.children, ()
        keep = (self.answer_button, self.cancel_button)
        for row in rows:
            for child in getattr(row, "children", ()):
                if child not in keep:
                    child.close()
            row.close()
        self.fields = []

    def _show_messages(self, messages: Sequence[Message]) -> None:
        lines = "".join(f"<div>{text(m.text)}</div>" for m in messages)
        self.box.children = (widgets.HTML(f'{CSS}<div class="pamx">{lines}</div>'),)


class Explorer(widgets.VBox):  # type: ignore[misc]
    """``Explorer(service="lab-login", lab=True, user="alice")``; ``Explorer()`` to pick."""

    def __init__(
        self,
        service: str | None = None,
        user: str | None = None,
        *,
        lab: bool = False,
        confdir: str | None = None,
        items: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self.session: PamSession | None = None
        self.timeline: list[CallRecord | CrashEntry] = []
        self.errors: list[str] = []
        self.error_view = widgets.HTML()
        self._tasks: set[Any] = set()  # asyncio tasks, or futures of the loop thread
        self._lab: str | None = None  # the lab's private copy, made on first use
        self._lab_cleanup: Callable[[], object] | None = None
        #: The stack last resolved, by (service, directory): libpam reads the files at
        #: pam_start, so one read serves every call of a transaction (a new one reads again).
        self._resolved: tuple[tuple[str, str | None], Stack] | None = None

        # -- the service picker ---------------------------------------------------------------
        source = "lab" if lab or (service is None and confdir is None) else "system"
        if confdir is not None:
            source = "directory"
        self.source = widgets.Dropdown(options=SOURCES, value=source, description="source")
        self.confdir_field = widgets.Text(
            value=str(confdir or ""), description="directory", continuous_update=False
        )
        self.service_picker = widgets.Dropdown(description="service")
        self.user_field = widgets.Text(value=user or "", description="user")
        self.items_field = widgets.Text(
            value=" ".join(f"{k}={v}" for k, v in (items or {}).items()),
            description="items",
            placeholder="tty=/dev/pts/1 rhost=10.0.0.5",
        )
        self.flags = widgets.SelectMultiple(
            options=[f.name for f in Flag], description="flags", rows=4
        )
        self._fill_services(service)
        self.source.observe(self._source_changed, names="value")
        self.confdir_field.observe(self._source_changed, names="value")
        self.service_picker.observe(self._service_changed, names="value")

        # -- calls ----------------------------------------------------------------------------
        self.buttons: dict[str, widgets.Button] = {}
        for name, function in CALLS:
            button = widgets.Button(description=name, tooltip=function.value)
            button.on_click(self._clicked(function))
            self.buttons[name] = button
        self.buttons["end"] = widgets.Button(description="end", tooltip="pam_end")
        self.buttons["end"].on_click(lambda _: self._launch(self._end()))
        self.buttons["new"] = widgets.Button(description="new transaction", tooltip="pam_start")
        self.buttons["new"].on_click(lambda _: self._launch(self._restart()))
        self.buttons["set_items"] = widgets.Button(description="set items", tooltip="pam_set_item")
        self.buttons["set_items"].on_click(lambda _: self._launch(self._set_items()))
        self.abort_button = widgets.Button(
            description="Abort", button_style="danger", disabled=True, tooltip="kill the call"
        )
        self.abort_button.on_click(lambda _: self.abort())
        self.status = widgets.HTML()
        self.prompt = PromptBox()

        # -- views ----------------------------------------------------------------------------
        self.call_picker = widgets.Dropdown(description="stack for", options=[("(no call)", -1)])
        self.call_picker.observe(lambda _: self._show_stack(), names="value")
        self.stack_view = widgets.HTML()
        self.timeline_view = widgets.HTML()

        call_row = widgets.HBox([self.buttons[name] for name, _ in CALLS])
        control_row = widgets.HBox(
            [self.buttons["new"], self.buttons["end"], self.buttons["set_items"], self.abort_button]
        )
        self.children = (
            widgets.HBox([self.source, self.confdir_field]),
            widgets.HBox([self.service_picker, self.user_field]),
            widgets.HBox([self.items_field, self.flags]),
            call_row,
            control_row,
            self.status,
            self.prompt.box,
            self.call_picker,
            self.stack_view,
            self.timeline_view,
            self.error_view,
        )
        self.add_class("pamx-explorer")
        self._source_visibility()
        self._show_state()
        self._show_stack()
        self._show_timeline()

    # -- picking a service ----------------------------------------------------------------------
    def _source_dir(self) -> str | None:
        """The confdir of the chosen source (the lab is materialized once, on first use, and
        removed by :meth:`close_transaction` or when the explorer goes away)."""
        source = self.source.value
        if source == "system":
            return None
        if source == "directory":
            return self.confdir_field.value or None
        if self._lab is None:
            cleanup = contextlib.ExitStack()
            self._lab = service_source(cleanup, True, None)
            self._lab_cleanup = weakref.finalize(self, cleanup.close)
        return self._lab

    def _fill_services(self, wanted: str | None) -> None:
        source = self.source.value
        try:
            if source == "lab":
                names = [n for n in lab_services() if n != "other"]
            elif source == "directory":
                directory = self.confdir_field.value
                names = [n for n, _ in list_services(directory)] if directory else []
            else:
                names = [n for n, _ in list_services()]
        except (OSError, ValueError) as err:
            names = []
            self._error(f"{source}: {err}")
        if wanted and wanted not in names:
            names = [wanted, *names]
        self.service_picker.options = names
        if names:
            self.service_picker.value = wanted or names[0]

    def _source_visibility(self) -> None:
        shown = self.source.value == "directory"
        self.confdir_field.layout.display = None if shown else "none"

    def _source_changed(self, change: Mapping[str, Any]) -> None:
        self._source_visibility()
        self._fill_services(None)

    def _service_changed(self, change: Mapping[str, Any]) -> None:
        if self.session is not None and not self.session.state.over:
            self._launch(self._close_session())
        self._show_stack()

    @property
    def service(self) -> str | None:
        value = self.service_picker.value
        return None if value is None else str(value)

    def _items(self) -> dict[str, str]:
        items: dict[str, str] = {}
        for word in self.items_field.value.split():
            name, sep, value = word.partition("=")
            if not sep:
                raise ValueError(f"items: {visible(word)!r}: expected NAME=VALUE")
            item_by_name(name)  # a KeyError names an unknown item
            items[name] = value
        return items

    # -- running calls --------------------------------------------------------------------------
    def _launch(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a request as a task on the running loop (the kernel's), or on a private loop
        thread when there is none (a plain script)."""
        task: Any
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            task = asyncio.run_coroutine_threadsafe(self._guarded(coroutine), loop_thread().loop)
        else:
            task = loop.create_task(self._guarded(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except (EngineError, ValueError, KeyError) as err:
            # Crashes and refusals already reached the timeline through the session's events.
            if self.session is None or not isinstance(err, EngineError):
                self._error(str(err))
        except Exception as err:  # a widget must survive anything; show it, escaped
            self._error(f"{type(err).__name__}: {err}")
        finally:
            self._show_state()

    def _clicked(self, function: Function) -> Callable[[widgets.Button], None]:
        def clicked(_: widgets.Button) -> None:
            flags = sum(int(Flag[name]) for name in self.flags.value) & int(function.flags)
            self._launch(self._call(function, flags))

        return clicked

    async def _ensure_session(self) -> PamSession:
        session = self.session
        if session is None or session.state.over:
            session = await self._start()
        return session

    async def _start(self) -> PamSession:
        service = self.service
        if not service:
            raise ValueError("pick a service first")
        self.error_view.value = ""
        self._resolved = None  # libpam reads the files again: so does the stack view
        session = PamSession(
            service,
            self.user_field.value or None,
            confdir=self._source_dir(),
            items=self._items(),
            conversation=self.prompt,
            timeout=self.timeout,
            on_event=self._on_event,
        )
        self.session = session
        await session.start()
        return session

    async def _call(self, function: Function, flags: int) -> CallRecord:
        session = await self._ensure_session()
        return await session.call(function, flags)

    async def _restart(self) -> None:
        await self._close_session()
        await self._start()

    async def _end(self) -> None:
        if self.session is not None:
            await self.session.end()

    async def _set_items(self) -> None:
        session = await self._ensure_session()
        for name, value in self._items().items():
            await session.set_item(name, value)

    async def _close_session(self) -> None:
        if self.session is not None:
            self.prompt.cancel()
            await self.session.close()

    def abort(self) -> None:
        """End the call in flight (a module that hangs); the child is killed."""
        self.prompt.cancel()
        if self.session is not None:
            self.session.abort()

    def close_transaction(self) -> None:
        """End the transaction (pam_end when idle) and remove the lab copy."""
        self._launch(self._close_and_clean())

    async def _close_and_clean(self) -> None:
        await self._close_session()
        if self._lab_cleanup is not None:
            self._lab_cleanup()
        self._lab = self._lab_cleanup = None

    # -- events ---------------------------------------------------------------------------------
    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, StateChanged):
            self._show_state()
        elif isinstance(event, RecordReceived):
            self.timeline.append(event.record)
            self._show_timeline()
            self._pick_call(len(self.timeline) - 1)
        elif isinstance(event, MessagesShown):
            pass  # prompts and messages show in the prompt box; the record keeps them all
        elif isinstance(event, Crashed):
            self.timeline.append(CrashEntry(event.crash.message, tuple(event.output)))
            self._show_timeline()
        elif isinstance(event, RequestRefused):
            self._error(f"{event.during}: {event.message}")

    # -- rendering ------------------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return SessionState.NEW if self.session is None else self.session.state

    def _show_state(self) -> None:
        state = self.state
        busy = state.busy
        for button in self.buttons.values():
            button.disabled = busy
        self.abort_button.disabled = not busy
        session = self.session
        flight = "" if session is None or not busy else f" ({session.in_flight})"
        if session is not None and not state.over:  # the live transaction's own names
            service, user = session.service, session.user or "(no user)"
        else:
            service, user = self.service or "(no service)", self.user_field.value or "(no user)"
        self.status.value = (
            f'<span class="pamx"><b>{text(service)}</b> as {text(user)}: '
            f"{text(state.value)}{text(flight)}</span>"
        )

    def _pick_call(self, index: int) -> None:
        options = [("(no call)", -1)] + [
            (f"#{i + 1} {entry.function} {code_label(entry.code)}", i)
            for i, entry in enumerate(self.timeline)
            if isinstance(entry, CallRecord)
        ]
        self.call_picker.options = options
        self.call_picker.value = index if any(v == index for _, v in options) else -1

    def _selected(self) -> CallRecord | None:
        index = self.call_picker.value
        if index is None or index < 0 or index >= len(self.timeline):
            return None
        entry = self.timeline[index]
        return entry if isinstance(entry, CallRecord) else None

    def _show_stack(self) -> None:
        service = self.service
        if not service:
            self.stack_view.value = ""
            return
        where = self._source_dir()
        cached = self._resolved
        if cached is not None and cached[0] == (service, where):
            stack = cached[1]
        else:
            try:
                stack = resolve(service, where)
            except (OSError, ValueError) as err:
                self.stack_view.value = f'<span class="pamx">{text(err)}</span>'
                return
            self._resolved = ((service, where), stack)
        record = self._selected()
        view = StackView.of_call(stack, record)
        self.stack_view.value = view._repr_html_()

    def _show_timeline(self) -> None:
        entries = []
        for number, entry in enumerate(self.timeline, 1):
            prefix = f'<span class="dim">#{number}</span> '
            if isinstance(entry, CallRecord):
                body = record_body(entry, prefix)
            else:
                body = crash_body(entry.message, entry.output, prefix)
            entries.append(f'<div class="pamx-entry">{body}</div>')
        self.timeline_view.value = f'{CSS}<div class="pamx">{"".join(entries)}</div>'

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.error_view.value = f'<div class="pamx bad">{text(message)}</div>'

    # -- for cells and tests --------------------------------------------------------------------
    def timeline_text(self) -> str:
        """The timeline as plain lines: ``pam_authenticate PAM_AUTH_ERR (7) ...``."""
        lines = []
        for entry in self.timeline:
            if isinstance(entry, CallRecord):
                info = describe(entry.code)
                lines.append(f"{entry.function} {code_label(entry.code)} {info.text}")
                lines += [f"    {visible(m.text)}" for m in entry.messages]
                lines += [f"    output: {visible(o)}" for o in entry.output]
            else:
                lines.append(entry.message)
        return "\n".join(lines)

    async def wait(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Let the loop run until ``condition()`` holds (a cell may ``await`` this)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise TimeoutError(f"the explorer did not get there in {timeout:g} s")
            await asyncio.sleep(0.02)

    async def prompted(self, timeout: float = 60.0) -> list[widgets.Text | widgets.Password]:
        """Wait until a module's prompt shows; its fields."""
        await self.wait(lambda: self.prompt.waiting and bool(self.prompt.fields), timeout)
        return list(self.prompt.fields)

    async def idle(self, timeout: float = 60.0) -> None:
        """Wait until no request is running."""
        await self.wait(lambda: not self._tasks and not self.state.busy, timeout)
