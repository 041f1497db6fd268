"""A profile or lab lesson: its steps run one key at a time (or all at once) through the
engine, each marked met or unmet against the profile's expectations; lessons show their
question, hints on request, and the explanation once the run is over."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from pamexplorer.tui.render import FAIL_MARK, OK_MARK
from pamexplorer.tui.widgets.timeline import Entry, Timeline

if TYPE_CHECKING:
    from pamexplorer.pam.conversation import Message
    from pamexplorer.pam.records import CallRecord
    from pamexplorer.profile import Profile, Step
    from pamexplorer.runner import ProfileConversation, Secrets, StepResult


class ProfileAnswers:
    """The engine's async conversation for a profile: its scripted answers; an ``ask: true``
    answer is asked in a conversation modal (and kept as a secret for the run)."""

    def __init__(
        self,
        scripted: ProfileConversation,
        secrets: Secrets,
        asks: bool,
        screen: Screen[None],
        on_message: Any,
    ) -> None:
        self.scripted = scripted
        self.secrets = secrets
        self.asks = asks
        self.screen = screen
        self.on_message = on_message
        self.asked: dict[str, str] = {}

    async def respond(self, messages: Sequence[Message]) -> list[str | None]:
        from pamexplorer.pam.conversation import ConversationAborted

        answers: list[str | None] = []
        for message in messages:
            if not message.style.is_prompt:
                self.on_message(message)
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
        from pamexplorer.pam.conversation import ConversationAborted
        from pamexplorer.tui.conversation import ScreenConversation

        if message.text in self.asked:
            return self.asked[message.text]
        from pamexplorer.pam.conversation import Message

        asker = ScreenConversation(self.screen.app, lambda: "profile", self.on_message)
        # A module may echo an earlier answer in a prompt: the modal shows it scrubbed.
        answer = await asker.ask(Message(message.style, self.secrets.scrub(message.text)))
        if answer is None:
            raise ConversationAborted("the prompt was cancelled")
        self.secrets.add(answer)
        self.asked[message.text] = answer
        return answer


def reflow(text: str) -> Text:
    """YAML block text as paragraphs: single line breaks become spaces."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
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
    text.append(label, style="bold")
    text.append("  expect ", style="dim")
    text.append(" or ".join(expected) if expected else "any code", style="dim")
    if result is not None:
        text.append("\n     ")
        if result.code is not None:
            text.append(f"{result.name} ({result.code})", style="green" if result.ok else "red")
        else:
            text.append(result.text or result.status, style="red")
        text.append(
            "  met" if result.ok else "  unmet", style="bold green" if result.ok else "bold red"
        )
        for problem in result.problems:
            text.append("\n     ")
            text.append(problem, style="red")
    return text


class ProfileScreen(Screen[None]):
    """Steps on the left (with the calls below them), the lesson on the right."""

    BINDINGS = [
        Binding("s", "step", "Step", tooltip="Run the next step"),
        Binding("r", "run_all", "Run all", tooltip="Run every remaining step"),
        Binding("h", "hint", "Hint", tooltip="Show the next hint"),
        Binding("n", "restart", "Restart", tooltip="Start the profile again"),
        Binding("k", "abort", "Abort", tooltip="Kill the call in flight"),
        Binding("escape", "back", "Back"),
    ]
    AUTO_FOCUS = "#steps"

    def __init__(self, reference: str | Path) -> None:
        super().__init__()
        self.reference = str(reference)
        self.profile: Profile | None = None
        self.error: str | None = None
        self.skip: str | None = None
        self.results: list[StepResult | None] = []
        self.hints_shown = 0
        self.session: Any = None
        self.busy = False
        self.finished = False
        self.next_index = 0  # 0: pam_start, then profile.steps[i-1]
        self.secrets: Secrets | None = None
        self.answers: ProfileAnswers | None = None
        self.cleanup = ExitStack()
        self.confdir: str | None = None

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
            with VerticalScroll(id="lesson") as lesson:
                lesson.border_title = "Lesson"
                yield Static(id="lesson-text")
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
            self.sub_title = self.profile.display_title
            self.results = [None] * (len(self.profile.steps) + 1)
            if self.profile.lesson is None:
                self.query_one("#lesson").border_title = "About"
        self.refresh_all()

    def on_unmount(self) -> None:
        self.leave_session()
        self.cleanup.close()

    def leave_session(self) -> None:
        """End the open transaction: pam_end when idle, killed when a step is in flight."""
        session, self.session = self.session, None
        if session is not None:
            self.app.end_session(session, in_flight=self.busy)  # type: ignore[attr-defined]

    # -- rendering -------------------------------------------------------------------------
    def refresh_all(self) -> None:
        self.render_status()
        self.render_steps()
        self.render_lesson()
        self.refresh_bindings()

    def render_status(self) -> None:
        text = Text()
        profile = self.profile
        if profile is None:
            text.append(f" {self.error}", style="bold red")
        else:
            text.append(" service ", style="dim")
            text.append(profile.service, style="bold")
            text.append("  config ", style="dim")
            text.append(profile.config_kind, style="bold")
            text.append("  user ", style="dim")
            text.append(profile.user or "(none)", style="bold")
            text.append("  ")
            if self.skip:
                text.append(f"cannot run here: {self.skip}", style="bold yellow")
            elif self.busy:
                text.append("running", style="bold yellow")
            elif self.finished:
                met = sum(1 for r in self.results if r is not None and r.ok)
                ran = sum(1 for r in self.results if r is not None)
                style = "bold green" if met == ran else "bold red"
                text.append(f"finished: {met}/{ran} met", style=style)
            else:
                text.append("s runs the next step, r runs them all", style="dim")
        self.query_one("#status", Static).update(text)

    def render_steps(self) -> None:
        steps = self.query_one("#steps", OptionList)
        keep = steps.highlighted
        steps.clear_options()
        profile = self.profile
        if profile is None:
            return
        from pamexplorer.pam.codes import describe

        start_expected = [describe(c).name for c in profile.expect_start]
        labels = [("pam_start", start_expected)] + [
            (step.label(), step.expect.code_names()) for step in profile.steps
        ]
        for index, (label, expected) in enumerate(labels):
            current = index == self.next_index and not self.finished
            steps.add_option(
                Option(step_text(index, label, expected, self.results[index], current))
            )
        steps.highlighted = keep if keep is not None else 0

    def render_lesson(self) -> None:
        profile = self.profile
        parts: list[Text] = []
        if profile is None:
            parts.append(Text(self.error or "", style="red"))
        else:
            if profile.description:
                parts.append(reflow(profile.description))
            lesson = profile.lesson
            if lesson is not None:
                parts.append(Text("\nQuestion", style="bold"))
                parts.append(reflow(lesson.question))
                for number, hint in enumerate(lesson.hints[: self.hints_shown], 1):
                    parts.append(Text(f"\nHint {number}", style="bold"))
                    parts.append(reflow(hint))
                left = len(lesson.hints) - self.hints_shown
                if left > 0:
                    parts.append(Text(f"\n{left} hint(s) left: press h", style="dim"))
                if lesson.explanation:
                    if self.finished:
                        parts.append(Text("\nExplanation", style="bold"))
                        parts.append(reflow(lesson.explanation))
                    else:
                        parts.append(Text("\nThe explanation shows after the run.", style="dim"))
        self.query_one("#lesson-text", Static).update(Group(*parts))

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
        return True

    def action_hint(self) -> None:
        self.hints_shown += 1
        self.render_lesson()
        self.refresh_bindings()

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
        self.query_one(Timeline).clear_options()
        self.query_one(Timeline).entries.clear()
        self.refresh_all()

    def action_back(self) -> None:
        self.leave_session()
        self.app.back_to_picker()  # type: ignore[attr-defined]

    # -- running ---------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.refresh_all()

    def run_steps(self, all_steps: bool) -> None:
        if self.busy or self.finished or self.profile is None or self.skip:
            return
        self.set_busy(True)
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
            self.set_busy(False)

    def prepare(self) -> None:
        """Answers and the configuration directory, once per run."""
        from pamexplorer.profile import CONFIG_LAB
        from pamexplorer.runner import ProfileConversation, Secrets, resolve_answers

        assert self.profile is not None
        profile = self.profile
        self.secrets = Secrets()
        values = resolve_answers(profile, self.secrets)
        scripted = ProfileConversation(profile.answers, values, self.secrets, None)
        asks = any(answer.ask for answer in profile.answers)
        self.answers = ProfileAnswers(scripted, self.secrets, asks, self, self.live_message)
        if profile.config == CONFIG_LAB:
            self.confdir = str(self.app.lab_dir())  # type: ignore[attr-defined]
        elif self.confdir is None:
            from pamexplorer.runner import confdir_for

            self.confdir = self.cleanup.enter_context(confdir_for(profile))

    def shown(self, record: CallRecord) -> CallRecord:
        """The record as the screen may show it: the run's secrets scrubbed."""
        from pamexplorer.runner import scrub_record

        assert self.secrets is not None
        return scrub_record(record, self.secrets)

    def live_message(self, message: Message) -> None:
        from pamexplorer.pam.conversation import Message

        timeline = self.query_one(Timeline)
        if timeline.entries and timeline.entries[-1].kind == "running":
            if self.secrets is not None:
                message = Message(message.style, self.secrets.scrub(message.text))
            timeline.entries[-1].live.append(message)
            timeline.refresh_entry(len(timeline.entries) - 1)

    async def run_one(self) -> None:
        from pamexplorer.engine import EngineCrashed, EngineError
        from pamexplorer.profile import Expectation, ProfileError
        from pamexplorer.runner import call_step, crashed_step, run_step

        profile = self.profile
        assert profile is not None
        timeline = self.query_one(Timeline)
        index = self.next_index
        if index == 0:
            try:
                self.prepare()
            except ProfileError as err:
                timeline.add(Entry("crash", str(err)))
                self.finish()
                return
            assert self.secrets is not None
            running = timeline.add(Entry("running", "pam_start"))
            try:
                self.session = await self.app.engine.start(  # type: ignore[attr-defined]
                    profile.service,
                    profile.user,
                    confdir=self.confdir,
                    items=profile.items,
                    env=profile.env,
                    conversation=self.answers,
                    timeout=profile.timeout or None,
                )
            except EngineCrashed as err:
                self.results[0] = crashed_step(0, "start", "pam_start", err, self.secrets)
                timeline.replace(running, Entry("crash", self.secrets.scrub(str(err))))
                self.finish()
                return
            except EngineError as err:
                timeline.replace(running, Entry("crash", self.secrets.scrub(str(err))))
                self.finish()
                return
            record = self.session.start_record
            timeline.replace(running, Entry("call", "pam_start", record=self.shown(record)))
            self.results[0] = call_step(
                0, "start", record, Expectation(profile.expect_start), self.secrets
            )
            self.next_index = 1
            if record.code != 0 or not profile.steps:
                self.finish()
            self.render_steps()
            return
        step: Step = profile.steps[index - 1]
        assert self.secrets is not None
        running = timeline.add(Entry("running", step.libpam_name, flags=step.flags))
        try:
            # The runner's own step, on the blocking session under the async one, in a thread.
            outcome, record = await asyncio.to_thread(
                run_step, self.session.session, index, step, self.secrets
            )
            if record is not None:
                shown = self.shown(record)
                timeline.replace(running, Entry("call", step.libpam_name, record=shown))
            else:
                note = self.secrets.scrub(f"{step.label()}  ->  {outcome.code}")
                timeline.replace(running, Entry("note", note))
        except EngineCrashed as err:
            outcome = crashed_step(index, step.label(), step.libpam_name, err, self.secrets)
            timeline.replace(
                running,
                Entry("crash", self.secrets.scrub(str(err)), detail="the engine child is gone"),
            )
            self.session = None
            self.results[index] = outcome
            self.finish()
            return
        self.results[index] = outcome
        self.next_index = index + 1
        if self.next_index > len(profile.steps):
            self.finish()
        self.render_steps()

    def finish(self) -> None:
        """The run is over: its transaction ends with pam_end (it is idle between steps)."""
        self.finished = True
        session, self.session = self.session, None
        if session is not None:
            self.app.end_session(session, in_flight=False)  # type: ignore[attr-defined]
        self.refresh_all()
