"""The apply journal: ``<out_dir>/.stackseal/journal.json``.

Why: an apply can be interrupted anywhere (Ctrl-C, SIGKILL, a power cut). The journal is
rewritten atomically after every step transition, so it always holds a complete, parseable
record of which steps finished. A re-run reads it, says it is resuming, skips the steps of the
same run that finished and whose facts still hold, and redoes the step that was interrupted;
every step is idempotent (or flagged), so redoing it is safe.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.fsutil import atomic_write, sha256_bytes
from wizard.plan import Plan, dump_plan

JOURNAL_VERSION = 1


def plan_fingerprint(plan: Plan) -> str:
    """Hash of the answers (a resumed run must be for the same answers)."""
    return sha256_bytes(dump_plan(plan).encode("utf-8"))[:16]


@dataclass
class StepRecord:
    status: str  # started | done | failed
    started_at: float
    finished_at: float | None = None
    changed: bool | None = None
    summary: str = ""
    error: str = ""


@dataclass
class Journal:
    """One apply run and what each step reached."""

    path: Path
    run_id: str
    plan_hash: str
    started_at: float
    status: str = "running"  # running | done | failed
    finished_at: float | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    resumed_from: str | None = None

    # -- persistence ------------------------------------------------------------------------
    @staticmethod
    def file(state_dir: Path) -> Path:
        return state_dir / "journal.json"

    @classmethod
    def load(cls, path: Path) -> Journal | None:
        """The journal at ``path``; ``None`` if absent. A damaged one is an error (never ignored)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            steps = {k: StepRecord(**v) for k, v in data.get("steps", {}).items()}
            return cls(
                path=path,
                run_id=data["run_id"],
                plan_hash=data["plan_hash"],
                started_at=data["started_at"],
                status=data["status"],
                finished_at=data.get("finished_at"),
                steps=steps,
                resumed_from=data.get("resumed_from"),
            )
        except FileNotFoundError:
            return None
        except OSError as err:  # a directory in its place, unreadable, I/O error: one line, not a traceback
            raise OperationFailed(
                f"{path}: cannot read the journal ({err.strerror}); move it aside and run apply again "
                "(steps re-check the facts)"
            ) from None
        except (ValueError, KeyError, TypeError, RecursionError) as err:
            raise OperationFailed(
                f"{path}: damaged journal ({err}); move it aside and run apply again (steps re-check the facts)"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JOURNAL_VERSION,
            "run_id": self.run_id,
            "plan_hash": self.plan_hash,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "resumed_from": self.resumed_from,
            "steps": {k: asdict(v) for k, v in self.steps.items()},
        }

    def save(self) -> None:
        atomic_write(self.path, (json.dumps(self.to_dict(), indent=2) + "\n").encode("utf-8"), mode=0o644)

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def begin(cls, state_dir: Path, plan: Plan) -> Journal:
        """Start a run, resuming the previous one if it did not finish for the same answers."""
        path = cls.file(state_dir)
        previous = cls.load(path)
        fingerprint = plan_fingerprint(plan)
        if previous is not None and previous.status != "done" and previous.plan_hash == fingerprint:
            previous.resumed_from = previous.resumed_from or previous.run_id
            previous.status = "running"
            previous.save()
            return previous
        journal = cls(path=path, run_id=uuid.uuid4().hex[:12], plan_hash=fingerprint, started_at=time.time())
        journal.save()
        return journal

    @property
    def resuming(self) -> bool:
        return self.resumed_from is not None

    def finished_steps(self) -> set[str]:
        return {k for k, v in self.steps.items() if v.status == "done"}

    def step_started(self, step_id: str) -> None:
        self.steps[step_id] = StepRecord(status="started", started_at=time.time())
        self.save()

    def step_done(self, step_id: str, changed: bool, summary: str) -> None:
        record = self.steps.setdefault(step_id, StepRecord(status="started", started_at=time.time()))
        record.status, record.finished_at, record.changed, record.summary = "done", time.time(), changed, summary
        self.save()

    def step_failed(self, step_id: str, error: str) -> None:
        record = self.steps.setdefault(step_id, StepRecord(status="started", started_at=time.time()))
        record.status, record.finished_at, record.error = "failed", time.time(), error
        self.status = "failed"
        self.save()

    def finish(self) -> None:
        self.status, self.finished_at = "done", time.time()
        self.save()
