"""A dashboard tile: one store (Neo4j, the object store, a volume, the KMS, keys) and its status.

Why a focusable Static: the tiles are navigated with Tab/arrow keys and opened with Enter (or a
click), and the colour comes from a CSS class per status so the theme owns the colours.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from wizard.verify.model import Finding, Status

LABELS = {
    "neo4j": "Neo4j",
    "object-store": "Object store",
    "kms": "KMS",
    "keys": "Keys",
    "host": "Host disk",
    "volumes": "Volumes",
}
STATUS_CLASSES = {s: f"-{s.value.lower()}" for s in Status}


def store_label(store: str) -> str:
    if store.startswith("volume:"):
        return f"Volume {store.split(':', 1)[1]}"
    return LABELS.get(store, store)


class StoreTile(Static, can_focus=True):
    """Shows a store's worst status, its counts and the first finding that explains it."""

    BINDINGS = [Binding("enter", "open", "Details")]

    class Open(Message):
        def __init__(self, store: str) -> None:
            super().__init__()
            self.store = store

    def __init__(self, store: str, **kwargs: object) -> None:
        super().__init__("", id=f"tile-{store.replace(':', '--')}", classes="tile", **kwargs)  # type: ignore[arg-type]
        self.store = store
        self.status = Status.SKIP

    def show(self, status: Status, findings: list[Finding]) -> None:
        self.status = status
        for cls in STATUS_CLASSES.values():
            self.remove_class(cls)
        self.add_class(STATUS_CLASSES[status])
        counts = {s: sum(f.status is s for f in findings) for s in Status}
        culprit = next((f for f in findings if f.status is status), None)
        text = Text()
        text.append(f"{store_label(self.store)}\n", style="bold")
        text.append(f"{status.value}\n", style="bold")
        text.append(" · ".join(f"{n} {s.value.lower()}" for s, n in counts.items() if n) + "\n")
        if culprit is not None:
            text.append(culprit.summary[:120])
        self.update(text)

    def action_open(self) -> None:
        self.post_message(self.Open(self.store))

    def on_click(self) -> None:
        self.action_open()
