"""Step ``kms-key``: the Vault/OpenBao transit engine and the stack's key exist (kms.backend vault).

Why a step: the key that wraps the stack's data keys must exist in the KMS before anything
encrypts with it, and a wrong token must be one clear line, not a stack that starts and then
fails to encrypt. With ``kms.vault.deploy: true`` the OpenBao server runs inside the stack; a
fresh one is initialised with ``key_shares`` / ``key_threshold``; its unseal keys and root token
are age-encrypted to ``recovery_recipient`` (then the root token is revoked once stackseal's
admin AppRole exists: :mod:`wizard.kms.openbao_init`), or, without one, kept in the
development-only ``secrets/openbao_init.json``. It is unsealed after every restart.
"""

from __future__ import annotations

import os
from typing import Any

from wizard.credentials import BadCredential, read_credential
from wizard.errors import OperationFailed
from wizard.kms import openbao_init
from wizard.steps.base import Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, StepLog

INIT_FILE = openbao_init.INIT_JSON


def _token(ctx: Context) -> str | None:
    vault = ctx.plan.kms.vault
    if vault.token_file:
        path = ctx.plan.resolve(vault.token_file)
        try:
            return read_credential(ctx.plan, vault.token_file)  # the one validated reader
        except BadCredential as err:
            raise OperationFailed(f"kms.vault.token_file: {err}") from None
        except OSError as err:
            raise OperationFailed(f"kms.vault.token_file: cannot read {path} ({err.strerror})") from None
    if vault.deploy:
        try:  # stackseal's admin AppRole (the root token is revoked once it exists)
            admin = openbao_init.admin_token(ctx.plan, ctx.secrets_dir)
        except Exception:  # sealed or down: the step says so through its own checks
            admin = None
        if admin:
            return admin
        init = openbao_init.read_plain(ctx.secrets_dir)
        return None if init is None else init["root_token"]
    return os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")


def client(ctx: Context, token: str | None = None) -> Any:
    import hvac

    vault = ctx.plan.kms.vault
    return hvac.Client(url=vault.address, token=token or _token(ctx), namespace=vault.namespace, timeout=15)


def _call(ctx: Context, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call Vault; unreachable, sealed and refused-token become one line."""
    import hvac.exceptions as hx
    import requests

    address = ctx.plan.kms.vault.address
    try:
        return func(*args, **kwargs)
    except hx.Forbidden:
        raise OperationFailed(
            f"Vault at {address} refuses the token (permission denied); check kms.vault.token_file "
            "or VAULT_TOKEN, and that its policy allows the transit mount"
        ) from None
    except hx.Unauthorized:
        raise OperationFailed(
            f"Vault at {address} rejects the token (invalid or expired); check kms.vault.token_file or VAULT_TOKEN"
        ) from None
    except hx.VaultDown:
        raise OperationFailed(
            f"Vault at {address} is sealed; unseal it ('bao operator unseal') and run again"
        ) from None
    except requests.exceptions.RequestException as err:
        raise OperationFailed(f"Vault at {address} is not reachable ({type(err).__name__}); is it running?") from None


def wait_active(ctx: Context, timeout: float = 60.0) -> None:
    """Wait until the server is initialised, unsealed and active (``/v1/sys/health`` answers 200).

    Why: right after an unseal OpenBao refuses writes for a moment ("local node not active but
    active cluster node not found"); acting then would fail a step that is only early.
    """
    import time

    import requests

    url = ctx.plan.kms.vault.address.rstrip("/") + "/v1/sys/health"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.exceptions.RequestException as err:
            last = type(err).__name__
        time.sleep(0.5)
    raise OperationFailed(
        f"Vault at {ctx.plan.kms.vault.address} did not become active within {timeout:.0f}s ({last}); "
        "check its logs and run apply again"
    )


def state(ctx: Context) -> dict[str, Any]:
    """What exists: initialized / sealed / transit mount / key (reads only)."""
    c = client(ctx)
    facts: dict[str, Any] = {"initialized": _call(ctx, c.sys.is_initialized)}
    if not facts["initialized"]:
        return facts
    facts["sealed"] = _call(ctx, c.sys.is_sealed)
    if facts["sealed"] or not c.token:
        return facts
    mounts = _call(ctx, c.sys.list_mounted_secrets_engines)
    mounts = mounts.get("data", mounts)
    mount = ctx.plan.kms.vault.transit_mount.strip("/") + "/"
    facts["transit"] = mount in mounts and mounts[mount].get("type") == "transit"
    if facts["transit"]:
        import hvac.exceptions as hx

        try:
            _call(ctx, c.secrets.transit.read_key, name=ctx.plan.kms.key_name, mount_point=mount.rstrip("/"))
            facts["key"] = True
        except hx.InvalidPath:
            facts["key"] = False
    return facts


class VaultKeyStep(Step):
    id = "kms-key"
    title = "KMS transit key (Vault/OpenBao)"

    def check(self, ctx: Context) -> StepCheck:
        vault, key = ctx.plan.kms.vault, ctx.plan.kms.key_name
        if vault.deploy and not ctx.compose_file().exists():
            return StepCheck("+", f"initialise the stack's OpenBao and create transit key {key} once it runs")
        try:
            facts = state(ctx)
        except OperationFailed:
            if vault.deploy:  # the stack's OpenBao is not up yet on a first apply
                return StepCheck("+", f"initialise the stack's OpenBao and create transit key {key} once it runs")
            raise
        todo = []
        if not facts["initialized"]:
            todo.append("initialise and unseal OpenBao (dev-grade: 1 key share kept in secrets/)")
        elif facts.get("sealed"):
            if not vault.deploy:
                raise OperationFailed(
                    f"Vault at {vault.address} is sealed; unseal it ('bao operator unseal') and run again"
                )
            return StepCheck(
                "~", f"unseal OpenBao (with the key in secrets/{INIT_FILE}), then make sure transit key {key} exists"
            )
        if not facts.get("transit"):
            todo.append(f"enable transit at {vault.transit_mount}/")
        if not facts.get("key"):
            todo.append(f"create transit key {key} (aes256-gcm96)")
        if not todo:
            return StepCheck("=", f"transit key {key} exists at {vault.address}")
        return StepCheck("+" if not facts.get("transit") else "~", "; ".join(todo))

    def apply(self, ctx: Context, emit: Emit) -> str:
        vault, key = ctx.plan.kms.vault, ctx.plan.kms.key_name
        c = client(ctx)
        done = []
        root: str | None = None  # a fresh root token lives only in memory, for this run
        fresh_keys: list[str] | None = None
        if not _call(ctx, c.sys.is_initialized):
            if not vault.deploy:
                raise OperationFailed(
                    f"Vault at {vault.address} is not initialised; initialise it first (bao operator init)"
                )
            init = _call(ctx, c.sys.initialize, secret_shares=vault.key_shares, secret_threshold=vault.key_threshold)
            path = openbao_init.store(ctx.plan, ctx.secrets_dir, init)
            how = "age-encrypted" if openbao_init.age_mode(ctx.plan) else "plaintext: development only"
            if openbao_init.age_mode(ctx.plan):
                openbao_init.show_once(init, vault.key_threshold)
            emit(
                StepLog(
                    self.id,
                    f"initialised OpenBao ({vault.key_shares} key shares, threshold {vault.key_threshold}); "
                    f"unseal keys and root token kept in {path} ({how})",
                )
            )
            root, fresh_keys = init["root_token"], list(init["keys"])
            done.append("initialised")
        if _call(ctx, c.sys.is_sealed):
            if not vault.deploy:
                raise OperationFailed(
                    f"Vault at {vault.address} is sealed; unseal it ('bao operator unseal') and run again"
                )
            for share in (fresh_keys or openbao_init.shares(ctx.plan, ctx.secrets_dir))[: vault.key_threshold]:
                _call(ctx, c.sys.submit_unseal_key, share)
            if _call(ctx, c.sys.is_sealed):
                raise OperationFailed("the unseal shares given did not unseal OpenBao; check them and run again")
            done.append("unsealed")
        c = client(ctx, token=root)
        if not c.token:
            raise OperationFailed("no Vault token: set kms.vault.token_file or VAULT_TOKEN")
        if vault.deploy:  # an external cluster may answer from a standby (429) and forward writes
            wait_active(ctx)
        mount = vault.transit_mount.strip("/")
        mounts = _call(ctx, c.sys.list_mounted_secrets_engines)
        if f"{mount}/" not in mounts.get("data", mounts):
            _call(ctx, c.sys.enable_secrets_engine, backend_type="transit", path=mount)
            done.append(f"enabled transit at {mount}/")
        import hvac.exceptions as hx

        try:
            _call(ctx, c.secrets.transit.read_key, name=key, mount_point=mount)
        except hx.InvalidPath:
            _call(ctx, c.secrets.transit.create_key, name=key, key_type="aes256-gcm96", mount_point=mount)
            done.append(f"created key {key}")
        if root is not None and openbao_init.age_mode(ctx.plan):
            _call(ctx, openbao_init.create_admin, ctx.plan, c, ctx.secrets_dir)
            _call(ctx, c.auth.token.revoke_self)
            done.append(f"created AppRole {ctx.plan.project}-admin and revoked the root token")
        for line in done:
            emit(StepLog(self.id, line))
        return ", ".join(done) or "nothing was missing"


class KmsKeyStep(Step):
    """``kms-key`` for every KMS but the stack's own OpenBao: the wrapping key is there, before render.

    Why first: render wraps every new secret with this key, so it must exist (Vault transit: created
    here; AWS/Azure/GCP: stackseal never creates cloud keys, it checks them) and the credential must
    be accepted before anything is written.
    """

    id = "kms-key"
    title = "KMS wrapping key"

    def check(self, ctx: Context) -> StepCheck:
        from wizard.kms import get_backend

        backend = get_backend(ctx.plan)
        result = backend.connection_test()
        if result.ok is False:
            raise OperationFailed(result.detail)
        if backend.backend == "vault" and ("missing" in result.detail or "not readable" in result.detail):
            return StepCheck("+", f"enable transit and create key {backend.key_id} at {ctx.plan.kms.vault.address}")
        return StepCheck("=", result.detail)

    def apply(self, ctx: Context, emit: Emit) -> str:
        from wizard.kms import get_backend

        done = get_backend(ctx.plan).ensure_key()
        emit(StepLog(self.id, done))
        return done


class UnlockStep(Step):
    """``unlock``: every key unwrapped into the tmpfs runtime directory the stack's files point to.

    Why a step of apply: Compose reads its secrets, and the volume tools their keys, from the
    runtime directory; after render stored new secrets wrapped (or after a reboot emptied the
    tmpfs), they are unwrapped here, before volumes open and containers start.
    """

    id = "unlock"
    title = "Keys unwrapped into the runtime directory"

    def read_facts(self, ctx: Context) -> Facts:
        from wizard.kms import runtime, runtime_dir
        from wizard.kms.unlock import expected_names

        directory = runtime_dir(ctx.plan)
        names = expected_names(ctx.plan)
        return {
            "dir": str(directory),
            "memory_backed": runtime.is_memory_backed(directory),
            "names": names,
            "present": runtime.present(directory, names),
        }

    def decide(self, facts: Facts) -> StepCheck:
        missing = [n for n in facts["names"] if n not in facts["present"]]
        if not missing:
            return StepCheck("=", f"{len(facts['names'])} keys unlocked in {facts['dir']} (tmpfs)")
        where = "" if facts["memory_backed"] else f"; mount a tmpfs at {facts['dir']}"
        return StepCheck(
            "~", f"unwrap {len(missing)} key(s) into {facts['dir']}{where}", tuple(f"~ {n}" for n in missing)
        )

    def apply(self, ctx: Context, emit: Emit) -> str:
        from wizard.kms.unlock import unwrap_to_runtime

        outcome = unwrap_to_runtime(ctx.plan)
        for note in outcome.notes:
            emit(StepLog(self.id, note))
        return f"unwrapped {len(outcome.keys)} key(s) into {outcome.runtime_dir}"


class VaultAppRolesStep(Step):
    """``vault-approles``: the rendered policies written and one AppRole per consumer (kms.backend vault).

    Why after ``unlock``: each consumer's role_id / secret_id is a secret render stored wrapped;
    its plaintext is read from the runtime directory and registered as that role's own credential.
    """

    id = "vault-approles"
    title = "Vault policies and AppRoles (least privilege)"

    def read_facts(self, ctx: Context) -> Facts:
        from wizard.kms import get_backend
        from wizard.kms.vault_roles import missing

        vault = ctx.plan.kms.vault
        if vault.deploy and not ctx.compose_file().exists():
            return {"waiting": "the stack's OpenBao runs", "todo": []}
        try:
            return {"waiting": None, "todo": missing(ctx.plan, get_backend(ctx.plan))}
        except OperationFailed:
            if vault.deploy:  # not up, sealed or not initialised yet: kms-key (before this step) fixes that
                return {"waiting": "the stack's OpenBao is unsealed", "todo": []}
            raise

    def decide(self, facts: Facts) -> StepCheck:
        if facts["waiting"]:
            return StepCheck("+", f"write policies and AppRoles once {facts['waiting']}")
        todo = facts["todo"]
        if not todo:
            return StepCheck("=", "every consumer's policy and AppRole is registered")
        return StepCheck("~", f"{len(todo)} change(s) to policies and AppRoles", tuple(f"~ {t}" for t in todo))

    def apply(self, ctx: Context, emit: Emit) -> str:
        from wizard.kms import get_backend
        from wizard.kms.vault_roles import apply

        done = apply(ctx.plan, get_backend(ctx.plan))
        for line in done:
            emit(StepLog(self.id, line))
        return f"{len(done)} policy/AppRole change(s)"
