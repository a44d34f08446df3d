"""Precondition ``host-tools``: the host has what the volume backend needs.

Why before anything is created: a missing ``gocryptfs`` discovered after half the volumes exist
wastes the operator's time; this stops at once with the command that installs it. What a
backend needs is its own declaration (``VolumeBackend.tools`` and ``requires``), the same one
detection uses to offer or refuse the backend in the wizard.
"""

from __future__ import annotations

import shutil

from wizard.errors import OperationFailed
from wizard.steps.base import Facts, Precondition, StepCheck
from wizard.steps.context import Context
from wizard.volumes import get_backend


class HostToolsPrecondition(Precondition):
    id = "host-tools"
    title = "Host tools for the volume backend"

    def read_facts(self, ctx: Context) -> Facts:
        from wizard.detect import PROBES, detect_all

        backend = get_backend(ctx.plan)
        before_apply = [r for r in backend.requires if r.before_apply]
        found = detect_all(ctx.plan, probes=[p for p in PROBES if p.key in {r.fact for r in before_apply}])
        requirements = []
        for requirement in before_apply:
            fact = found.get(requirement.fact)
            summary = fact.summary if fact is not None else f"{requirement.fact} is not available"
            requirements.append(
                {"fact": requirement.fact, "ok": found.ok(requirement.fact), "missing": requirement.missing or summary}
            )
        return {
            "backend": backend.name,
            "tools": [
                {"name": tool, "install": install, "path": shutil.which(tool)} for tool, install in backend.tools
            ],
            "requirements": requirements,
        }

    def decide(self, facts: Facts) -> StepCheck:
        missing = [f"{t['name']} (install: {t['install']})" for t in facts["tools"] if not t["path"]]
        missing += [r["missing"] for r in facts["requirements"] if r["ok"] is False]
        if missing:
            raise OperationFailed(f"volumes.backend {facts['backend']} needs: {'; '.join(missing)}")
        tools = ", ".join(t["name"] for t in facts["tools"]) or "nothing extra"
        return StepCheck("=", f"{facts['backend']}: {tools} present")
