"""Provisioning as idempotent steps (see :mod:`wizard.steps.base` and docs/provisioning.md).

``build_steps(plan)`` is the ordered list for a plan; :mod:`wizard.steps.runner` checks and
runs them. Step modules keep heavy imports (docker, minio, hvac) inside their functions so
``stackseal plan --help`` and the TUI's imports stay fast.
"""

from __future__ import annotations

from wizard.plan import Plan
from wizard.steps.base import Precondition, Stage, Step, StepCheck


def build_steps(plan: Plan) -> list[Stage]:
    """The stages that bring the plan's stack up, in the order they must run (preconditions are
    checked where the host must offer what the next steps use)."""
    from wizard import kms
    from wizard.steps.adopt_step import AdoptStep
    from wizard.steps.buckets_step import BucketsStep
    from wizard.steps.compose_step import ComposeUpStep
    from wizard.steps.engine_step import DockerEnginePrecondition
    from wizard.steps.host_step import HostToolsPrecondition
    from wizard.steps.kms_step import KmsKeyStep, UnlockStep, VaultAppRolesStep
    from wizard.steps.ports_step import PortsPrecondition
    from wizard.steps.render_step import RenderStep
    from wizard.steps.volumes_step import VolumesStep

    envelope = kms.envelope(plan)  # a KMS wraps every key: it must be there before render, unwrap after
    steps: list[Stage] = [
        *([KmsKeyStep()] if envelope else []),
        RenderStep(),
        *([UnlockStep()] if envelope else []),
        *([VaultAppRolesStep()] if envelope and plan.kms.backend == "vault" else []),
        HostToolsPrecondition(),
        DockerEnginePrecondition(),
        VolumesStep(),
        AdoptStep(),
        PortsPrecondition(),
        ComposeUpStep(),
        BucketsStep(),
    ]
    if plan.kms.backend == "vault" and not envelope:  # the stack's own OpenBao: after it runs
        from wizard.steps.kms_step import VaultKeyStep

        steps += [VaultKeyStep(), VaultAppRolesStep()]
    return steps


__all__ = ["Precondition", "Stage", "Step", "StepCheck", "build_steps"]
