"""A profile or lab lesson: its steps run one key at a time (or all at once) through a
:class:`PamSession`, each marked met or unmet against the profile's expectations; lessons show
their question, hints on request (scrolled into view), the explanation once the run is over,
and, with ``t``, the stack the question is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalGroup, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from pamexplorer.tui.messages import BackToPicker, LeaveTransaction, TransactionOpened
from pamexplorer.tui.render import FAIL_MARK, OK_MARK, shown, shown_line
from pamexplorer.tui.widgets.stack_view import StackView
from pamexplorer.tui.widgets.timeline import Entry, Timeline

if TYPE_CHECKING:
    from pamexplorer.pam.records import CallRecord, Message
    from pamexplorer.profile import Profile, Step
    from pamexplorer.runner import ProfileConversation, Secrets, StepResult
    from pamexplorer.session import PamSession, SessionEvent
    from pamexplorer.tui.app import PamExplorerApp


class ProfileAnswers:
    """The session's async conversation for a profile: its scripted answers; an ``ask: true``
    answer is asked in a conversation modal (and kept as a secret for the run)."""

    def __init__(
        self, scripted: ProfileConversation, secrets: Secrets, asks: bool, screen: Screen[None]
    ) -> None:
        self.scripted = scripted
        self.secrets = secrets
        self.asks = asks
        self.screen = screen
        self.asked: dict[str, str] = {}

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        from pamexplorer.pam.conversation import ConversationAborted

        answers: list[str | None] = []
        for message in messages:
            if not message.style.is_prompt:
                answers.append(None)
                continue
            try:
                answers.extend(self.scripted.respond([message]))
            except ConversationAborted:
                if not self.asks:
                    raise
                answers.append(await self.ask(message))
        return answers

    async def ask(self, message: Message) -> str:
        from pamexplorer.pam.conversation import ConversationAborted, Message
        from pamexplorer.tui.conversation import ScreenConversation

        if message.text in self.asked:
            return self.asked[message.text]
        asker = ScreenConversation(self.screen.app, lambda: "profile")
        # A module may echo an earlier answer in a prompt: the modal shows it scrubbed.
        answer = await asker.ask(Message(message.style, self.secrets.scrub(message.text)))
        if answer is None:
            raise ConversationAborted("the prompt was cancelled")
        self.secrets.add(answer)
        self.asked[message.text] = answer
        return answer


def reflow(text: str) -> Text:
    """YAML block text as paragraphs: single line breaks become spaces."""
    paragraphs = [" ".join(p.split()) for p in shown(text.strip()).split("\n\n")]
    return Text("\n\n".join(paragraphs))


def step_text(
    index: int, label: str, expected: list[str], result: StepResult | None, current: bool
) -> Text:
    text = Text()
    if result is None:
        text.append("▶ " if current else "○ ", style="bold" if current else "dim")
    elif result.ok:
        text.append(f"{OK_MARK} ", style="bold green")
    else:
        text.append(f"{FAIL_MARK} ", style="bold red")
    text.append(f"{index}. " if index else "   ")
    text.append(shown_line(label), style="bold")
    text.append(" · expect ", style="dim")
    text.append(" or ".join(expected) if expected else "any code", style="dim")
    if result is not None:
        text.append("\n     ")
        if result.code is not None:
            text.append(f"{result.name} ({result.code})", style="green" if result.ok else "red")
        else:
            text.append(shown_line(result.text or result.status), style="red")
        text.append(
            " · met" if result.ok else " · unmet", style="bold green" if result.ok else "bold red"
        )
        for problem in result.problems:
            text.append("\n     ")
            text.append(shown_line(problem), style="red")
    return text


class ProfileScreen(Screen[None]):
    """Steps and calls on the left; the lesson (or, with ``t``, the stack) on the right."""

    # The footer fits 80 columns; k shows in the status line while a step runs.
    BINDINGS = [
        Binding("s", "step", "Step", tooltip="Run the next step"),
        Binding("r", "run_all", "All", tooltip="Run every remaining step"),
        Binding("h", "hint", "Hint", tooltip="Show the next hint"),
        Binding("t", "toggle_stack", "Stack", tooltip="Show the stack (t again: the lesson)"),
        Binding("n", "restart", "Restart", tooltip="Start the profile again"),
        Binding("k", "abort", "Abort", tooltip="Kill the call in flight", show=False),
        Binding("escape", "back", "Back", tooltip="Back to the list"),
    ]
    AUTO_FOCUS = "#steps"

    busy: reactive[bool] = reactive(False, bindings=True, init=False)
    finished: reactive[bool] = reactive(False, bindings=True, init=False)
    hints_shown: reactive[int] = reactive(0, bindings=True, init=False)
    #: "lesson" or "stack": what the right-hand pane shows.
    pane: reactive[str] = reactive("lesson", init=False)

    def __init__(self, reference: str | Path) -> None:
        super().__init__()
        self.reference = str(reference)
        self.profile: Profile | None = None
        self.error: str | None = None
        self.skip: str | None = None
        self.results: list[StepResult | None] = []
        self.session: PamSession | None = None
        self.next_index = 0  # 0: pam_start, then profile.steps[i-1]
        self.secrets: Secrets | None = None
        self.answers: ProfileAnswers | None = None
        self.cleanup = ExitStack()
        self.confdir: str | None = None
        self.running_index: int | None = None
        self.running_flags = 0

    @property
    def pam_app(self) -> PamExplorerApp:
        return cast("PamExplorerApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with Horizontal(id="profile-body"):
            with Vertical(id="profile-left"):
                steps = OptionList(id="steps")
                steps.border_title = "Steps"
                yield steps
                timeline = Timeline(id="timeline")
                timeline.border_title = "Calls"
                yield timeline
            with ContentSwitcher(id="profile-right", initial="lesson"):
                with VerticalScroll(id="lesson") as lesson:
                    lesson.border_title = "Lesson"
                    yield Static(id="lesson-text")
                    yield VerticalGroup(id="hints")
                    yield Static(id="lesson-end")
                stack = StackView(id="lesson-stack")
                stack.border_title = "Stack (t: lesson)"
                yield stack
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from pamexplorer.profile import ProfileError, load, resolve
        from pamexplorer.runner import skip_reason

        try:
            self.profile = load(resolve(self.reference))
        except ProfileError as err:
            self.error = str(err)
        else:
            self.skip = skip_reason(self.profile)
            self.sub_title = shown_line(self.profile.display_title)
            self.results = [None] * (len(self.profile.steps) + 1)
            if self.profile.lesson is None:
                self.query_one("#lesson").border_title = "About"
        self.render_status()
        self.render_steps()
        self.render_lesson()

    def on_unmount(self) -> None:
        self.leave_session()
        self.cleanup.close()

    def leave_session(self) -> None:
        """End the open transaction: pam_end when idle, killed when a step is in flight."""
        session, self.session = self.session, None
        if session is not None and not session.state.over:
            self.app.post_message(LeaveTransaction(session))

    # -- state shown ------------------------------------------------------------------------
    def watch_busy(self) -> None:
        self.render_status()

    def watch_finished(self, finished: bool) -> None:
        self.render_status()
        self.render_steps()
        self.render_lesson_end()

    async def watch_hints_shown(self, shown_count: int) -> None:
        self.render_lesson_end()
        await self.add_hint(shown_count)

    def watch_pane(self, pane: str) -> None:
        self.query_one(ContentSwitcher).current = "lesson-stack" if pane == "stack" else "lesson"
        if pane == "stack":
            stack = self.query_one(StackView)
            if stack.lines is None and self.profile is not None:
                stack.load(self.profile.service, self.stack_confdir())

    def render_status(self) -> None:
        text = Text()
        profile = self.profile
        if profile is None:
            text.append(f" {shown_line(self.error or '')}", style="bold red")
        else:
            text.append(" service ", style="dim")
            text.append(shown_line(profile.service), style="bold")
            text.append(" · config ", style="dim")
            text.append(shown_line(profile.config_kind), style="bold")
            text.append(" · user ", style="dim")
            text.append(shown_line(profile.user or "(none)"), style="bold")
            text.append(" · ", style="dim")
            if self.skip:
                text.append(f"cannot run here: {shown_line(self.skip)}", style="bold yellow")
            elif self.busy:
                text.append("running, k aborts", style="bold yellow")
            elif self.finished:
                met = sum(1 for r in self.results if r is not None and r.ok)
                ran = sum(1 for r in self.results if r is not None)
                style = "bold green" if met == ran else "bold red"
                text.append(f"finished: {met}/{ran} met", style=style)
            else:
                text.append("s runs the next step, r all of them", style="dim")
        self.query_one("#status", Static).update(text)

    def render_steps(self) -> None:
        steps = self.query_one("#steps", OptionList)
        keep = steps.highlighted
        profile = self.profile
        if profile is None:
            steps.clear_options()
            return
        from pamexplorer.pam.codes import describe

        start_expected = [describe(c).name for c in profile.expect_start]
        labels = [("pam_start", start_expected)] + [
            (step.label(), step.expect.code_names()) for step in profile.steps
        ]
        steps.set_options(
            Option(step_text(index, label, expected, self.results[index], current))
            for index, (label, expected) in enumerate(labels)
            for current in [index == self.next_index and not self.finished]
        )
        steps.highlighted = keep if keep is not None else 0

    def render_lesson(self) -> None:
        profile = self.profile
        parts = Text()
        if profile is None:
            parts.append(shown(self.error or ""), style="red")
        else:
            if profile.description:
                parts.append_text(reflow(profile.description))
            lesson = profile.lesson
            if lesson is not None:
                parts.append("\n\nQuestion\n", style="bold")
                parts.append_text(reflow(lesson.question))
        self.query_one("#lesson-text", Static).update(parts)
        self.render_lesson_end()

    async def add_hint(self, number: int) -> None:
        """Hint ``number`` below the ones shown, scrolled into view."""
        lesson = self.profile.lesson if self.profile else None
        if lesson is None or not 0 < number <= len(lesson.hints):
            return
        text = Text("\n")
        text.append(f"Hint {number}", style="bold")
        text.append("\n")
        text.append_text(reflow(lesson.hints[number - 1]))
        hint = Static(text, classes="hint-text")
        self.pane = "lesson"
        await self.query_one("#hints", VerticalGroup).mount(hint)
        pane = self.query_one("#lesson", VerticalScroll)
        self.call_after_refresh(pane.scroll_to_widget, hint, animate=False, top=True)

    def render_lesson_end(self) -> None:
        lesson = self.profile.lesson if self.profile else None
        text = Text()
        if lesson is not None:
            left = len(lesson.hints) - self.hints_shown
            if left > 0:
                text.append(f"\n{left} hint(s) left: press h", style="dim")
            if lesson.explanation:
                if self.finished:
                    text.append("\n\nExplanation\n", style="bold")
                    text.append_text(reflow(lesson.explanation))
                else:
                    text.append("\nThe explanation shows after the run.", style="dim")
            text.append("\nt shows the stack the question is about.", style="dim")
        self.query_one("#lesson-end", Static).update(text)

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        runnable = self.profile is not None and not self.skip
        if action == "abort":
            return True if self.busy else None
        if action in ("step", "run_all"):
            return True if runnable and not self.busy and not self.finished else None
        if action == "restart":
            return True if runnable and not self.busy else None
        if action == "hint":
            lesson = self.profile.lesson if self.profile else None
            return True if lesson and self.hints_shown < len(lesson.hints) else None
        if action == "toggle_stack":
            return True if self.profile is not None else None
        return True

    def action_hint(self) -> None:
        self.hints_shown += 1

    def action_toggle_stack(self) -> None:
        self.pane = "lesson" if self.pane == "stack" else "stack"

    def action_step(self) -> None:
        self.run_steps(all_steps=False)

    def action_run_all(self) -> None:
        self.run_steps(all_steps=True)

    def action_abort(self) -> None:
        if self.session is not None:
            self.session.abort()

    def action_restart(self) -> None:
        self.leave_session()
        assert self.profile is not None
        self.results = [None] * (len(self.profile.steps) + 1)
        self.next_index = 0
        self.finished = False
        self.query_one(Timeline).clear()
        self.render_steps()
        self.render_status()

    def action_back(self) -> None:
        self.leave_session()
        self.post_message(BackToPicker())

    # -- running ---------------------------------------------------------------------------
    def stack_confdir(self) -> Path | None:
        """Where the profile's services are: the lab, a directory, its inline files (written
        once to a private directory), or the system's (None)."""
        from pamexplorer.profile import CONFIG_LAB

        assert self.profile is not None
        profile = self.profile
        if self.confdir is None:
            if profile.config == CONFIG_LAB:
                self.confdir = str(self.pam_app.lab_dir())
            else:
                from pamexplorer.runner import confdir_for

                self.confdir = self.cleanup.enter_context(confdir_for(profile))
        return Path(self.confdir) if self.confdir else None

    def run_steps(self, all_steps: bool) -> None:
        if self.busy or self.finished or self.profile is None or self.skip:
            return
        self.busy = True
        self.step_worker(all_steps)

    @work(group="profile", exit_on_error=False)
    async def step_worker(self, all_steps: bool) -> None:
        try:
            while True:
                await self.run_one()
                if self.finished or not all_steps:
                    break
        except Exception as err:  # a worker must not take the app down
            detail = self.secrets.scrub(str(err)) if self.secrets else str(err)
            self.query_one(Timeline).add(
                Entry("crash", f"internal error: {type(err).__name__}", detail=detail)
            )
            self.finish()
        finally:
            self.busy = False

    def prepare(self) -> None:
        """Answers and the configuration directory, once per run."""
        from pamexplorer.runner import ProfileConversation, Secrets, asks, resolve_answers

        assert self.profile is not None
        profile = self.profile
        self.secrets = Secrets()
        values = resolve_answers(profile, self.secrets)
        scripted = ProfileConversation(profile.answers, values, self.secrets, None)
        self.answers = ProfileAnswers(scripted, self.secrets, asks(profile), self)
        self.stack_confdir()

    def shown(self, record: CallRecord) -> CallRecord:
        """The record as the screen may show it: the run's secrets scrubbed."""
        from pamexplorer.runner import scrub_record

        assert self.secrets is not None
        return scrub_record(record, self.secrets)

    def session_event(self, session: PamSession, event: SessionEvent) -> None:
        """Live messages and running entries from the screen's current session."""
        from pamexplorer.pam.records import Message
        from pamexplorer.session import MessagesShown, StateChanged

        if session is not self.session or self.secrets is None:
            return
        timeline = self.query_one(Timeline)
        if isinstance(event, StateChanged):
            if event.in_flight and event.state.busy and self.running_index is None:
                self.running_index = timeline.add(
                    Entry("running", event.in_flight, flags=self.running_flags)
                )
        elif isinstance(event, MessagesShown) and self.running_index is not None:
            for message in event.messages:
                scrubbed = Message(message.style, self.secrets.scrub(message.text))
                timeline.add_live(self.running_index, scrubbed)

    def settle_entry(self, entry: Entry) -> None:
        timeline = self.query_one(Timeline)
        index, self.running_index = self.running_index, None
        if index is None:
            timeline.add(entry)
        else:
            timeline.replace(index, entry)

    async def run_one(self) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError
        from pamexplorer.profile import Expectation, ProfileError
        from pamexplorer.runner import call_step, crashed_step
        from pamexplorer.session import PamSession

        profile = self.profile
        assert profile is not None
        index = self.next_index
        if index == 0:
            try:
                self.prepare()
            except ProfileError as err:
                self.settle_entry(Entry("crash", str(err)))
                self.finish()
                return
            assert self.secrets is not None
            session = PamSession(
                profile.service,
                profile.user,
                confdir=self.confdir,
                items=profile.items,
                env=profile.env,
                conversation=self.answers,
                timeout=profile.timeout or None,
                engine=self.pam_app.engine,
            )
            session.subscribe(partial(self.session_event, session))
            self.session = session
            self.running_flags = 0
            try:
                started = await session.start()
            except EngineCrashed as err:
                self.results[0] = crashed_step(0, "start", "pam_start", err, self.secrets)
                self.settle_entry(Entry("crash", self.secrets.scrub(str(err))))
                self.finish()
                return
            except EngineError as err:
                self.settle_entry(Entry("crash", self.secrets.scrub(str(err))))
                self.finish()
                return
            self.post_message(TransactionOpened(session))
            self.settle_entry(Entry("call", "pam_start", record=self.shown(started)))
            self.results[0] = call_step(
                0, "start", started, Expectation(profile.expect_start), self.secrets
            )
            self.next_index = 1
            if started.code != 0 or not profile.steps:
                self.finish()
            self.render_steps()
            return
        step: Step = profile.steps[index - 1]
        assert self.secrets is not None and self.session is not None
        self.running_flags = step.flags
        try:
            outcome, record = await self.run_step(self.session, index, step, self.secrets)
        except EngineCrashed as err:
            self.results[index] = crashed_step(
                index, step.label(), step.libpam_name, err, self.secrets
            )
            self.settle_entry(
                Entry("crash", self.secrets.scrub(str(err)), detail="the engine child is gone")
            )
            self.finish()
            return
        if record is not None:
            self.settle_entry(Entry("call", step.libpam_name, record=self.shown(record)))
        else:
            code = outcome.name if outcome.code is not None else outcome.text
            self.settle_entry(Entry("note", self.secrets.scrub(f"{step.label()}  ->  {code}")))
        self.results[index] = outcome
        self.next_index = index + 1
        if self.next_index > len(profile.steps):
            self.finish()
        self.render_steps()

    @staticmethod
    async def run_step(
        session: PamSession, number: int, step: Step, secrets: Secrets
    ) -> tuple[StepResult, CallRecord | None]:
        """One step on the session, judged as the runner judges it
        (``runner.run_session_step``). ``EngineCrashed`` propagates: the run is over."""
        from pamexplorer.runner import run_session_step

        outcome = await run_session_step(session, number, step, secrets)
        return outcome, outcome.record

    def finish(self) -> None:
        """The run is over: its transaction ends with pam_end (it is idle between steps)."""
        self.leave_session()
        self.finished = True
        self.render_status()
