"""Help (``?`` / F1): every question of the current page with its full trade-off and choices."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from wizard import questions as Q
from wizard.detect import Facts
from wizard.plan import Plan

KEYS = (
    "Keys: Tab / Shift+Tab move between fields · arrows choose · Enter confirms · "
    "Ctrl+N next · Ctrl+P or Esc back · ? or F1 help · Ctrl+Q cancel (nothing is written)"
)


def help_text(page_id: str | None, plan: Plan, facts: Facts, fallback: str) -> Text:
    """The help of one page, built from the declarations only."""
    text = Text()
    text.append(KEYS + "\n\n", style="italic")
    if page_id is None:
        text.append(fallback + "\n\n")
    else:
        page = Q.page(page_id)
        text.append(page.title + "\n", style="bold underline")
        text.append(page.intro + "\n")
        for q in Q.visible_questions(plan, page_id):
            text.append(f"\n{q.title}\n", style="bold")
            text.append(q.help + "\n")
            for choice in q.choices:
                reason = q.disabled_reason(choice, plan, facts)
                style = "dim" if reason else ""
                text.append(f"  • {q.choice_title(choice, reason)}\n", style=style)
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close help")]

    def __init__(self, body: Text) -> None:
        super().__init__()
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            with VerticalScroll():
                yield Static(self.body, id="help-text")
            yield Button("Close (Esc)", id="close-help", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
