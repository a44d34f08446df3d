"""Modals of the dashboard's Unlock / Lock: an unseal share asked with a masked input, and the
confirmation before a lock stops the running stack.

Why modals that only return a value: the unlock runs in a thread worker (``wizard.kms.unlock``);
when the Vault/OpenBao is sealed the core calls the dashboard's shares provider, which pushes
:class:`UnsealShare` and waits for its answer. The share goes straight back to the core: it is
never shown (``password=True``), logged, or kept on the screen after it is dismissed.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2; }}
{name} Horizontal {{ height: 1; margin: 1 0 0 0; }}
{name} Button {{ margin: 0 2 0 0; }}
"""


class UnsealShare(ModalScreen[str | None]):
    """Asks share ``index`` of ``threshold`` for ``where``; returns it, or None when cancelled."""

    DEFAULT_CSS = _CSS.format(name="UnsealShare")
    BINDINGS = [Binding("escape", "cancel", "Cancel unlock")]

    def __init__(self, where: str, index: int, threshold: int) -> None:
        super().__init__()
        self.where, self.index, self.threshold = where, index, threshold

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"{self.where} is sealed. Unseal share {self.index} of {self.threshold}:\n"
                "(typed characters are not shown; the share is sent to the server only)",
                id="unseal-text",
            )
            yield Input(password=True, placeholder="unseal share", id="unseal-share")
            with Horizontal():
                yield Button("Submit (enter)", id="unseal-submit", variant="primary", compact=True)
                yield Button("Cancel (esc)", id="unseal-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#unseal-share", Input).focus()

    def _submit(self) -> None:
        field = self.query_one("#unseal-share", Input)
        value = field.value.strip()
        if not value:
            self.notify("type the share, or press esc to cancel", timeout=3)
            return
        field.value = ""  # nothing of the share stays in the widget tree
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "unseal-submit":
            self._submit()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.query_one("#unseal-share", Input).value = ""
        self.dismiss(None)


class ConfirmLock(ModalScreen[bool]):
    """Lock stops the running stack first: True when the user agrees."""

    DEFAULT_CSS = _CSS.format(name="ConfirmLock")
    BINDINGS = [Binding("escape,n", "no", "Keep running"), Binding("y", "yes", "Stop and lock")]

    def __init__(self, services: list[str]) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"The stack is running ({', '.join(self.services)}). Locking stops it, closes its volumes "
                "and wipes the unwrapped keys. Stop and lock?",
                id="lock-text",
            )
            with Horizontal():
                yield Button("Keep running (n)", id="lock-no", variant="primary", compact=True)
                yield Button("Stop and lock (y)", id="lock-yes", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#lock-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "lock-yes")

    def action_no(self) -> None:
        self.dismiss(False)

    def action_yes(self) -> None:
        self.dismiss(True)
