"""Welcome: what stackseal does, what it found on this host (live), and the project name."""

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
        yield Label("Detected on this host", classes="section")
        yield FactsPanel(self.wizard.facts, id="facts")
        yield QuestionForm("project")

    def sync(self) -> None:
        super().sync()
        self.query_one(FactsPanel).refresh_facts()
