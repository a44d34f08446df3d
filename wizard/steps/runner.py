"""Runs the steps: plan (check every step), dry-run, apply with a journal and events.

Why two phases (Terraform's plan/apply): the operator sees every change before anything
happens; ``--dry-run`` stops after the plan and writes nothing at all (not even the journal).
During apply every step is checked *again* right before it runs, so it acts on the facts as
earlier steps left them, not on the plan computed at the start.
"""

from __future__ import annotations

import errno
import json
import time
from dataclasses import dataclass, field
from typing import Any

from wizard.errors import OperationFailed, Refused, StacksealError
from wizard.marks import STEP_COUNT, STEP_VERB
from wizard.steps.base import Stage, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, StepDone, StepFailed, StepLog, StepStarted, discard
from wizard.steps.journal import Journal


def check_all(ctx: Context, steps: list[Stage] | None = None) -> list[tuple[Stage, StepCheck]]:
    """Every step of the plan (or ``steps``) with what it would do now (reads facts, changes nothing)."""
    from wizard.steps import build_steps

    checks = []
    for step in build_steps(ctx.plan) if steps is None else steps:
        try:
            checks.append((step, step.check(ctx)))
        except StacksealError:
            raise
        except Exception as err:  # as in run(): an OS or library error is one line, never a traceback
            raise OperationFailed(_describe(step.id, err)) from err
    return checks


def counts(checks: list[tuple[Stage, StepCheck]]) -> dict[str, int]:
    result = {"create": 0, "change": 0, "unchanged": 0}
    for _step, chk in checks:
        result[STEP_COUNT[chk.action]] += 1
    return result


def summary_line(checks: list[tuple[Stage, StepCheck]]) -> str:
    """ "3 to create, 1 to change, 6 already done" (or "No changes." when nothing differs)."""
    c = counts(checks)
    if c["create"] == 0 and c["change"] == 0:
        return f"No changes. {c['unchanged']} steps already done."
    return f"Plan: {c['create']} to create, {c['change']} to change, {c['unchanged']} already done."


def format_plan(checks: list[tuple[Stage, StepCheck]]) -> str:
    """Exactly what ``stackseal plan`` prints: one line per step, details indented, a summary."""
    width = max((len(step.id) for step, _ in checks), default=0)
    lines: list[str] = []
    for step, chk in checks:
        flag = "" if chk.idempotent else "  [not idempotent: runs again every apply]"
        lines.append(f"  {chk.action} {step.id:<{width}}  {step.title}: {chk.summary}{flag}")
        for detail in chk.details:
            lines.append(f"      {detail}")
        for item in chk.destroys:
            lines.append(f"      DESTROYS: {item}")
    lines.append("")
    lines.append(summary_line(checks))
    if any(chk.destroys for _, chk in checks):
        lines.append("Some steps destroy data listed above; apply refuses them without --allow-destroy.")
    return "\n".join(lines)


def plan_json(checks: list[tuple[Stage, StepCheck]]) -> dict[str, Any]:
    """The plan as data (``stackseal plan --json``): stable keys for scripts and CI."""
    c = counts(checks)
    return {
        "changes": c["create"] + c["change"] > 0,
        "summary": c,
        "steps": [
            {
                "id": step.id,
                "title": step.title,
                "action": chk.action,
                "verb": STEP_VERB[chk.action],
                "summary": chk.summary,
                "details": list(chk.details),
                "idempotent": chk.idempotent,
                "destroys": list(chk.destroys),
            }
            for step, chk in checks
        ],
    }


def dumps_plan_json(checks: list[tuple[Stage, StepCheck]]) -> str:
    return json.dumps(plan_json(checks), indent=2)


@dataclass
class RunResult:
    """What a run did: per step, whether it changed something and its summary line."""

    dry_run: bool
    checks: list[tuple[Stage, StepCheck]] = field(default_factory=list)
    outcomes: list[tuple[str, bool, str]] = field(default_factory=list)  # (step id, changed, summary)
    resumed_from: str | None = None

    @property
    def changed(self) -> int:
        return sum(1 for _, changed, _ in self.outcomes if changed)


def run(ctx: Context, emit: Emit = discard, dry_run: bool = False, steps: list[Stage] | None = None) -> RunResult:
    """Execute the plan's steps in order (or, with ``dry_run``, only check them).

    Raises the failing step's StacksealError after recording it in the journal and emitting
    :class:`StepFailed`; the steps before it stay done and a re-run resumes at the failed one.
    """
    from wizard.steps import build_steps

    if steps is None:
        steps = build_steps(ctx.plan)
    if dry_run:
        return RunResult(dry_run=True, checks=check_all(ctx, steps))

    journal = Journal.begin(ctx.state_dir, ctx.plan)
    result = RunResult(dry_run=False, resumed_from=journal.resumed_from)
    done_before = journal.finished_steps() if journal.resuming else set()
    if journal.resuming:
        emit(
            StepLog(
                "run",
                f"resuming interrupted run {journal.resumed_from}: "
                f"{len(done_before)} of {len(steps)} steps finished before",
            )
        )
    total = len(steps)
    for index, step in enumerate(steps, start=1):
        emit(StepStarted(step.id, step.title, index, total))
        start = time.monotonic()
        try:
            journal.step_started(step.id)
            chk = step.check(ctx)  # facts read again right before applying
            result.checks.append((step, chk))
            if not chk.changes:
                _finish(journal, emit, result, step.id, False, chk.summary, start)
                continue
            if not chk.idempotent and step.id in done_before:
                _finish(
                    journal,
                    emit,
                    result,
                    step.id,
                    False,
                    "done earlier in this run (not repeated: this step cannot detect its own result)",
                    start,
                )
                continue
            if not isinstance(step, Step):  # a precondition only looks: a change is a bug in it
                raise OperationFailed(f"precondition {step.id} reported a change ({chk.summary}); it must only look")
            if chk.destroys and not ctx.allow_destroy:
                raise Refused(
                    f"step {step.id} would destroy: {'; '.join(chk.destroys)}; "
                    "re-run with --allow-destroy if that is really intended"
                )
            summary = step.apply(ctx, emit)
            _finish(journal, emit, result, step.id, True, summary, start)
        except StacksealError as err:
            _record_failure(journal, step.id, str(err))
            emit(StepFailed(step.id, str(err), time.monotonic() - start))
            raise
        except Exception as err:  # an OS error, a bug or an unexpected library error: still one line
            message = _describe(step.id, err)
            _record_failure(journal, step.id, message)
            emit(StepFailed(step.id, message, time.monotonic() - start))
            raise OperationFailed(message) from err
    journal.finish()
    return result


def _describe(step_id: str, err: Exception) -> str:
    """One line for an exception no step turned into a StacksealError itself."""
    if isinstance(err, OSError) and err.strerror:
        where = f"{err.filename}: " if err.filename else ""
        if err.errno == errno.ENOSPC:
            return f"step {step_id}: {where}disk full; free space and run apply again (it resumes here)"
        if err.errno in (errno.EACCES, errno.EPERM):
            return f"step {step_id}: {where}permission denied; run as root or choose paths you can write (volumes.root, output_dir)"
        return f"step {step_id}: {where}{err.strerror}"
    return f"step {step_id} failed unexpectedly: {type(err).__name__}: {err}"


def _record_failure(journal: Journal, step_id: str, message: str) -> None:
    """Record a failure; if even that fails (disk full), the original error is what the user sees.

    The journal then still says the step *started*, which resumes exactly the same way.
    """
    try:
        journal.step_failed(step_id, message)
    except StacksealError:
        pass


def _finish(
    journal: Journal, emit: Emit, result: RunResult, step_id: str, changed: bool, summary: str, start: float
) -> None:
    journal.step_done(step_id, changed, summary)
    result.outcomes.append((step_id, changed, summary))
    emit(StepDone(step_id, changed, summary, time.monotonic() - start))
