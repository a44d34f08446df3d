"""The stack's own OpenBao (``kms.vault.deploy``): its unseal keys and root token, never in plaintext.

Why age: the unseal keys and the initial root token open everything the OpenBao holds. With
``kms.vault.recovery_recipient`` set they are encrypted at initialisation, in the age format
(PyPI ``pyrage``, the Rust implementation), to the operator's age public key or to a passphrase,
and written as ``secrets/openbao_init.age``; they are shown once on the terminal (never in logs,
the journal or the TUI). apply unseals with the keys it still holds in memory, creates
stackseal's own admin AppRole, and revokes the root token.

After a restart the server is sealed: ``unseal`` takes the shares from the age file (with the
identity file named by ``STACKSEAL_AGE_IDENTITY``, or the passphrase) or asks for them on the
terminal. Without ``recovery_recipient`` the development-only ``secrets/openbao_init.json`` is kept.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.fsutil import MAX_SECRET_BYTES, atomic_write, read_below

INIT_JSON = "openbao_init.json"
INIT_AGE = "openbao_init.age"
ADMIN_ROLE_ID = "openbao_admin_role_id"
ADMIN_SECRET_ID = "openbao_admin_secret_id"
IDENTITY_ENV = "STACKSEAL_AGE_IDENTITY"
PASSPHRASE_ENV = "STACKSEAL_RECOVERY_PASSPHRASE"

#: asks for one unseal share: ``(where, index, threshold) -> share`` (``index`` 1-based), or None when
#: the user gave up. The CLI's is :func:`terminal_shares` (getpass on a terminal); the TUI passes
#: one that opens a masked input. A share is never echoed, logged or kept beyond the unseal call.
SharesProvider = Callable[[str, int, int], "str | None"]


def terminal_shares() -> SharesProvider | None:
    """getpass on a terminal, or None when stdin is not one (nobody could type the shares)."""
    if not sys.stdin.isatty():
        return None
    import getpass

    def ask(where: str, index: int, threshold: int) -> str | None:
        return getpass.getpass(f"{where} is sealed; unseal share {index} of {threshold}: ")

    return ask


def _ask_all(ask: SharesProvider, where: str, threshold: int) -> list[str]:
    """Every share from the provider; a share left empty or a cancel ends it (nothing changed yet)."""
    keys = []
    for i in range(threshold):
        value = ask(where, i + 1, threshold)
        if value is None or not value.strip():
            raise OperationFailed(f"unsealing {where} was cancelled; nothing was changed")
        keys.append(value.strip())
    return keys


def age_mode(plan: Any) -> bool:
    return plan.kms.vault.recovery_recipient is not None


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"the OpenBao recovery passphrase is needed: set {PASSPHRASE_ENV} or run on a terminal")
    import getpass

    value = getpass.getpass("OpenBao recovery passphrase: ")
    if confirm and getpass.getpass("again: ") != value:
        raise UsageError("the two passphrases differ; nothing was changed")
    if len(value) < 12:
        raise UsageError("the recovery passphrase must be at least 12 characters")
    return value


def seal(plan: Any, init: dict[str, Any]) -> bytes:
    """The init answer (unseal keys, root token) encrypted in the age format."""
    import pyrage

    data = json.dumps({"unseal_keys": init["keys"], "root_token": init["root_token"]}).encode()
    rec = plan.kms.vault.recovery_recipient
    if rec == "passphrase":
        return pyrage.passphrase.encrypt(data, _passphrase(confirm=True))
    return pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(rec)])


def open_sealed(path: Path) -> dict[str, Any]:
    """Decrypt ``openbao_init.age`` with the identity file (``STACKSEAL_AGE_IDENTITY``) or the passphrase."""
    import pyrage

    data = _read_secret(path.parent, path.name)
    if data is None:
        raise OperationFailed(f"{path}: not found; restore it from a backup or the escrow bundle")
    try:
        identity_file = os.environ.get(IDENTITY_ENV)
        if identity_file:
            lines = [
                ln.strip()
                for ln in Path(identity_file).read_text(encoding="utf-8").splitlines()
                if ln.strip().startswith("AGE-SECRET-KEY-")
            ]
            if not lines:
                raise UsageError(f"{IDENTITY_ENV}: {identity_file} holds no age identity (AGE-SECRET-KEY-...)")
            plain = pyrage.decrypt(data, [pyrage.x25519.Identity.from_str(lines[0])])
        else:
            plain = pyrage.passphrase.decrypt(data, _passphrase(confirm=False))
    except (pyrage.DecryptError, ValueError):
        raise OperationFailed(f"{path.name}: cannot be decrypted with this identity or passphrase") from None
    except OSError as err:
        raise UsageError(f"{IDENTITY_ENV}: cannot read the identity file ({err.strerror})") from None
    return _init_answer(plain, path.name)


def _read_secret(secrets_dir: Path, name: str) -> bytes | None:
    """``secrets/<name>`` (None when missing), read like every file of the stack directory.

    Why not ``read_bytes``: stackseal runs as root and the secrets directory is part of the output
    directory, so a symlink there would be followed anywhere and a FIFO would block unlock or apply
    forever. :func:`read_below` follows no symlink below the stack directory (``secrets/`` itself
    included) and refuses a FIFO, a device or a file over 64 KiB in one line.
    """
    return read_below(secrets_dir.parent, f"{secrets_dir.name}/{name}", MAX_SECRET_BYTES, "secret file")


def read_plain(secrets_dir: Path) -> dict[str, Any] | None:
    """The development-only ``openbao_init.json`` (None when there is none), checked like the age one."""
    data = _read_secret(secrets_dir, INIT_JSON)
    return None if data is None else _init_answer(data, str(secrets_dir / INIT_JSON))


def _init_answer(data: bytes, shown: str) -> dict[str, Any]:
    """``{"unseal_keys": [...], "root_token": "..."}`` as :func:`store` wrote it; anything else is one line."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
        doc = None
    keys = doc.get("unseal_keys") if isinstance(doc, dict) else None
    if not (
        isinstance(doc, dict)
        and isinstance(keys, list)
        and all(isinstance(k, str) for k in keys)
        and isinstance(doc.get("root_token"), str)
    ):
        raise OperationFailed(
            f"{shown}: not the OpenBao init answer stackseal wrote (damaged or tampered); restore it from a "
            "backup or the escrow bundle ('stackseal keys import')"
        )
    return doc


def store(plan: Any, secrets_dir: Path, init: dict[str, Any]) -> Path:
    """Keep the init answer: age-encrypted, or (no recipient) the development-only plaintext file."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    if age_mode(plan):
        path = secrets_dir / INIT_AGE
        atomic_write(path, seal(plan, init), mode=0o400)
        return path
    path = secrets_dir / INIT_JSON
    atomic_write(path, json.dumps({"unseal_keys": init["keys"], "root_token": init["root_token"]}).encode(), mode=0o400)
    return path


def show_once(init: dict[str, Any], threshold: int) -> bool:
    """Print the unseal keys and root token once, on the terminal only (never stdout logs). True if shown."""
    try:
        tty = open("/dev/tty", "w")
    except OSError:
        return False
    with tty:
        tty.write(
            f"\nOpenBao initialised. Unseal keys ({threshold} of {len(init['keys'])} unseal it) and the initial "
            "root token, shown ONCE (they are also in secrets/openbao_init.age, encrypted to your recovery "
            "recipient; the root token is revoked at the end of this apply):\n"
        )
        for i, key in enumerate(init["keys"], 1):
            tty.write(f"  unseal key {i}: {key}\n")
        tty.write("\n")
    return True


def shares(plan: Any, secrets_dir: Path, ask: SharesProvider | None = None) -> list[str]:
    """The unseal shares to submit: from the plaintext init file, the age file, or ``ask`` (the terminal by default)."""
    plain = read_plain(secrets_dir)
    if plain is not None:
        return list(plain["unseal_keys"])
    sealed = secrets_dir / INIT_AGE
    if os.path.lexists(sealed) and (os.environ.get(IDENTITY_ENV) or os.environ.get(PASSPHRASE_ENV)):
        return list(open_sealed(sealed)["unseal_keys"])
    ask = ask or terminal_shares()
    if ask is not None:
        return _ask_all(ask, "the stack's OpenBao", plan.kms.vault.key_threshold)
    raise OperationFailed(
        "the stack's OpenBao is sealed; run on a terminal to enter the unseal shares, or set "
        f"{IDENTITY_ENV} to the age identity file that opens secrets/{INIT_AGE}"
    )


def admin_policy(plan: Any) -> str:
    """stackseal's own admin policy on its OpenBao: the rendered admin policy plus its mounts and auth methods."""
    from wizard.render import vault_policies

    rendered = vault_policies.policies(plan)[f"vault/policies/{plan.project}-admin.hcl"].decode()
    v = plan.kms.vault
    extra = ['path "sys/mounts" {\n  capabilities = ["read"]\n}', 'path "sys/auth" {\n  capabilities = ["read"]\n}']
    for mount in sorted({v.transit_mount.strip("/"), v.kv_mount.strip("/")}):
        extra.append(f'path "sys/mounts/{mount}" {{\n  capabilities = ["create", "read", "update"]\n}}')
    return rendered + "\n# the stack's own OpenBao: stackseal manages its mounts\n" + "\n".join(extra) + "\n"


def create_admin(plan: Any, client: Any, secrets_dir: Path) -> None:
    """Policy + AppRole ``<project>-admin``; its credential kept for later applies (0400, dev-grade)."""
    name = f"{plan.project}-admin"
    methods = client.sys.list_auth_methods()
    if "approle/" not in methods.get("data", methods):
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_acl_policy(name=name, policy=admin_policy(plan))
    client.auth.approle.create_or_update_approle(name, token_policies=[name], token_ttl="1h", token_max_ttl="4h")
    role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    atomic_write(secrets_dir / ADMIN_ROLE_ID, role_id.encode(), mode=0o400)
    atomic_write(secrets_dir / ADMIN_SECRET_ID, secret_id.encode(), mode=0o400)


def admin_token(plan: Any, secrets_dir: Path) -> str | None:
    """A token of stackseal's admin AppRole (after the root token was revoked), or None."""
    role, secret = secrets_dir / ADMIN_ROLE_ID, secrets_dir / ADMIN_SECRET_ID
    if not (role.exists() and secret.exists()):
        return None
    import hvac

    client = hvac.Client(url=plan.kms.vault.address, namespace=plan.kms.vault.namespace, timeout=15)
    answer = client.auth.approle.login(role_id=role.read_text().strip(), secret_id=secret.read_text().strip())
    return str(answer["auth"]["client_token"])


def ensure_unsealed(plan: Any, secrets_dir: Path, ask: SharesProvider | None = None) -> bool:
    """Unseal a sealed Vault/OpenBao before anything is unwrapped; True when it did.

    The stack's own OpenBao: shares from the age file (identity/passphrase) or ``ask``. An
    external Vault: the operator gives ``threshold`` shares through ``ask`` (never stored). ``ask``
    defaults to getpass on a terminal; the TUI passes its masked input.
    """
    import hvac

    from wizard.kms.vault import VaultBackend

    backend = VaultBackend(plan)
    status = backend.seal_status()
    if not status["initialized"] or not status["sealed"]:
        return False
    address = plan.kms.vault.address
    ask = ask or terminal_shares()
    if plan.kms.vault.deploy:
        keys = shares(plan, secrets_dir, ask)
    elif ask is not None:
        keys = _ask_all(ask, address, int(status.get("t") or 1))
    else:
        raise OperationFailed(
            f"Vault at {address} is sealed; unseal it ('bao operator unseal') or run 'stackseal unlock' on a "
            "terminal to enter the shares (nothing was changed)"
        )
    import hvac.exceptions as hx

    client = hvac.Client(url=address, namespace=plan.kms.vault.namespace, timeout=15)
    with backend.errors("unsealing"):
        try:
            for key in keys:
                if not client.sys.submit_unseal_key(key.strip())["sealed"]:
                    break
        except hx.InvalidRequest:  # the server's text is not repeated: it could quote what was typed
            client.sys.submit_unseal_key(reset=True)  # drop the shares it kept: the next try starts clean
            raise OperationFailed(
                f"{address} refused an unseal share (not a valid share); check the shares and run again "
                "(it is still sealed; nothing was changed)"
            ) from None
        if client.sys.read_seal_status()["sealed"]:
            raise OperationFailed(f"the unseal shares given did not unseal {address}; check them and run again")
    return True
