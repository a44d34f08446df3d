"""Cancel confirmation: quitting before saving writes nothing, and the screen says so."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmCancel(ModalScreen[bool]):
    """Returns True when the user really wants to leave."""

    BINDINGS = [Binding("escape,n", "stay", "Keep going"), Binding("y", "leave", "Quit")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.message, id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button("Keep going (n)", id="stay", variant="primary", compact=True)
                yield Button("Quit (y)", id="leave", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "leave")

    def action_stay(self) -> None:
        self.dismiss(False)

    def action_leave(self) -> None:
        self.dismiss(True)
