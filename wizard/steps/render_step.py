"""Step ``render``: write the stack's files through the render engineer's writer.

Why a step: apply must produce exactly what ``stackseal render`` would, and only write files
that differ (the writer compares hashes against its manifest). Files the user edited by hand
are conflicts: apply refuses to overwrite them unless ``--allow-destroy`` is given, and says
which ones.
"""

from __future__ import annotations

from wizard.steps.base import Action, Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, StepLog


class RenderStep(Step):
    id = "render"
    title = "Write the stack's files"

    def read_facts(self, ctx: Context) -> Facts:
        from wizard.render.writer import preview

        changes = preview(ctx.plan, ctx.out_dir)
        return {"out_dir": str(ctx.out_dir), "files": [{"path": c.path, "action": c.action} for c in changes]}

    def decide(self, facts: Facts) -> StepCheck:
        def paths(action: str) -> list[str]:
            return [f["path"] for f in facts["files"] if f["action"] == action]

        creates, updates, conflicts, unchanged = (paths(a) for a in ("create", "update", "conflict", "unchanged"))
        details = tuple(
            [f"+ {p}" for p in creates] + [f"~ {p}" for p in updates] + [f"! {p} (edited by hand)" for p in conflicts]
        )
        destroys = tuple(f"your hand edits to {p}" for p in conflicts)
        if not (creates or updates or conflicts):
            return StepCheck("=", f"all {len(unchanged)} files up to date")
        parts = []
        if creates:
            parts.append(f"{len(creates)} to write")
        if updates or conflicts:
            parts.append(f"{len(updates) + len(conflicts)} to update")
        action: Action = "+" if not (updates or conflicts or unchanged) else "~"
        return StepCheck(action, ", ".join(parts) + f" in {facts['out_dir']}", details, destroys=destroys)

    def apply(self, ctx: Context, emit: Emit) -> str:
        from wizard.render.writer import write

        changes = write(ctx.plan, ctx.out_dir, force=ctx.allow_destroy)
        written = [c for c in changes if c.action in ("create", "update", "conflict")]
        for change in written:
            emit(StepLog(self.id, f"{change.action}: {change.path}"))
        return f"wrote {len(written)} files in {ctx.out_dir}"
