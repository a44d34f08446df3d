"""Run checks concurrently, each with its own timeout; never changes anything.

Why threads (ThreadPoolExecutor): checks wait on sockets and subprocesses, not on the CPU, so
running them side by side turns a run into the time of the slowest check. A check that does not
answer in time becomes a FAIL ("not proven in time"); its thread is abandoned, never waited for.
A check that raises becomes a FAIL naming the error type and message (never a traceback).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wizard.verify.context import VerifyContext
from wizard.verify.model import Check, Finding, Result, Status
from wizard.verify.registry import CHECKS

MAX_WORKERS = 32


@dataclass
class Run:
    """One verification run: when, what, and every finding in declaration order."""

    project: str
    started: str
    finished: str
    deep: bool
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for f in self.findings:
            counts[f.status.value] += 1
        return counts

    @property
    def failed(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _one(check: Check, ctx: VerifyContext) -> list[Finding]:
    start = time.monotonic()
    try:
        results = check.func(ctx)
    except Exception as err:  # a check must never take the run down
        message = str(err).splitlines()[0][:300] if str(err) else ""
        results = [Result(Status.FAIL, f"the check could not run: {type(err).__name__}: {message}".rstrip(": "))]
    seconds = time.monotonic() - start
    if not results:
        results = [Result(Status.SKIP, "nothing to check")]
    return [check.finding(r, seconds) for r in results]


#: Imported once on the calling thread before any check starts: the first import of a package
#: from two threads at once can fail ("partially initialized module", seen with neo4j).
PRELOAD = (
    "neo4j",
    "neo4j.exceptions",
    "minio",
    "minio.error",
    "minio.sse",
    "minio.sseconfig",
    "urllib3",
    "docker",
    "hvac",
)


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the check that needs it reports the missing package


def run_checks(ctx: VerifyContext, checks: Iterable[Check] | None = None) -> Run:
    """Run ``checks`` (all by default) and return the findings in declaration order."""
    selected = list(CHECKS if checks is None else checks)
    _preload()
    started = _now()
    pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(len(selected), 1)), thread_name_prefix="verify")
    t0 = time.monotonic()
    futures = {check.id: pool.submit(_one, check, ctx) for check in selected}
    findings: list[Finding] = []
    try:
        for check in selected:
            future = futures[check.id]
            remaining = max(check.timeout - (time.monotonic() - t0), 0.0)
            done, _ = wait([future], timeout=remaining)
            if done:
                findings.extend(future.result())
            else:
                future.cancel()
                ctx.cancel.set()  # scans and listings still running stop at their next buffer
                findings.append(
                    check.finding(
                        Result(
                            Status.FAIL, f"no answer within {check.timeout:.0f}s: not proven (is a service hanging?)"
                        ),
                        check.timeout,
                    )
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return Run(ctx.plan.project, started, _now(), ctx.deep, findings)
