"""``unlock`` and ``lock``: keys into the tmpfs runtime directory and volumes open, or the reverse.

Why in this order: every value is unwrapped first (one KMS batch), so a wrong credential, a
sealed or unreachable KMS or a tampered blob ends in one line with nothing changed on the host.
Only then is the runtime directory prepared and filled, and the volumes opened with the keys in
it. ``lock`` is the reverse: the stack stops (only with ``--stop``), the volumes close, the
runtime directory is overwritten, unmounted and removed.

The same functions serve ``stackseal unlock`` / ``lock``, apply's ``unlock`` step, and the
rendered systemd unit / boot script (which run ``stackseal unlock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard import kms
from wizard.errors import OperationFailed, Refused
from wizard.kms import runtime
from wizard.layout import volume_specs
from wizard.volumes.keys import key_name


@dataclass
class Outcome:
    """What an unlock or lock did (the CLI prints it; never a value)."""

    runtime_dir: Path | None
    keys: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def runtime_values(plan: Any, store: Any) -> dict[str, bytes]:
    """Every plaintext the runtime directory holds: secrets, derived configs, volume keys.

    Refuses (nothing changed) when the plan needs a secret that was never rendered: unlock never
    creates keys.
    """
    from wizard.render import all_materials

    mats = all_materials(plan, store)
    values = {m.name: m.value for m in mats.items.values() if m.external is None}
    for spec in volume_specs(plan):
        value = store.get(key_name(spec.name))
        if value is not None:
            values[key_name(spec.name)] = value
    missing = sorted(store.pending())
    if missing:
        raise OperationFailed(
            f"{len(missing)} secret(s) were never rendered ({', '.join(missing[:4])}); run 'stackseal render' or "
            "'stackseal apply' first (nothing was changed)"
        )
    return values


def expected_names(plan: Any) -> list[str]:
    """The runtime file names an unlocked stack has (no KMS call: stored blobs + derived configs)."""
    from wizard.render import all_materials

    preview = kms.secret_store(plan, preview=True)
    names = {m.name for m in all_materials(plan, preview).items.values() if m.external is None}
    blobs = preview.blobs() if hasattr(preview, "blobs") else {}
    names |= {key_name(s.name) for s in volume_specs(plan) if key_name(s.name) in blobs}
    return sorted(names)


def unwrap_to_runtime(plan: Any) -> Outcome:
    """Unwrap every key into the runtime directory (no volume, no container is touched)."""
    directory = kms.runtime_dir(plan)
    if not kms.envelope(plan):
        return Outcome(
            None, notes=[f"keys are plaintext files in {kms.plaintext_dir(plan)} (no KMS: development only)"]
        )
    notes = []
    if plan.kms.backend == "vault":
        from wizard.kms.openbao_init import ensure_unsealed

        if ensure_unsealed(plan, plan.output_path / "secrets"):
            notes.append(f"unsealed {plan.kms.vault.address}")
    store = kms.secret_store(plan)
    values = runtime_values(plan, store)  # every KMS call happens here, before anything changes
    mounted = runtime.prepare(directory)
    runtime.write(directory, values)
    notes += [f"mounted a {runtime.TMPFS_SIZE} tmpfs at {directory}"] if mounted else []
    return Outcome(directory, keys=sorted(values), notes=notes)


def unlock_volumes(plan: Any) -> list[str]:
    """Open every locked volume with its key from the runtime directory; returns the names opened."""
    from wizard.volumes import get_backend as volume_backend
    from wizard.volumes.keys import provide_key

    backend = volume_backend(plan)
    opened = []
    for spec in volume_specs(plan):
        state = backend.status(spec).state
        if state != "locked":
            continue
        key = provide_key(plan, spec.name, backend.raw_key, create=False) if backend.uses_key else Path("/dev/null")
        backend.unlock(spec, key)
        opened.append(spec.name)
    return opened


def unlock(plan: Any, start: bool = False, wait_timeout: int = 300) -> Outcome:
    """``stackseal unlock``: keys into tmpfs, volumes open, and (``start``) the stack up again."""
    outcome = unwrap_to_runtime(plan)
    outcome.volumes = unlock_volumes(plan)
    if start:
        from wizard.steps.context import Context

        ctx = Context.for_plan(plan)
        if ctx.compose_file().exists():
            _compose(ctx, ["up", "-d", "--wait", "--wait-timeout", str(wait_timeout)], wait_timeout + 60)
            outcome.notes.append("started the stack")
            if plan.kms.backend == "vault" and plan.kms.vault.deploy:  # the stack's OpenBao restarts sealed
                from wizard.kms.openbao_init import ensure_unsealed

                if ensure_unsealed(plan, plan.output_path / "secrets"):
                    outcome.notes.append("unsealed the stack's OpenBao")
    return outcome


def running_services(plan: Any) -> list[str]:
    """Services of the plan's compose project whose containers run now."""
    from wizard.steps.context import Context

    ctx = Context.for_plan(plan)
    try:
        containers = ctx.docker().containers.list(filters={"label": f"com.docker.compose.project={plan.project}"})
    finally:
        ctx.close()
    return sorted({c.labels.get("com.docker.compose.service", c.name) for c in containers})


def lock(plan: Any, stop: bool = False) -> Outcome:
    """``stackseal lock``: stop (only with ``stop``), close the volumes, wipe the runtime directory."""
    from wizard.steps.context import Context
    from wizard.volumes import get_backend as volume_backend

    outcome = Outcome(kms.runtime_dir(plan) if kms.envelope(plan) else None)
    running = running_services(plan)
    if running and not stop:
        raise Refused(
            f"the stack is running ({', '.join(running)}); locking would pull its keys and volumes from under it: "
            "run 'stackseal lock --stop' to stop it first (nothing was changed)"
        )
    if running:
        ctx = Context.for_plan(plan)
        _compose(ctx, ["stop", "--timeout", "30"], 300)
        outcome.notes.append(f"stopped {', '.join(running)}")
    backend = volume_backend(plan)
    for spec in volume_specs(plan):
        if backend.status(spec).state == "unlocked":
            backend.lock(spec)
            outcome.volumes.append(spec.name)
    if kms.envelope(plan):
        runtime.wipe(kms.runtime_dir(plan))
    else:
        outcome.notes.append(f"keys stay plaintext files in {kms.plaintext_dir(plan)} (no KMS: development only)")
    return outcome


def _compose(ctx: Any, args: list[str], timeout: int) -> None:
    import subprocess

    try:
        proc = subprocess.run(ctx.compose_cmd() + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"docker compose {args[0]} did not finish within {timeout}s") from None
    finally:
        ctx.close()
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
        raise OperationFailed(f"docker compose {args[0]} failed: {lines[-1][:200] if lines else proc.returncode}")
