"""Messages the app sends to its screens.

Why messages: detection and the KMS test run in worker threads; they never touch widgets. The
app records the result, then tells the screens, which redraw themselves on the UI thread.
"""

from __future__ import annotations

from textual.message import Message


class FactsChanged(Message):
    """A detection fact arrived (and defaults may have changed)."""


class AnswersChanged(Message):
    """An answer changed: visibility and disabled choices must be re-evaluated."""

    def __init__(self, question_id: str) -> None:
        super().__init__()
        self.question_id = question_id
