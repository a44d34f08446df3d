"""``azure`` backend: Azure Key Vault ``CryptographyClient.wrap_key`` / ``unwrap_key`` (RSA-OAEP-256).

Why a data key per secret (:mod:`wizard.kms.dek`): an RSA key wraps at most ~190 bytes, less
than a TLS private key, so Key Vault wraps a random 256-bit data key and AES-GCM seals the
secret. The key is ``<vault_url>/keys/<kms.key_name>``; each blob records the key version that
wrapped it (the last segment of the key id Key Vault answers), and unwrapping asks that exact
version, so a rotation (``KeyClient.rotate_key``) keeps old blobs readable.

Credential: ``kms.azure.client_secret_file`` with ``tenant_id`` and ``client_id`` (a service
principal), else azure-identity's ``DefaultAzureCredential`` (managed identity, CLI login).
Install with ``pip install 'stackseal[azure]'``. Tests drive the real SDK through its HTTP
transport with recorded Key Vault answers (``*_contract``); docs/kms.md has the by-hand check.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms import dek
from wizard.kms.base import Health, KmsBackend, WrappedBlob, utc_now

ALGORITHM = "RSA-OAEP-256"


class AzureBackend(KmsBackend):
    backend = "azure"

    def __init__(self, plan: Any, credential: Any = None, **sdk_options: Any) -> None:
        """``credential`` / ``sdk_options`` (e.g. ``transport=``) are for tests and special networks."""
        super().__init__(plan)
        self.azure = plan.kms.azure
        self._credential = credential
        self._sdk_options = sdk_options

    @property
    def key_id(self) -> str:
        if not self.azure.vault_url:
            raise UsageError("kms.azure.vault_url is not set; set it to https://<vault>.vault.azure.net")
        return f"{self.azure.vault_url.rstrip('/')}/keys/{self.plan.kms.key_name}"

    def credential(self) -> Any:
        if self._credential is None:
            try:
                from azure.identity import ClientSecretCredential, DefaultAzureCredential
            except ImportError:
                raise UsageError("the azure backend needs its SDK: pip install 'stackseal[azure]'") from None
            a = self.azure
            if a.client_secret_file:
                from wizard.kms.vault import read_credential

                if not (a.tenant_id and a.client_id):
                    raise UsageError("kms.azure.client_secret_file needs kms.azure.tenant_id and client_id")
                secret = read_credential(self.plan, a.client_secret_file)
                self._credential = ClientSecretCredential(a.tenant_id, a.client_id, secret)
            else:
                self._credential = DefaultAzureCredential()
        return self._credential

    def _crypto(self, key_url: str) -> Any:
        try:
            from azure.keyvault.keys.crypto import CryptographyClient
        except ImportError:
            raise UsageError("the azure backend needs its SDK: pip install 'stackseal[azure]'") from None
        return CryptographyClient(key_url, self.credential(), **self._sdk_options)

    def _keys(self) -> Any:
        from azure.keyvault.keys import KeyClient

        return KeyClient(self.azure.vault_url, self.credential(), **self._sdk_options)

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OperationFailed, UsageError):
            raise
        except ImportError:
            raise UsageError("the azure backend needs its SDK: pip install 'stackseal[azure]'") from None
        except Exception as err:
            status = getattr(err, "status_code", None)
            hint = {
                401: "the credential was rejected: check tenant_id, client_id and the client secret",
                403: "the credential may not use this key (needs wrapKey/unwrapKey): check the access policy / RBAC",
                404: "the key or key version does not exist: create the key or restore the version",
            }.get(status or 0)
            if hint is None and type(err).__name__ in ("ServiceRequestError", "ServiceRequestTimeoutError"):
                hint = f"{self.azure.vault_url} is not reachable; check the network"
            if hint is None and status == 400:
                hint = "a tampered blob or a blob of another key: restore it from a backup"
            if hint is None and type(err).__name__ == "ClientAuthenticationError":
                hint = "the credential was rejected: check tenant_id, client_id and the client secret"
            code = f"HTTP {status}" if status else type(err).__name__
            raise OperationFailed(
                f"{what}: Azure Key Vault key {self.key_id}: {code}; {hint or 'see the vault logs'}"
            ) from None

    def connection_test(self, timeout: float = 5.0) -> Health:
        try:
            with self.errors("key lookup"):
                key = self._keys().get_key(self.plan.kms.key_name)
            ops = {str(getattr(o, "value", o)) for o in (key.key_operations or [])}
            if ops and not {"wrapKey", "unwrapKey"} <= ops:
                return Health(False, f"key {self.key_id} does not allow wrapKey/unwrapKey (operations: {sorted(ops)})")
            return Health(True, f"key {self.key_id} version {key.properties.version} ({key.key_type}) is usable")
        except (OperationFailed, UsageError) as err:
            return Health(False, str(err))

    def ensure_key(self) -> str:
        result = self.connection_test()
        if not result.ok:
            raise OperationFailed(result.detail)
        return result.detail

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        client = self._crypto(self.key_id)
        now = utc_now()
        out = {}
        for name, value in plaintexts.items():
            used: dict[str, str] = {}

            def wrap(data_key: bytes, used: dict[str, str] = used) -> bytes:
                result = client.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, data_key)
                used["kid"] = result.key_id or ""
                return bytes(result.encrypted_key)

            with self.errors(f"wrapping {name}"):
                sealed = dek.seal(name, value, wrap)
            version = used["kid"].rstrip("/").rsplit("/", 1)[-1] if used.get("kid") else None
            out[name] = WrappedBlob("azure", self.key_id, version, sealed, now)
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        clients: dict[str, Any] = {}
        out = {}
        for name, blob in blobs.items():
            self.check_blob(name, blob)
            url = f"{self.key_id}/{blob.key_version}" if blob.key_version else self.key_id
            client = clients.setdefault(url, self._crypto(url))

            def unwrap(wrapped: bytes, client: Any = client) -> bytes:
                return bytes(client.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped).key)

            with self.errors(f"unwrapping {name}"):
                out[name] = dek.open_sealed(name, blob.ciphertext, unwrap)
        return out

    def rotate(self) -> str | None:
        with self.errors("rotating the key"):
            key = self._keys().rotate_key(self.plan.kms.key_name)
        return key.properties.version
