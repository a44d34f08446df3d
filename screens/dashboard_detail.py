"""Drill-down of one dashboard tile: its findings, each with evidence, remediation and the
compliance references; ``r`` re-runs the highlighted finding's check.

Why a modal that returns nothing and posts a message: the dashboard owns the worker that runs
checks; this screen only says which check to run again.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from screens.widgets.store_tile import store_label
from wizard.verify.model import Finding

STYLE = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "SKIP": "dim"}


def finding_text(f: Finding) -> Text:
    """Everything a user needs to re-check a finding by hand."""
    text = Text()
    text.append(f"{f.status.value} ", style=STYLE[f.status.value])
    text.append(f"{f.title}\n", style="bold")
    text.append(f"check {f.check_id}" + (f" · {f.subject}" if f.subject else "") + f" · {f.seconds:.2f} s\n\n")
    text.append(f"{f.summary}\n")
    if f.remediation:
        text.append("\nRemediation: ", style="bold")
        text.append(f"{f.remediation}\n")
    for e in f.evidence:
        text.append(f"\n{e.label} ({e.kind})\n", style="bold")
        if e.command:
            text.append(f"$ {e.command}\n", style="cyan")
        if e.output:
            text.append(f"{e.output}\n")
    if f.references:
        text.append("\nReferences: ", style="bold")
        text.append("; ".join(r.label() for r in f.references) + "\n")
    return text


class RerunCheck(Message):
    """Ask the dashboard to run one check again now."""

    def __init__(self, check_id: str) -> None:
        super().__init__()
        self.check_id = check_id


class StoreDetail(ModalScreen[None]):
    """The findings of one store."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("r", "rerun", "Re-run this check"),
    ]

    def __init__(self, store: str, findings: list[Finding]) -> None:
        super().__init__()
        self.store = store
        self.findings = findings

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box"):
            yield Static(f"{store_label(self.store)} · {len(self.findings)} findings", id="detail-title")
            yield OptionList(
                *[
                    Option(Text.assemble((f"{f.status.value:4} ", STYLE[f.status.value]), f.key), id=f.key)
                    for f in self.findings
                ],
                id="detail-list",
            )
            with VerticalScroll(id="detail-scroll"):
                yield Static("", id="detail-body")
        yield Footer()

    def on_mount(self) -> None:
        if self.findings:
            self.query_one(OptionList).highlighted = 0
            self._show(self.findings[0])

    def update_findings(self, findings: list[Finding]) -> None:
        """Called by the dashboard after a refresh: keep the highlighted finding in view."""
        current = self.selected()
        self.findings = findings
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            [Option(Text.assemble((f"{f.status.value:4} ", STYLE[f.status.value]), f.key), id=f.key) for f in findings]
        )
        keys = [f.key for f in findings]
        index = keys.index(current.key) if current is not None and current.key in keys else 0
        if findings:
            options.highlighted = index
            self._show(findings[index])

    def selected(self) -> Finding | None:
        index = self.query_one(OptionList).highlighted
        return self.findings[index] if index is not None and index < len(self.findings) else None

    def _show(self, finding: Finding) -> None:
        self.query_one("#detail-body", Static).update(finding_text(finding))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        finding = self.selected()
        if finding is not None:
            self._show(finding)

    def action_rerun(self) -> None:
        finding = self.selected()
        if finding is not None:
            self.app.screen_stack[-2].post_message(RerunCheck(finding.check_id))
            self.notify(f"re-running {finding.check_id}…", timeout=3)

    def action_close(self) -> None:
        self.dismiss(None)
