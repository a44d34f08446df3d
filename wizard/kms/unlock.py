"""``unlock`` and ``lock``: keys into the tmpfs runtime directory and volumes open, or the reverse.

Why in this order: every value is unwrapped first (one KMS batch), so a wrong credential, a
sealed or unreachable KMS or a tampered blob ends in one line with nothing changed on the host.
Only then is the runtime directory prepared and filled, and the volumes opened with the keys in
it. ``lock`` is the reverse: the stack stops (only with ``--stop``), the volumes close, the
runtime directory is overwritten, unmounted and removed.

Why a failed unlock rolls back: once keys are unwrapped, a volume that will not open (a damaged
``gocryptfs.conf``, a busy mount point) would otherwise leave plaintext keys in the runtime
directory and some volumes open with nobody using them. ``unlock`` undoes what *this run* did —
locks the volumes it opened, wipes and unmounts the runtime tmpfs it created — and ends in one
line. (A failure to *start* the stack afterwards is not rolled back: containers may already use
the volumes; the line says how to lock.)

The same functions serve ``stackseal unlock`` / ``lock``, apply's ``unlock`` step, the
dashboard's Unlock / Lock keys (``ask`` is its masked share input, ``emit`` its event log), and
the rendered systemd unit / boot script (which run ``stackseal unlock``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard import kms
from wizard.errors import OperationFailed, Refused, StacksealError
from wizard.kms import runtime
from wizard.kms.openbao_init import SharesProvider
from wizard.layout import volume_specs
from wizard.steps.events import Emit, StepLog, StepProgress, discard
from wizard.volumes.keys import key_name

STEP = "unlock"
LOCK_STEP = "lock"


@dataclass
class Outcome:
    """What an unlock or lock did (the CLI prints it; never a value)."""

    runtime_dir: Path | None
    keys: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: this run created the runtime directory (or mounted its tmpfs): a failed unlock wipes it
    created_runtime: bool = False


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


def unwrap_to_runtime(plan: Any, ask: SharesProvider | None = None, emit: Emit = discard) -> Outcome:
    """Unwrap every key into the runtime directory (no volume, no container is touched).

    ``ask`` gives unseal shares when the Vault/OpenBao is sealed (default: getpass on a terminal).
    """
    directory = kms.runtime_dir(plan)
    if not kms.envelope(plan):
        return Outcome(
            None, notes=[f"keys are plaintext files in {kms.plaintext_dir(plan)} (no KMS: development only)"]
        )
    notes = []
    if plan.kms.backend == "vault":
        from wizard.kms.openbao_init import ensure_unsealed

        if ensure_unsealed(plan, plan.output_path / "secrets", ask):
            notes.append(f"unsealed {plan.kms.vault.address}")
            emit(StepLog(STEP, notes[-1]))
    emit(StepLog(STEP, f"unwrapping the stack's keys with {plan.kms.backend}"))
    store = kms.secret_store(plan)
    values = runtime_values(plan, store)  # every KMS call happens here, before anything changes
    had_files = directory.is_dir() and runtime.is_memory_backed(directory) and any(directory.iterdir())
    mounted = runtime.prepare(directory)
    outcome = Outcome(directory, keys=sorted(values), notes=notes, created_runtime=mounted or not had_files)
    try:
        runtime.write(directory, values)
    except BaseException:
        if outcome.created_runtime:
            runtime.wipe(directory)
        raise
    notes += [f"mounted a {runtime.TMPFS_SIZE} tmpfs at {directory}"] if mounted else []
    emit(StepLog(STEP, f"unwrapped {len(values)} key(s) into {directory}"))
    return outcome


def unlock_volumes(plan: Any, opened: list[str] | None = None, emit: Emit = discard) -> list[str]:
    """Open every locked volume with its key from the runtime directory; returns the names opened.

    ``opened`` (when given) is filled as each volume opens, so a caller can undo a partial run.
    """
    from wizard.volumes import get_backend as volume_backend
    from wizard.volumes.keys import provide_key

    backend = volume_backend(plan)
    opened = [] if opened is None else opened
    specs = volume_specs(plan)
    for i, spec in enumerate(specs, 1):
        state = backend.status(spec).state
        if state == "locked":
            key = provide_key(plan, spec.name, backend.raw_key, create=False) if backend.uses_key else Path("/dev/null")
            backend.unlock(spec, key)
            opened.append(spec.name)
        emit(StepProgress(STEP, i, len(specs), what=f"volume {spec.name}: {backend.status(spec).state}"))
    return opened


def _roll_back(plan: Any, outcome: Outcome, opened: list[str]) -> str:
    """Undo this run: lock the volumes it opened, wipe the runtime directory it created. Returns what it did."""
    from wizard.volumes import get_backend as volume_backend

    done, left = [], []
    backend = volume_backend(plan)
    for spec in [s for s in volume_specs(plan) if s.name in opened]:
        try:
            backend.lock(spec)
            done.append(f"locked {spec.name}")
        except (StacksealError, OSError):
            left.append(f"{spec.name} is still open")
    if outcome.runtime_dir is not None and outcome.created_runtime:
        try:
            runtime.wipe(outcome.runtime_dir)
            done.append(f"wiped {outcome.runtime_dir}")
        except (StacksealError, OSError):
            left.append(f"{outcome.runtime_dir} still holds keys")
    if left:
        return f"rolled back partly ({', '.join(done) or 'nothing'}); {'; '.join(left)}: run 'stackseal lock'"
    return f"rolled back: {', '.join(done)}" if done else "nothing was changed"


def unlock(
    plan: Any,
    start: bool = False,
    wait_timeout: int = 300,
    ask: SharesProvider | None = None,
    emit: Emit = discard,
) -> Outcome:
    """``stackseal unlock``: keys into tmpfs, volumes open, and (``start``) the stack up again.

    A failure after the keys were unwrapped rolls back this run (see the module docstring).
    """
    outcome = unwrap_to_runtime(plan, ask, emit)
    opened: list[str] = []
    try:
        unlock_volumes(plan, opened, emit)
    except StacksealError as err:
        undone = _roll_back(plan, outcome, opened)
        emit(StepLog(STEP, undone, "warning"))
        raise OperationFailed(f"{err}; {undone}") from None
    except BaseException:  # interrupted or an unexpected error: still leave nothing behind
        _roll_back(plan, outcome, opened)
        raise
    outcome.volumes = opened
    if start:
        from wizard.steps.context import Context

        ctx = Context.for_plan(plan)
        if ctx.compose_file().exists():
            emit(StepLog(STEP, "starting the stack"))
            try:
                _compose(ctx, ["up", "-d", "--wait", "--wait-timeout", str(wait_timeout)], wait_timeout + 60)
            except OperationFailed as err:
                raise OperationFailed(
                    f"{err} (keys and volumes stay unlocked; 'stackseal lock --stop' locks them again)"
                ) from None
            outcome.notes.append("started the stack")
            if plan.kms.backend == "vault" and plan.kms.vault.deploy:  # the stack's OpenBao restarts sealed
                from wizard.kms.openbao_init import ensure_unsealed

                if ensure_unsealed(plan, plan.output_path / "secrets", ask):
                    outcome.notes.append("unsealed the stack's OpenBao")
    return outcome


def running_services(plan: Any) -> list[str]:
    """Services of the plan's compose project whose containers run now (OperationFailed: no engine)."""
    from wizard.steps.context import Context

    ctx = Context.for_plan(plan)
    try:
        containers = ctx.docker().containers.list(filters={"label": f"com.docker.compose.project={plan.project}"})
    finally:
        ctx.close()
    return sorted({c.labels.get("com.docker.compose.service", c.name) for c in containers})


def running_or_unreachable(plan: Any) -> tuple[list[str], str | None]:
    """(running services, None), or ([], why) when no Docker daemon answers: nothing can be stopped then."""
    try:
        return running_services(plan), None
    except OperationFailed as err:
        return [], str(err).split(";")[0]


def lock(plan: Any, stop: bool = False, emit: Emit = discard) -> Outcome:
    """``stackseal lock``: stop (only with ``stop``), close the volumes, wipe the runtime directory.

    Without a reachable Docker daemon there is nothing to stop (no container of this host can run
    without it): the volumes are locked and the runtime directory wiped all the same, and a note
    says the daemon was unreachable.
    """
    from wizard.steps.context import Context
    from wizard.volumes import get_backend as volume_backend

    outcome = Outcome(kms.runtime_dir(plan) if kms.envelope(plan) else None)
    running, unreachable = running_or_unreachable(plan)
    if unreachable:
        outcome.notes.append(f"{unreachable}: no container to stop")
        emit(StepLog(LOCK_STEP, outcome.notes[-1], "warning"))
    if running and not stop:
        raise Refused(
            f"the stack is running ({', '.join(running)}); locking would pull its keys and volumes from under it: "
            "run 'stackseal lock --stop' to stop it first (nothing was changed)"
        )
    if running:
        emit(StepLog(LOCK_STEP, f"stopping {', '.join(running)}"))
        ctx = Context.for_plan(plan)
        _compose(ctx, ["stop", "--timeout", "30"], 300)
        outcome.notes.append(f"stopped {', '.join(running)}")
    backend = volume_backend(plan)
    for spec in volume_specs(plan):
        if backend.status(spec).state == "unlocked":
            backend.lock(spec)
            outcome.volumes.append(spec.name)
            emit(StepLog(LOCK_STEP, f"locked volume {spec.name}"))
    if kms.envelope(plan):
        runtime.wipe(kms.runtime_dir(plan))
        emit(StepLog(LOCK_STEP, f"wiped {kms.runtime_dir(plan)}"))
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
