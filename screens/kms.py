"""KMS backend, with a "Test connection" action whose result is shown inline.

Why a worker: reaching a KMS can hang on a firewall; the test runs in a thread with a timeout
(:func:`wizard.detect.kms_test`) and the user may continue offline at any time.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Static

from screens.base import QuestionPage
from screens.widgets.facts_panel import MARKS
from wizard.detect import Fact, kms_test
from wizard.plan import Plan

TEST_TIMEOUT = 5.0


class KmsScreen(QuestionPage):
    PAGE_ID = "kms"

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Static("", id="kms-result")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Test connection", id="test", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "test":
            event.stop()
            self.action_test_connection()
            return
        super().on_button_pressed(event)

    def action_test_connection(self) -> None:
        self.query_one("#kms-result", Static).update(
            Text("Testing the connection… (you can continue meanwhile)", style="dim")
        )
        self._test(self.wizard.plan)

    @work(thread=True, exclusive=True, group="kms-test", exit_on_error=False)
    def _test(self, plan: Plan) -> None:
        """Always ends in a result on screen: an unexpected error becomes one (never "Testing…" forever).

        Only the error's type is shown: its text may quote what was sent (a token in a header).
        """
        try:
            fact = kms_test(plan, TEST_TIMEOUT)
        except Exception as err:
            fact = Fact(
                "kms_test",
                "KMS",
                False,
                f"the connection test failed unexpectedly ({type(err).__name__}); "
                "you can continue and apply where the KMS is reachable",
            )
        self.app.call_from_thread(self._show, fact)

    def _show(self, fact: Fact) -> None:
        if not self.is_mounted:
            return
        mark, colour = MARKS[fact.ok]
        self.query_one("#kms-result", Static).update(
            Text.assemble((f"{mark} ", colour), ("Connection: ", "bold"), fact.summary)
        )
