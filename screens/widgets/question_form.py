"""Textual rendering of :mod:`wizard.questions`: one field per question of a page.

Why here and not in ``wizard/questions.py``: the core never imports Textual (an import-linter
contract and a test enforce it). This module is the Textual twin of
:meth:`wizard.questions.Question.to_questionary`: it adds no wording of its own; titles, help,
choices, consequences and disabled reasons all come from the declarations.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static

from wizard.questions import Question, questions_for

if TYPE_CHECKING:
    from screens.app import StacksealApp


class ChoiceButton(RadioButton):
    """A radio button whose state shows without colour (monochrome terminals, screen captures)."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # a class constant upstream; ours follows the value
        return "●" if self.value else " "

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As many lines as the wrapped label needs (a disabled choice's reason must be readable
        in full at 80 columns; the stock toggle button is always one line)."""
        text = "▐●▌ " + str(self.label) + " "
        return max(1, len(textwrap.wrap(text, max(10, width), break_long_words=True)))


class YesBox(Checkbox):
    """A checkbox whose state shows without colour."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # a class constant upstream; ours follows the value
        return "X" if self.value else " "


class ChoiceSet(RadioSet):
    """A radio set where moving the highlight also selects (like a browser's radio group).

    Why: with the stock RadioSet, arrowing to an option and pressing Next silently keeps the old
    answer; selection that follows the cursor removes that trap. Disabled choices are skipped.
    """

    BINDINGS = [
        Binding("down,right", "select_next", "Next option", show=False),
        Binding("up,left", "select_previous", "Previous option", show=False),
        Binding("enter", "confirm", "Confirm", show=False),
    ]

    def action_confirm(self) -> None:
        """Enter keeps the highlighted choice and moves on, like Enter in a text field."""
        self.action_toggle_button()
        self.screen.focus_next()

    def on_mount(self) -> None:
        # RadioSet's own mount handler puts the cursor on the first option; afterwards, move it
        # to the current answer so that arrows move from what is selected.
        self.call_after_refresh(self._cursor_to_answer)

    def _cursor_to_answer(self) -> None:
        if self.pressed_index >= 0:
            self._selected = self.pressed_index

    def action_select_next(self) -> None:
        self.action_next_button()
        self.action_toggle_button()

    def action_select_previous(self) -> None:
        self.action_previous_button()
        self.action_toggle_button()

    def action_toggle_button(self) -> None:
        if self._selected is not None:
            button = self._nodes[self._selected]
            if isinstance(button, RadioButton) and not button.value and not button.disabled:
                button.value = True


class QuestionField(Vertical):
    """Title, help, the input widget and an inline error line for one question."""

    DEFAULT_CSS = """
    QuestionField { height: auto; margin: 0 0 1 0; }
    QuestionField .q-title { text-style: bold; }
    QuestionField .q-help { color: $text-muted; }
    QuestionField .q-error { color: $error; height: auto; }
    QuestionField Input { width: 100%; background: $boost; }
    QuestionField Input:focus { background: $primary 30%; }
    """

    def __init__(self, question: Question) -> None:
        super().__init__(id=f"q-{question.id.replace('.', '-')}", classes="question")
        self.question = question

    @property
    def wizard(self) -> StacksealApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        q = self.question
        plan, facts = self.wizard.plan, self.wizard.facts
        current = q.value(plan)
        yield Label(q.title, classes="q-title")
        yield Static(q.help, classes="q-help")
        if q.kind == "choice":
            buttons = []
            for choice in q.choices:
                reason = q.disabled_reason(choice, plan, facts)
                buttons.append(
                    ChoiceButton(q.choice_title(choice, reason), value=choice.value == current, disabled=bool(reason))
                )
            yield ChoiceSet(*buttons, id=self._control_id, compact=True)
        elif q.kind == "bool":
            yield YesBox("Yes", value=bool(current), id=self._control_id, compact=True)
        else:
            yield Input(
                value=q.format(current),
                placeholder=q.placeholder,
                type="integer" if q.kind == "int" else "text",
                id=self._control_id,
                compact=True,
            )
        yield Static("", classes="q-error")

    @property
    def _control_id(self) -> str:
        return f"in-{self.question.id.replace('.', '-')}"

    # -- user input -> answers ----------------------------------------------------------------
    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self._answer(self.question.choices[event.index].value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._answer(event.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        q = self.question
        error = q.validate_text(self.wizard.plan, event.value)
        if error is None:
            self._answer(q.parse(event.value))
        else:
            self.wizard.invalid[q.id] = error
            self._show_error(error)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a text field moves on, like Tab (keyboard-only users expect it)."""
        event.stop()
        self.screen.focus_next()

    def _answer(self, value: Any) -> None:
        error = self.wizard.answer(self.question.id, value)
        self._show_error(error or "")

    def _show_error(self, message: str) -> None:
        self.query_one(".q-error", Static).update(message)

    def commit(self) -> None:
        """Record what the widget shows now, even if its Changed message is still queued.

        Why: a fast typist (or tmux send-keys) can press Ctrl+N before the widget's Changed
        message has been handled; leaving the page must use what the user sees.
        """
        q = self.question
        if not self.display:
            return
        if q.kind == "choice":
            index = self.query_one(ChoiceSet).pressed_index
            if index >= 0:
                self._answer(q.choices[index].value)
        elif q.kind == "bool":
            self._answer(self.query_one(YesBox).value)
        else:
            text = self.query_one(Input).value
            error = q.validate_text(self.wizard.plan, text)
            if error is None:
                self._answer(q.parse(text))
            else:
                self.wizard.invalid[q.id] = error
                self._show_error(error)

    # -- answers -> display -------------------------------------------------------------------
    def sync(self) -> None:
        """Re-read visibility, disabled choices and fact-derived values from the app's plan."""
        q = self.question
        plan, facts = self.wizard.plan, self.wizard.facts
        self.display = q.visible(plan)
        current = q.value(plan)
        if q.kind == "choice":
            radio = self.query_one(ChoiceSet)
            for button, choice in zip(radio.query(RadioButton), q.choices, strict=True):
                reason = q.disabled_reason(choice, plan, facts)
                button.label = q.choice_title(choice, reason)
                button.disabled = bool(reason)
                if choice.value == current and not button.value:
                    button.value = True  # the set posts Changed; answering the same value is a no-op
        elif q.kind == "bool":
            box = self.query_one(Checkbox)
            if box.value != bool(current):
                box.value = bool(current)
        elif q.id not in self.wizard.touched and q.id not in self.wizard.invalid:
            field = self.query_one(Input)  # a fact-derived default (e.g. the running project's name)
            if field.value != q.format(current):
                field.value = q.format(current)


class QuestionForm(Vertical):
    """Every question of one page, in declaration order."""

    DEFAULT_CSS = """
    QuestionForm { height: auto; }
    """

    def __init__(self, page_id: str) -> None:
        super().__init__(id=f"form-{page_id}")
        self.page_id = page_id

    def compose(self) -> ComposeResult:
        for q in questions_for(self.page_id):
            yield QuestionField(q)

    def on_mount(self) -> None:
        self.sync()

    def sync(self) -> None:
        for field in self.query(QuestionField):
            field.sync()

    def commit(self) -> None:
        for field in self.query(QuestionField):
            field.commit()
