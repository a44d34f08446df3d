"""``vault`` backend: HashiCorp Vault or OpenBao transit (hvac), token or AppRole.

Why transit: the wrapping key never leaves the server; stackseal sends plaintext keys in and
gets ``vault:vN:...`` ciphertexts back (``batch_input``: one request for every key of a stack),
and a rotation is a new key version that old ciphertexts still decrypt with until rewrapped
(``rewrap_many``, chunks of at most 400 items). Credentials: ``kms.vault.token_file``, the
AppRole files (``approle_role_id_file`` / ``approle_secret_id_file``), ``VAULT_TOKEN`` /
``BAO_TOKEN``, or, for the stack's own OpenBao (``deploy``), the token apply keeps.

Every failure is one line naming what failed and what to do; never a token, never a value
(hvac's messages are Vault's error texts; requests' are reduced to their class name).
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import Health, KmsBackend, WrappedBlob, utc_now

#: Vault accepts large batches, but a request body stays bounded (and rotation rewraps thousands).
CHUNK = 400


def read_credential(plan: Any, path: str) -> str:
    """One credential from a file (the shared, hostile-input-safe reader); unreadable = one line."""
    from wizard.credentials import read_credential as read

    try:
        return read(plan, path)
    except OSError as err:
        raise UsageError(f"{path}: cannot be read ({err.strerror}); fix the path or its permissions") from None


def version_of(ciphertext: str) -> str | None:
    """``vault:v3:...`` -> ``"3"``."""
    parts = ciphertext.split(":", 2)
    if len(parts) == 3 and parts[0] == "vault" and parts[1].startswith("v") and parts[1][1:].isdigit():
        return parts[1][1:]
    return None


class VaultBackend(KmsBackend):
    backend = "vault"

    def __init__(self, plan: Any, token: str | None = None) -> None:
        super().__init__(plan)
        self.vault = plan.kms.vault
        self._token = token
        self._client: Any = None

    @property
    def key_id(self) -> str:
        return f"{self.vault.transit_mount.strip('/')}/{self.plan.kms.key_name}"

    @property
    def mount(self) -> str:
        return self.vault.transit_mount.strip("/")

    @property
    def address(self) -> str:
        return self.vault.address

    # -- errors ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn every Vault / network failure of ``what`` into one line (OperationFailed)."""
        import hvac.exceptions as hx
        import requests

        address = self.address
        try:
            yield
        except hx.Forbidden:
            raise OperationFailed(
                f"{what}: Vault at {address} refused the credential (permission denied); check kms.vault.token_file, "
                "the AppRole files or VAULT_TOKEN, and that its policy allows this key"
            ) from None
        except hx.Unauthorized:
            raise OperationFailed(
                f"{what}: Vault at {address} refused the credential (invalid or expired); renew it "
                "(kms.vault.token_file, AppRole secret_id or VAULT_TOKEN)"
            ) from None
        except (hx.VaultDown, hx.VaultNotInitialized):
            raise OperationFailed(
                f"{what}: Vault at {address} is sealed or not initialised; unseal it ('bao operator unseal' or "
                "'stackseal unlock', which asks for the shares) and run again"
            ) from None
        except hx.InvalidPath:
            raise OperationFailed(
                f"{what}: transit key {self.key_id} does not exist at {address}; run 'stackseal apply' (it creates "
                "it) or fix kms.key_name / kms.vault.transit_mount"
            ) from None
        except hx.InvalidRequest as err:
            raise OperationFailed(
                f"{what}: Vault at {address} refused the request ({_reason(err)}); a tampered blob or a key "
                "version no longer allowed (min_decryption_version, trimmed): restore the blob from a backup"
            ) from None
        except hx.VaultError as err:
            raise OperationFailed(f"{what}: Vault at {address} failed ({type(err).__name__})") from None
        except requests.exceptions.RequestException as err:
            raise OperationFailed(
                f"{what}: Vault at {address} is not reachable ({_net_reason(err)}); is it running?"
            ) from None

    # -- the client --------------------------------------------------------------------------------
    def token(self) -> str | None:
        """The token to use (AppRole logs in once); None when none is configured."""
        if self._token is not None:
            return self._token
        v = self.vault
        if v.token_file:
            self._token = read_credential(self.plan, v.token_file)
        elif v.approle_role_id_file and v.approle_secret_id_file:
            import hvac

            role_id = read_credential(self.plan, v.approle_role_id_file)
            secret_id = read_credential(self.plan, v.approle_secret_id_file)
            client = hvac.Client(url=v.address, namespace=v.namespace, timeout=15)
            with self.errors("AppRole login"):
                answer = client.auth.approle.login(role_id=role_id, secret_id=secret_id)
            self._token = answer["auth"]["client_token"]
        elif v.deploy:  # the stack's OpenBao: stackseal's admin AppRole, else the dev-grade root token file
            from wizard.kms import openbao_init

            secrets_dir = self.plan.output_path / "secrets"
            with self.errors("admin AppRole login"):
                self._token = openbao_init.admin_token(self.plan, secrets_dir)
            init = openbao_init.read_plain(secrets_dir) if self._token is None else None
            if init is not None:
                self._token = init["root_token"]
        else:
            self._token = os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN")
        return self._token

    def _how(self) -> str:
        v = self.vault
        if v.token_file:
            return "token"
        if v.approle_role_id_file and v.approle_secret_id_file:
            return "AppRole"
        return "deployed OpenBao token" if v.deploy else "VAULT_TOKEN"

    def client(self, timeout: float = 15) -> Any:
        if self._client is None:
            import hvac

            self._client = hvac.Client(
                url=self.vault.address, token=self.token(), namespace=self.vault.namespace, timeout=max(1, int(timeout))
            )
        return self._client

    def _need_token(self) -> Any:
        client = self.client()
        if not client.token:
            raise UsageError(
                "no Vault credential: set kms.vault.token_file, the AppRole files, or VAULT_TOKEN / BAO_TOKEN"
            )
        return client

    # -- KmsBackend --------------------------------------------------------------------------------
    def connection_test(self, timeout: float = 5.0) -> Health:
        import hvac

        v = self.vault
        if v.deploy and not (self.plan.output_path / "compose.yaml").exists():
            return Health(True, "OpenBao will run inside the stack: nothing to reach yet")
        try:
            health = self.seal_status(timeout)
            if not health["initialized"]:
                return Health(False, f"{v.address} is not initialised: initialise it first (bao operator init)")
            if health["sealed"]:
                return Health(False, f"{v.address} is sealed: unseal it first")
            if self.token() is None:
                return Health(None, f"{v.address} is up and unsealed; no token given, so access was not tested")
            client = hvac.Client(url=v.address, token=self.token(), namespace=v.namespace, timeout=max(1, int(timeout)))
            with self.errors(f"{self._how()} lookup"):
                info = client.auth.token.lookup_self()
            policies = ", ".join(info.get("data", {}).get("policies", []) or []) or "none"
            try:
                with self.errors("transit key"):
                    key = client.secrets.transit.read_key(name=self.plan.kms.key_name, mount_point=self.mount)
                what = f"transit key {self.key_id} at version {key['data'].get('latest_version')}"
            except OperationFailed as err:
                what = (
                    f"transit key {self.key_id} missing: apply will create it"
                    if "does not exist" in str(err)
                    else "the transit key is not readable with this token (apply needs transit access)"
                )
            return Health(True, f"{self._how()} accepted (policies: {policies}); {what}")
        except UsageError as err:
            return Health(False, str(err))
        except OperationFailed as err:
            return Health(False, str(err))

    def seal_status(self, timeout: float = 5.0) -> dict[str, Any]:
        """``{"initialized", "sealed", "version"}`` from ``/v1/sys/seal-status`` (unauthenticated)."""
        import requests

        try:
            response = requests.get(self.vault.address.rstrip("/") + "/v1/sys/seal-status", timeout=timeout)
            data = response.json()
            return {"initialized": bool(data["initialized"]), "sealed": bool(data["sealed"]), **data}
        except requests.exceptions.RequestException as err:
            raise OperationFailed(
                f"Vault at {self.vault.address} is not reachable ({_net_reason(err)}); is it running?"
            ) from None
        except (ValueError, KeyError, TypeError, RecursionError):
            raise OperationFailed(f"{self.vault.address} did not answer like Vault/OpenBao (sys/seal-status)") from None

    def ensure_key(self) -> str:
        """Transit mount and key exist (created when missing: needs a token allowed to)."""
        client = self._need_token()
        done = []
        with self.errors("transit mount"):
            mounts = client.sys.list_mounted_secrets_engines()
        mounts = mounts.get("data", mounts)
        if f"{self.mount}/" not in mounts:
            with self.errors("enable transit"):
                client.sys.enable_secrets_engine(backend_type="transit", path=self.mount)
            done.append(f"enabled transit at {self.mount}/")
        import hvac.exceptions as hx

        try:
            client.secrets.transit.read_key(name=self.plan.kms.key_name, mount_point=self.mount)
        except hx.InvalidPath:
            with self.errors("create key"):
                client.secrets.transit.create_key(
                    name=self.plan.kms.key_name, key_type="aes256-gcm96", mount_point=self.mount
                )
            done.append(f"created transit key {self.key_id}")
        return ", ".join(done) or f"transit key {self.key_id} exists"

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        client = self._need_token()
        names = list(plaintexts)
        out: dict[str, WrappedBlob] = {}
        now = utc_now()
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            batch = [{"plaintext": base64.b64encode(plaintexts[n]).decode("ascii")} for n in chunk]
            with self.errors(f"wrapping {len(chunk)} key(s)"):
                answer = client.secrets.transit.encrypt_data(
                    name=self.plan.kms.key_name, batch_input=batch, mount_point=self.mount
                )
            results = answer["data"]["batch_results"]
            for name, result in zip(chunk, results, strict=True):
                if result.get("error") or not result.get("ciphertext"):
                    raise OperationFailed(f"wrapping {name}: Vault refused it ({_short(result.get('error'))})")
                text = result["ciphertext"]
                out[name] = WrappedBlob("vault", self.key_id, version_of(text), text.encode("ascii"), now)
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        for name, blob in blobs.items():
            self.check_blob(name, blob)
        client = self._need_token()
        names = list(blobs)
        out: dict[str, bytes] = {}
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            batch = [{"ciphertext": _ciphertext(n, blobs[n])} for n in chunk]
            with self.errors(f"unwrapping {', '.join(chunk[:3])}{' ...' if len(chunk) > 3 else ''}"):
                answer = _decrypt(client, self.plan.kms.key_name, batch, self.mount)
            for name, result in zip(chunk, answer["data"]["batch_results"], strict=True):
                if result.get("error") or "plaintext" not in result:
                    raise OperationFailed(
                        f"secret {name} cannot be unwrapped by {self.key_id} ({_short(result.get('error'))}); "
                        "a tampered blob or a key version no longer allowed: restore the blob from a backup"
                    )
                out[name] = base64.b64decode(result["plaintext"])
        return out

    def rotate(self) -> str | None:
        client = self._need_token()
        with self.errors("rotating the transit key"):
            client.secrets.transit.rotate_key(name=self.plan.kms.key_name, mount_point=self.mount)
            key = client.secrets.transit.read_key(name=self.plan.kms.key_name, mount_point=self.mount)
        return str(key["data"]["latest_version"])

    def rewrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, WrappedBlob]:
        """Re-wrap each blob with the latest key version, without the plaintext leaving Vault."""
        client = self._need_token()
        names = list(blobs)
        out: dict[str, WrappedBlob] = {}
        now = utc_now()
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            batch = [{"ciphertext": _ciphertext(n, blobs[n])} for n in chunk]
            with self.errors(f"rewrapping {len(chunk)} key(s)"):
                answer = client.secrets.transit.rewrap_data(
                    name=self.plan.kms.key_name, ciphertext=None, batch_input=batch, mount_point=self.mount
                )
            for name, result in zip(chunk, answer["data"]["batch_results"], strict=True):
                if result.get("error") or not result.get("ciphertext"):
                    raise OperationFailed(f"rewrapping {name}: Vault refused it ({_short(result.get('error'))})")
                text = result["ciphertext"]
                old = blobs[name]
                out[name] = WrappedBlob("vault", self.key_id, version_of(text), text.encode("ascii"), old.created, now)
        return out


def _decrypt(client: Any, key: str, batch: list[dict[str, str]], mount: str) -> Any:
    return client.secrets.transit.decrypt_data(name=key, batch_input=batch, mount_point=mount)


def _ciphertext(name: str, blob: WrappedBlob) -> str:
    try:
        text = blob.ciphertext.decode("ascii")
    except UnicodeDecodeError:
        raise OperationFailed(f"secret {name}: its blob is not a Vault ciphertext (tampered)") from None
    if version_of(text) is None:
        raise OperationFailed(f"secret {name}: its blob is not a Vault ciphertext (tampered)")
    return text


def _net_reason(err: Exception) -> str:
    """Why a connection failed, in words; never ``str(err)`` as such (it could quote a header)."""
    text = repr(err)
    if "Connection refused" in text:
        return "connection refused"
    if "Timeout" in type(err).__name__ or "timed out" in text:
        return "timed out"
    if "Name or service not known" in text or "NameResolution" in text:
        return "unknown host"
    return type(err).__name__


def _reason(err: Exception) -> str:
    """Vault's own error text (``errors`` list), one short line; never a request body."""
    errors = getattr(err, "errors", None) or []
    text = "; ".join(str(e) for e in errors) if isinstance(errors, list) else str(errors)
    return _short(text) or type(err).__name__


def _short(text: Any) -> str:
    line = " ".join(str(text or "").split())
    return line[:160] + ("..." if len(line) > 160 else "")
