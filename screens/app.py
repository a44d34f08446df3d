"""The wizard app: holds the answers (a validated :class:`~wizard.plan.Plan`), runs detection in
workers, and moves between the screens of :data:`FLOW`.

Why it is small: every screen is its own module and renders declarations from the core; this
file only wires them (state, navigation, detection, save). Nothing is written before the user
presses Save on the Review screen; quitting earlier says "No changes were made".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer

from screens.base import WizardScreen
from screens.confirm import ConfirmCancel
from screens.execute import ExecuteScreen
from screens.help import HelpScreen, help_text
from screens.kms import KmsScreen
from screens.neo4j import Neo4jScreen
from screens.object_store import ObjectStoreScreen
from screens.policy import PolicyScreen
from screens.review import ReviewScreen
from screens.volumes import VolumesScreen
from screens.welcome import WelcomeScreen
from screens.widgets.messages import AnswersChanged, FactsChanged
from wizard import questions as Q
from wizard.detect import DEFAULT_TIMEOUT, PROBE_INPUTS, PROBES, Fact, Facts, Probe, probe_inputs
from wizard.errors import StacksealError
from wizard.plan import Plan, save_plan

#: The screens in order. Review saves; Execute is pushed after "Save and apply".
FLOW: list[type[WizardScreen]] = [
    WelcomeScreen,
    Neo4jScreen,
    ObjectStoreScreen,
    KmsScreen,
    VolumesScreen,
    PolicyScreen,
    ReviewScreen,
]
#: Screens shown after Execute finishes. The live verification dashboard (a later issue) is
#: appended here; "Finish" on Execute moves to the first of them, or exits when there is none.
AFTER_EXECUTE: list[type[Screen]] = []


@dataclass
class WizardResult:
    """What the wizard ended with (``None`` from ``App.run`` means cancelled)."""

    plan: Plan
    saved: bool
    applied: bool = False


class StacksealApp(App[WizardResult]):
    CSS_PATH = "app.tcss"
    TITLE = "stackseal"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+p", "previous", "Back"),
        Binding("escape", "previous", "Back", show=False),
        Binding("question_mark,f1", "help", "Help"),
        Binding("ctrl+q", "cancel", "Cancel", priority=True),
        Binding("ctrl+c", "cancel", "Cancel", show=False, priority=True),
    ]

    def __init__(
        self,
        plan: Plan,
        out: Path,
        keep: set[str] | None = None,
        facts: Facts | None = None,
        *,
        detect: bool = True,
        probes: list[Probe] | None = None,
        start_at: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.out = Path(out)
        #: Questions answered (or pre-filled): detection defaults never replace them.
        self.touched: set[str] = set(keep or ())
        #: True when the answers were pre-filled (--answers): Review then shows what changed.
        self.prefilled = bool(keep)
        #: Text fields whose current text is invalid, with the error shown under them.
        self.invalid: dict[str, str] = {}
        self.facts = facts if facts is not None else Facts()
        self.detect = detect
        self.probes = PROBES if probes is None else probes
        self.timeout = timeout
        self.index = start_at
        self.saved = False
        self._reprobe_timers: dict[str, Timer] = {}
        if facts is not None:
            self.plan = Q.apply_defaults(self.plan, self.facts, self.touched)

    # -- lifecycle -----------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._current: Screen = FLOW[self.index]()
        self.push_screen(self._current)
        if self.detect:
            for probe in self.probes:
                self._probe(probe)

    @work(thread=True, group="detect", exit_on_error=False)
    def _probe(self, probe: Probe) -> None:
        """One probe in its own thread (bounded by its timeout); the result goes to the UI thread."""
        plan = self.plan
        fact = probe.run(plan, self.timeout)
        self.call_from_thread(self._fact_arrived, fact, probe_inputs(probe.key, plan))

    def _fact_arrived(self, fact: Fact, inputs: tuple[Any, ...] = ()) -> None:
        if inputs != probe_inputs(fact.key, self.plan):
            return  # the address changed while this probe ran: a newer probe is on its way
        self.facts.add(fact)
        self.plan = Q.apply_defaults(self.plan, self.facts, self.touched)
        for screen in self.screen_stack:
            screen.post_message(FactsChanged())

    # -- answers --------------------------------------------------------------------------------
    def answer(self, question_id: str, value: Any) -> str | None:
        """Set one answer; returns the error to show inline (None when accepted)."""
        question = Q.question(question_id)
        if value == question.value(self.plan):
            self.invalid.pop(question_id, None)
            return None
        try:
            self.plan = question.apply(self.plan, value)
        except StacksealError as err:
            self.invalid[question_id] = str(err)
            return str(err)
        self.invalid.pop(question_id, None)
        self.touched.add(question_id)
        self.screen.post_message(AnswersChanged(question_id))
        self._reprobe(question_id)
        return None

    def _reprobe(self, question_id: str) -> None:
        """Probe a service again once its address has stopped changing (typing pauses 0.6 s)."""
        if not self.detect:
            return
        for probe in self.probes:
            if question_id in PROBE_INPUTS.get(probe.key, ()):
                timer = self._reprobe_timers.pop(probe.key, None)
                if timer is not None:
                    timer.stop()
                self._reprobe_timers[probe.key] = self.set_timer(0.6, partial(self._probe, probe))

    # -- navigation -----------------------------------------------------------------------------
    def title_for(self, screen: WizardScreen) -> str:
        if isinstance(screen, ExecuteScreen):
            return "stackseal · Execute"
        title = Q.page(screen.PAGE_ID).title if screen.PAGE_ID and screen.PAGE_ID != "project" else screen.TITLE_TEXT
        return f"stackseal · step {self.index + 1} of {len(FLOW)} · {title}"

    def _go(self, index: int) -> None:
        self.index = index
        self._current = FLOW[index]()
        self.switch_screen(self._current)

    def _switching(self) -> bool:
        """True while a new page is being mounted: a second Next/Back then must not skip a page."""
        current = self._current
        return self.screen is not current or not current.is_mounted

    def action_next(self) -> None:
        screen = self.screen
        if isinstance(screen, WizardScreen) and not isinstance(screen, ExecuteScreen) and self._switching():
            return
        if not isinstance(screen, WizardScreen) or isinstance(screen, ExecuteScreen):
            if isinstance(screen, ExecuteScreen) and screen.finished:
                self.finish_execute()
            return
        if isinstance(screen, ReviewScreen):
            if screen.review is not None and not screen.review.errors and self.save():
                self.exit(WizardResult(self.plan, saved=True))
            return
        if screen.can_leave() and self.index + 1 < len(FLOW):
            self._go(self.index + 1)

    def action_previous(self) -> None:
        """The previous page (named apart from Textual's own async ``action_back``, which it is not)."""
        screen = self.screen
        if isinstance(screen, WizardScreen) and not isinstance(screen, ExecuteScreen) and self.index > 0:
            if self._switching():
                return
            self._go(self.index - 1)

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        page_id = screen.PAGE_ID if isinstance(screen, WizardScreen) else None
        fallback = (screen.__doc__ or "").strip() if not page_id else ""
        self.push_screen(HelpScreen(help_text(page_id, self.plan, self.facts, fallback)))

    def action_cancel(self) -> None:
        if isinstance(self.screen, ConfirmCancel):
            return
        if isinstance(self.screen, ExecuteScreen) and not self.screen.finished:
            self.screen.request_cancel()  # never leave while a step runs: stop at a safe point first
            return
        if self.saved:
            message = f"Leave the wizard? {self.out} is saved; 'stackseal apply -c {self.out}' continues from here."
        else:
            message = "Quit without saving?\n\nNo changes were made: nothing has been written."

        def leave(yes: bool | None) -> None:
            if yes:
                self.exit(WizardResult(self.plan, saved=True) if self.saved else None)

        self.push_screen(ConfirmCancel(message), leave)

    # -- save / execute -------------------------------------------------------------------------
    def save(self) -> bool:
        """Write the answers file (atomically); problems are shown on the screen."""
        try:
            save_plan(self.plan, self.out)
        except StacksealError as err:
            self.notify(str(err), severity="error", timeout=10)
            return False
        self.saved = True
        return True

    def save_and_apply(self) -> None:
        if self.save():
            self.push_screen(ExecuteScreen())

    def finish_execute(self) -> None:
        screen = self.screen
        failed = isinstance(screen, ExecuteScreen) and screen.failed is not None
        if AFTER_EXECUTE and not failed:
            self.switch_screen(AFTER_EXECUTE[0]())
            return
        self.exit(WizardResult(self.plan, saved=True, applied=not failed))
