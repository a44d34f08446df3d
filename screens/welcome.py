"""Welcome: what stackseal does, the project name, and what it finds on this host (live).

The questions come before the facts so that, at 80x24, the field that has focus is on screen;
the facts fill in below as each detection worker finishes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Label, Static

from screens.base import QuestionPage
from screens.widgets.facts_panel import FactsPanel
from screens.widgets.question_form import QuestionForm
from wizard import questions as Q


class WelcomeScreen(QuestionPage):
    TITLE_TEXT = "Welcome"
    PAGE_ID = "project"

    def compose_body(self) -> ComposeResult:
        yield Static(Q.page("project").intro, classes="intro")
        out = self.wizard.out
        if out.exists() and not self.wizard.prefilled:
            yield Static(
                f"Note: {out} exists and will be replaced when you save (Review shows the diff). "
                f"To start from it instead: stackseal wizard --answers {out}",
                id="out-exists",
            )
        yield QuestionForm("project")
        yield Label("Detected on this host (it sets the defaults of the next screens)", classes="section")
        yield FactsPanel(self.wizard.facts, id="facts")

    def sync(self) -> None:
        super().sync()
        self.query_one(FactsPanel).refresh_facts()
