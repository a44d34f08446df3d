"""The dashboard's model, without any UI: latest findings, one status per store (a tile), and a
short history of status changes.

Why here and not in the screen: what "the tile turned red" means is domain logic (worst status
of the store's findings) and must be testable without Textual; the screen only draws it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from wizard.verify.model import Finding, Status, worst
from wizard.verify.runner import Run

HISTORY = 20
STORE_ORDER = ("neo4j", "object-store", "volumes", "kms", "keys", "host")


@dataclass(frozen=True)
class Change:
    """One status change of a store tile (``at`` is the run's finish time, UTC)."""

    at: str
    store: str
    old: Status | None
    new: Status
    why: str

    def line(self) -> str:
        old = self.old.value if self.old else "—"
        return f"{self.at[11:19]} {self.store}: {old} → {self.new.value} ({self.why})"


@dataclass
class LiveState:
    findings: dict[str, Finding] = field(default_factory=dict)
    history: deque[Change] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last_run: str = ""
    runs: int = 0

    def stores(self) -> list[str]:
        present = {f.store for f in self.findings.values()}

        def order(store: str) -> tuple[int, str]:
            base = store.split(":", 1)[0]
            rank = STORE_ORDER.index(base) if base in STORE_ORDER else (2 if base == "volume" else len(STORE_ORDER))
            return rank, store

        return sorted(present, key=order)

    def of_store(self, store: str) -> list[Finding]:
        """The store's findings, worst first, then in the order the checks are declared."""
        from wizard.verify.registry import CHECKS

        order = {c.id: i for i, c in enumerate(CHECKS)}
        found = [f for f in self.findings.values() if f.store == store]
        return sorted(found, key=lambda f: (-f.status.rank, order.get(f.check_id, len(order)), f.subject))

    def status(self, store: str) -> Status:
        return worst([f.status for f in self.of_store(store)])

    def merge(self, run: Run, check_ids: set[str] | None = None) -> list[Change]:
        """Take a run's findings; with ``check_ids`` only those checks' findings are replaced."""
        before = {s: self.status(s) for s in self.stores()}
        if check_ids is None:
            kept = {k: f for k, f in self.findings.items() if f.check_id not in {x.check_id for x in run.findings}}
            # periodic runs leave out on-demand checks (canary): their last findings stay
        else:
            kept = {k: f for k, f in self.findings.items() if f.check_id not in check_ids}
        kept.update({f.key: f for f in run.findings})
        self.findings = kept
        self.last_run = run.finished
        self.runs += 1
        changes = []
        for store in self.stores():
            new = self.status(store)
            old = before.get(store)
            if old != new:
                culprit = next((f for f in self.of_store(store) if f.status is new), None)
                why = culprit.summary if culprit else ""
                why = why if len(why) <= 60 else why[:59] + "…"
                changes.append(Change(run.finished, store, old, new, why))
        self.history.extend(changes)
        return changes
