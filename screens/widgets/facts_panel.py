"""The detected environment, one line per probe, filled in as results arrive.

Why every probe is listed from the start ("checking…"): the user sees what is being looked at
and that nothing blocks; each line turns into its result when its worker finishes.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from wizard.detect import PROBES, Facts

MARKS = {True: ("✔", "green"), False: ("✘", "red"), None: ("?", "yellow")}


class FactsPanel(Static):
    """Renders :data:`wizard.detect.PROBES` against the facts found so far."""

    DEFAULT_CSS = """
    FactsPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, facts: Facts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.facts = facts

    def on_mount(self) -> None:
        self.refresh_facts()

    def refresh_facts(self) -> None:
        text = Text()
        for index, probe in enumerate(PROBES):
            fact = self.facts.get(probe.key)
            if index:
                text.append("\n")
            if fact is None:
                text.append("… ", style="dim")
                text.append(f"{probe.title}: ", style="bold")
                text.append("checking…", style="dim")
                continue
            mark, colour = MARKS[fact.ok]
            text.append(f"{mark} ", style=colour)
            text.append(f"{fact.title}: ", style="bold")
            text.append(fact.summary)
        self.update(text)
