"""Step ``render``: write the stack's files through the render engineer's writer.

Why a step: apply must produce exactly what ``stackseal render`` would, and only write files
that differ (the writer compares hashes against its manifest). Files the user edited by hand
are conflicts: apply refuses to overwrite them unless ``--allow-destroy`` is given, and says
which ones.
"""

from __future__ import annotations

from wizard.steps.base import Action, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, StepLog


class RenderStep(Step):
    id = "render"
    title = "Write the stack's files"

    def check(self, ctx: Context) -> StepCheck:
        from wizard.render.writer import preview

        changes = preview(ctx.plan, ctx.out_dir)
        creates = [c for c in changes if c.action == "create"]
        updates = [c for c in changes if c.action == "update"]
        conflicts = [c for c in changes if c.action == "conflict"]
        unchanged = [c for c in changes if c.action == "unchanged"]
        details = tuple(
            [f"+ {c.path}" for c in creates]
            + [f"~ {c.path}" for c in updates]
            + [f"! {c.path} (edited by hand)" for c in conflicts]
        )
        destroys = tuple(f"your hand edits to {c.path}" for c in conflicts)
        if not (creates or updates or conflicts):
            return StepCheck("=", f"all {len(unchanged)} files up to date")
        parts = []
        if creates:
            parts.append(f"{len(creates)} to write")
        if updates or conflicts:
            parts.append(f"{len(updates) + len(conflicts)} to update")
        action: Action = "+" if not (updates or conflicts or unchanged) else "~"
        return StepCheck(action, ", ".join(parts) + f" in {ctx.out_dir}", details, destroys=destroys)

    def apply(self, ctx: Context, emit: Emit) -> str:
        from wizard.render.writer import write

        changes = write(ctx.plan, ctx.out_dir, force=ctx.allow_destroy)
        written = [c for c in changes if c.action in ("create", "update", "conflict")]
        for change in written:
            emit(StepLog(self.id, f"{change.action}: {change.path}"))
        return f"wrote {len(written)} files in {ctx.out_dir}"
