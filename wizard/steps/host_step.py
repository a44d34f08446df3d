"""Step ``host-tools``: the host has what the volume backend needs.

Why before anything is created: a missing ``gocryptfs`` discovered after half the volumes exist
wastes the operator's time; this step stops at once with the command that installs it.
It only reads facts, so it is always '='.
"""

from __future__ import annotations

from pathlib import Path

from wizard.errors import OperationFailed
from wizard.steps.base import Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit
from wizard.volumes import get_backend


class HostToolsStep(Step):
    id = "host-tools"
    title = "Host tools for the volume backend"

    def check(self, ctx: Context) -> StepCheck:
        backend = get_backend(ctx.plan)
        missing = backend.missing_tools()
        if backend.name == "gocryptfs" and not Path("/dev/fuse").exists():
            missing.append(
                "/dev/fuse (FUSE kernel support: 'modprobe fuse'; in a container run it with --device /dev/fuse)"
            )
        if missing:
            raise OperationFailed(f"volumes.backend {backend.name} needs: {'; '.join(missing)}")
        tools = ", ".join(tool for tool, _ in backend.tools) or "nothing extra"
        return StepCheck("=", f"{backend.name}: {tools} present")

    def apply(self, ctx: Context, emit: Emit) -> str:  # never called: check is '=' or raises
        return "nothing to do"
