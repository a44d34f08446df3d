"""What every wizard screen shares: a title bar with the step number, a scrolling body, a
problems line, Back/Next buttons and the key footer.

Why a base class: the screens stay thin (each declares only its body), and every screen gets the
same keyboard behaviour: Back/Next everywhere, help on ``?``/F1, cancel on Ctrl+Q / Ctrl+C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from screens.widgets.messages import AnswersChanged, FactsChanged
from screens.widgets.question_form import QuestionForm
from wizard import questions as Q

if TYPE_CHECKING:
    from screens.app import StacksealApp


class WizardScreen(Screen):
    """A step of the flow. Subclasses implement :meth:`compose_body` (and maybe the buttons)."""

    #: Shown in the title bar.
    TITLE_TEXT = ""
    #: The questions page this screen renders, if any.
    PAGE_ID: str | None = None
    NEXT_LABEL = "Next →"

    @property
    def wizard(self) -> StacksealApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(self.wizard.title_for(self), id="titlebar")
        with VerticalScroll(id="body"):
            yield from self.compose_body()
        yield Static("", id="problems")
        with Horizontal(id="nav"):
            yield Button("← Back", id="back", compact=True, disabled=self.wizard.index == 0)
            yield from self.compose_buttons()
            yield Button(self.NEXT_LABEL, id="next", variant="primary", compact=True)
        yield Footer()

    def compose_body(self) -> ComposeResult:
        if self.PAGE_ID:
            yield Static(Q.page(self.PAGE_ID).intro, classes="intro")
            yield QuestionForm(self.PAGE_ID)

    def compose_buttons(self) -> ComposeResult:
        yield from ()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            event.stop()
            self.wizard.action_previous()
        elif event.button.id == "next":
            event.stop()
            self.wizard.action_next()

    # -- leaving the page ------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """What must be fixed before Next (empty = may leave)."""
        if not self.PAGE_ID:
            return []
        plan = self.wizard.plan
        visible = {q.id for q in Q.visible_questions(plan, self.PAGE_ID)}
        found = [f"{Q.question(qid).title}: {error}" for qid, error in self.wizard.invalid.items() if qid in visible]
        return found + Q.page_problems(plan, self.PAGE_ID, self.wizard.facts)

    def can_leave(self) -> bool:
        for form in self.query(QuestionForm):
            form.commit()
        found = self.problems()
        self.query_one("#problems", Static).update("\n".join(f"✘ {p}" for p in found))
        self._told = bool(found)
        return not found

    # -- refresh ---------------------------------------------------------------------------------
    def on_facts_changed(self, message: FactsChanged) -> None:
        self.sync()

    def on_answers_changed(self, message: AnswersChanged) -> None:
        self.sync()

    def sync(self) -> None:
        for form in self.query(QuestionForm):
            form.sync()
        if getattr(self, "_told", False):  # re-check only once the user has been told
            self.can_leave()


class QuestionPage(WizardScreen):
    """A screen that shows one page of questions and nothing else."""

    def on_mount(self) -> None:
        first = self.query(".question Input, .question RadioSet, .question Checkbox")
        for widget in first:
            if widget.display and widget.parent.display:  # type: ignore[union-attr]
                widget.focus()
                break
