"""A profile or lab lesson: its steps run one key at a time (or all at once) through a
:class:`PamSession`, each marked met or unmet against the profile's expectations; lessons show
their question, hints on request (scrolled into view), the explanation once the run is over,
and, with ``t``, the stack the question is about.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalGroup, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from pamexplorer.tui.messages import BackToPicker, LeaveRun, RunOpened
from pamexplorer.tui.render import FAIL_MARK, OK_MARK, shown, shown_line
from pamexplorer.tui.widgets.stack_view import StackView, traced_call
from pamexplorer.tui.widgets.timeline import Entry, Timeline

if TYPE_CHECKING:
    from pamexplorer.pam.records import Message
    from pamexplorer.profile import Profile
    from pamexplorer.runner import ProfileRun, StepResult
    from pamexplorer.session import SessionEvent
    from pamexplorer.tui.app import PamExplorerApp


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
        #: The run in progress (``runner.ProfileRun``); None before the first step.
        self.run: ProfileRun | None = None
        self.next_index = 0  # 0: pam_start, then profile.steps[i-1]
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
        self.leave_run()
        self.cleanup.close()

    def leave_run(self) -> None:
        """Hand the run to the app to end: pam_end when idle, killed when a step is in flight
        (``ProfileRun.close``)."""
        run, self.run = self.run, None
        if run is not None and run.state is not None and not run.state.over:
            self.app.post_message(LeaveRun(run))

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

    @on(OptionList.OptionHighlighted, "#timeline")
    def timeline_highlighted(self) -> None:
        """The stack (t) shows what the selected call did, rule by rule."""
        entry = self.query_one(Timeline).selected_entry
        self.query_one(StackView).call = traced_call(entry)

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
        if self.run is not None:
            self.run.abort()

    def action_restart(self) -> None:
        self.leave_run()
        assert self.profile is not None
        self.results = [None] * (len(self.profile.steps) + 1)
        self.next_index = 0
        self.finished = False
        self.query_one(Timeline).clear()
        self.render_steps()
        self.render_status()

    def action_back(self) -> None:
        self.leave_run()
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
        """Step the run (``runner.ProfileRun``): one step, or every step left."""
        try:
            while True:
                await self.run_one()
                if self.finished or not all_steps:
                    break
        except Exception as err:  # a worker must not take the app down
            run = self.run
            detail = run.secrets.scrub(str(err)) if run is not None else str(err)
            self.settle_entry(
                Entry("crash", f"internal error: {type(err).__name__}", detail=detail)
            )
            self.finish()
        finally:
            self.busy = False

    def new_run(self) -> ProfileRun:
        """The runner's stepwise run on the app's engine, over the screen's service files; a
        person answers ``ask: true`` prompts, so no call timeout unless the profile sets one."""
        from pamexplorer.runner import ProfileRun

        assert self.profile is not None
        confdir = self.stack_confdir()
        run = ProfileRun(
            self.profile,
            engine=self.pam_app.engine,
            ask=self.ask,
            confdir=str(confdir) if confdir is not None else None,
            on_event=self.run_event,
            timeout=None,
        )
        self.post_message(RunOpened(run))
        return run

    async def ask(self, message: Message) -> str | None:
        """An ``{ask: true}`` answer, asked in the conversation modal (the prompt comes with
        the run's secrets scrubbed; the runner keeps the answer as a secret)."""
        from pamexplorer.tui.conversation import ScreenConversation

        return await ScreenConversation(self.app, lambda: "profile").ask(message)

    def run_event(self, event: SessionEvent) -> None:
        """The run's session events (secrets scrubbed by the runner): a running entry per
        call, its live messages. pam_end, when the run finishes, is not a step: not shown."""
        from pamexplorer.session import MessagesShown, StateChanged

        timeline = self.query_one(Timeline)
        if isinstance(event, StateChanged):
            running = event.in_flight and event.in_flight != "pam_end" and event.state.busy
            if running and self.running_index is None:
                self.running_index = timeline.add(
                    Entry("running", event.in_flight or "", flags=self.running_flags)
                )
        elif isinstance(event, MessagesShown) and self.running_index is not None:
            for message in event.messages:
                timeline.add_live(self.running_index, message)

    def settle_entry(self, entry: Entry) -> None:
        timeline = self.query_one(Timeline)
        index, self.running_index = self.running_index, None
        if index is None:
            timeline.add(entry)
        else:
            timeline.replace(index, entry)

    async def run_one(self) -> None:
        """One step of the run: its timeline entry and its mark; the run finishes (pam_end,
        temporary files) when no step is left."""
        from pamexplorer.profile import ProfileError
        from pamexplorer.runner import StepStatus

        profile = self.profile
        assert profile is not None
        if self.run is None:
            self.run = self.new_run()
        run = self.run
        index = run.next_index
        self.running_flags = profile.steps[index - 1].flags if index else 0
        try:
            result = await run.next_step()
        except ProfileError as err:  # an env answer whose variable is not set
            self.settle_entry(Entry("crash", str(err)))
            await self.finish_run()
            return
        if result is None:  # skipped, or the engine refused pam_start
            if run.reason:
                self.settle_entry(Entry("crash", run.reason))
        elif result.status is StepStatus.CRASHED:
            detail = "the engine child is gone"
            crash = Entry(
                "crash",
                run.reason or result.text,
                detail=detail,
                trace=result.trace,
                function=result.function,
            )
            self.settle_entry(crash)
        elif result.record is not None:
            self.settle_entry(Entry("call", result.function, record=result.record))
        else:
            code = result.name if result.code is not None else result.text
            self.settle_entry(Entry("note", f"{result.step}  ->  {code}"))
        self.show_results(run)
        if run.done:
            await self.finish_run()
        self.render_steps()

    def show_results(self, run: ProfileRun) -> None:
        """The run's results on the step list (index 0: pam_start)."""
        from pamexplorer.runner import StepStatus

        for result in run.results:
            shown = result.status is not StepStatus.NOT_RUN
            if shown and 0 <= result.index < len(self.results):
                self.results[result.index] = result
        self.next_index = run.next_index

    async def finish_run(self) -> None:
        """The run is over: the runner ends its transaction (pam_end) and removes its files."""
        run = self.run
        if run is not None:
            await run.finish()
            self.show_results(run)
        self.finish()

    def finish(self) -> None:
        self.finished = True
        self.render_status()
