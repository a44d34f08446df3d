"""What a verification check is and what it finds, as plain data.

Why data and not code paths: the CLI table, ``--json``, JUnit, the audit report, the
Prometheus textfile and the dashboard all render the same :class:`Finding` objects; a check
is declared once (:class:`Check`: id, store, title, remediation, compliance references, the
function that looks) and never knows how it is shown. Evidence is what a user can re-run: a
command and the output we saw, a header, a byte count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wizard.verify.context import VerifyContext


class Status(StrEnum):
    """Outcome of one finding. Order of severity: FAIL > WARN > PASS > SKIP."""

    PASS = "PASS"
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"

    @property
    def rank(self) -> int:
        return {"FAIL": 3, "WARN": 2, "PASS": 1, "SKIP": 0}[self.value]


def worst(statuses: list[Status]) -> Status:
    """The most severe status (SKIP when there is nothing)."""
    return max(statuses, key=lambda s: s.rank, default=Status.SKIP)


@dataclass(frozen=True)
class Reference:
    """A compliance control this check gives evidence for."""

    framework: str
    control: str
    title: str

    def label(self) -> str:
        return f"{self.framework} {self.control}"


@dataclass(frozen=True)
class Evidence:
    """Something a user can re-run or look at: ``kind`` is command | header | bytes | text.

    ``command`` is the shell command that shows the same thing (re-runnable), ``output`` what
    stackseal saw (trimmed). Never holds a secret value.
    """

    kind: str
    label: str
    command: str = ""
    output: str = ""

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "label": self.label, "command": self.command, "output": self.output}


@dataclass(frozen=True)
class Finding:
    """One result: a check applied to one subject (a volume, a bucket, the store as a whole)."""

    check_id: str
    store: str
    title: str
    status: Status
    summary: str
    subject: str = ""
    evidence: tuple[Evidence, ...] = ()
    remediation: str = ""
    references: tuple[Reference, ...] = ()
    seconds: float = 0.0

    @property
    def key(self) -> str:
        """Stable identity across runs (the dashboard's history compares by it)."""
        return f"{self.check_id}[{self.subject}]" if self.subject else self.check_id

    def to_json(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "store": self.store,
            "subject": self.subject,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": [e.to_json() for e in self.evidence],
            "remediation": self.remediation,
            "references": [{"framework": r.framework, "control": r.control, "title": r.title} for r in self.references],
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Result:
    """What a check function returns for one subject; the runner adds the declared fields."""

    status: Status
    summary: str
    subject: str = ""
    evidence: tuple[Evidence, ...] = ()
    #: overrides the check's store (a volume check reports under ``volume:<name>``)
    store: str | None = None
    #: overrides the check's remediation when the fix depends on what was found
    remediation: str | None = None


CheckFunc = Callable[["VerifyContext"], list[Result]]


@dataclass(frozen=True)
class Check:
    """A check declared once: what it proves, how to fix a failure, which controls it serves."""

    id: str
    store: str
    title: str
    func: CheckFunc = field(repr=False)
    remediation: str
    references: tuple[Reference, ...]
    #: seconds before the runner gives up on it (reported as FAIL: not proven)
    timeout: float = 60.0
    #: False for checks that write something (the canary): the dashboard runs them on demand only
    periodic: bool = True

    def finding(self, result: Result, seconds: float) -> Finding:
        return Finding(
            check_id=self.id,
            store=result.store or self.store,
            title=self.title,
            status=result.status,
            summary=result.summary,
            subject=result.subject,
            evidence=result.evidence,
            remediation="" if result.status in (Status.PASS, Status.SKIP) else (result.remediation or self.remediation),
            references=self.references,
            seconds=seconds,
        )
