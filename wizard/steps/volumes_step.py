"""Step ``volumes``: every persistent volume exists, encrypted, and is unlocked at its mount point.

Why: the compose file binds each volume to ``wizard.layout`` 's mount point; if the encrypted
storage is not mounted there when containers start, they would write plaintext into the bare
directory. This step creates what is absent (its key generated and stored wrapped by the KMS, its
plaintext only in the tmpfs runtime directory: wizard.volumes.keys) and unlocks
what is locked (after a reboot), through the :mod:`wizard.volumes` backend interface.
"""

from __future__ import annotations

from wizard.layout import volume_specs
from wizard.steps.base import Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, ProgressMeter, StepLog
from wizard.volumes import get_backend
from wizard.volumes.keys import provide_key


class VolumesStep(Step):
    id = "volumes"
    title = "Encrypted volumes"

    def read_facts(self, ctx: Context) -> Facts:
        backend = get_backend(ctx.plan)
        volumes = []
        for spec in volume_specs(ctx.plan):
            state = backend.status(spec)
            volumes.append(
                {
                    "name": spec.name,
                    "backing": str(spec.backing),
                    "mount_point": str(spec.mount_point),
                    "state": state.state,
                    "detail": state.detail,
                }
            )
        return {"backend": backend.name, "volumes": volumes}

    def decide(self, facts: Facts) -> StepCheck:
        backend, volumes = facts["backend"], facts["volumes"]
        details: list[str] = []
        absent = locked = 0
        for v in volumes:
            if v["state"] == "absent":
                absent += 1
                details.append(f"+ {v['name']}: create {backend} storage at {v['backing']}, open at {v['mount_point']}")
            elif v["state"] == "locked":
                locked += 1
                details.append(f"~ {v['name']}: unlock ({v['detail']})")
        if not absent and not locked:
            return StepCheck("=", f"all {len(volumes)} volumes open ({backend})")
        parts = ([f"create {absent}"] if absent else []) + ([f"unlock {locked}"] if locked else [])
        return StepCheck(
            "+" if absent else "~", f"{' and '.join(parts)} of {len(volumes)} {backend} volumes", tuple(details)
        )

    def apply(self, ctx: Context, emit: Emit) -> str:
        backend = get_backend(ctx.plan)
        specs = volume_specs(ctx.plan)
        meter = ProgressMeter(self.id, emit, items_total=len(specs))
        created = unlocked = 0
        for spec in specs:
            state = backend.status(spec).state  # re-read: an earlier volume may share nothing, but a rerun may
            if state == "absent":
                key = (
                    provide_key(ctx.plan, spec.name, backend.raw_key, create=True)
                    if backend.uses_key
                    else ctx.secrets_dir / "unused"
                )
                backend.create(spec, key)
                backend.unlock(spec, key)
                created += 1
                emit(StepLog(self.id, f"created and opened {spec.name} at {spec.mount_point}"))
            elif state == "locked":
                key = (
                    provide_key(ctx.plan, spec.name, backend.raw_key, create=False)
                    if backend.uses_key
                    else ctx.secrets_dir / "unused"
                )
                backend.unlock(spec, key)
                unlocked += 1
                emit(StepLog(self.id, f"unlocked {spec.name} at {spec.mount_point}"))
            meter.advance(1, what=spec.name)
        return f"created {created}, unlocked {unlocked} of {len(specs)} {backend.name} volumes"
