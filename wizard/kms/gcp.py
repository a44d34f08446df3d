"""``gcp`` backend: Google Cloud KMS ``encrypt`` / ``decrypt`` (google-cloud-kms, REST transport).

Why direct encrypt: Cloud KMS symmetric keys take up to 64 KiB of plaintext, so the KMS key
wraps each secret itself; the secret's name is the additional authenticated data, so a blob
renamed to another secret does not decrypt. Cloud KMS picks the primary version to encrypt and
finds the version from the ciphertext to decrypt; each blob records the version that wrapped it
(``.../cryptoKeyVersions/N`` in the answer). Rotation makes a new version primary.

The key is ``projects/<project>/locations/<location>/keyRings/<key_ring>/cryptoKeys/<kms.key_name>``;
stackseal does not create it. Credential: ``kms.gcp.credentials_file`` (a service-account key),
else Application Default Credentials. Install with ``pip install 'stackseal[gcp]'``. Tests drive
the real SDK over its REST transport against recorded answers (``*_contract``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import Health, KmsBackend, WrappedBlob, utc_now


class GcpBackend(KmsBackend):
    backend = "gcp"

    def __init__(self, plan: Any, credentials: Any = None, client_options: Any = None) -> None:
        """``credentials`` / ``client_options`` (api_endpoint) are for tests and private endpoints."""
        super().__init__(plan)
        self.gcp = plan.kms.gcp
        self._credentials = credentials
        self._client_options = client_options
        self._client: Any = None

    @property
    def key_id(self) -> str:
        g = self.gcp
        if not g.project:
            raise UsageError("kms.gcp.project is not set; set it to your Google Cloud project id")
        return f"projects/{g.project}/locations/{g.location}/keyRings/{g.key_ring}/cryptoKeys/{self.plan.kms.key_name}"

    def client(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import kms
            except ImportError:
                raise UsageError("the gcp backend needs its SDK: pip install 'stackseal[gcp]'") from None
            credentials = self._credentials
            if credentials is None and self.gcp.credentials_file:
                from google.oauth2 import service_account

                path = self.plan.resolve(self.gcp.credentials_file)
                try:
                    credentials = service_account.Credentials.from_service_account_file(
                        str(path), scopes=["https://www.googleapis.com/auth/cloudkms"]
                    )
                except (OSError, ValueError, KeyError):
                    raise UsageError(
                        f"kms.gcp.credentials_file: {self.gcp.credentials_file} is not a service-account key file"
                    ) from None
            with self.errors("Cloud KMS client"):
                self._client = kms.KeyManagementServiceClient(
                    credentials=credentials, transport="rest", client_options=self._client_options
                )
        return self._client

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OperationFailed, UsageError):
            raise
        except Exception as err:
            kind = type(err).__name__
            code = getattr(err, "code", None)
            hint = {
                400: "a tampered blob, a blob of another key or a wrong name (or a disabled key version): "
                "restore it from a backup",
                401: "the credential was rejected or has expired: check kms.gcp.credentials_file",
                403: "the credential may not use this key (needs cloudkms.cryptoKeyVersions.useToEncrypt/Decrypt)",
                404: "the key does not exist: create it or fix kms.gcp.* / kms.key_name",
                503: "Cloud KMS is not available; try again",
            }.get(code if isinstance(code, int) else 0)
            if hint is None and kind in ("DefaultCredentialsError", "RefreshError"):
                hint = "no usable Google credential: set kms.gcp.credentials_file"
            if hint is None and kind in ("ConnectionError", "TransportError", "ServiceUnavailable", "RetryError"):
                hint = "Cloud KMS is not reachable; check the network"
            what_failed = f"HTTP {code}" if isinstance(code, int) else kind
            raise OperationFailed(
                f"{what}: Cloud KMS key {self.key_id}: {what_failed}; {hint or 'see the Cloud KMS audit log'}"
            ) from None

    def connection_test(self, timeout: float = 5.0) -> Health:
        try:
            with self.errors("key lookup"):
                key = self.client().get_crypto_key(request={"name": self.key_id}, timeout=timeout)
            primary = key.primary.name.rsplit("/", 1)[-1] if key.primary and key.primary.name else "none"
            state = key.primary.state.name if key.primary else "NO_PRIMARY"
            return Health(state == "ENABLED", f"key {self.key_id}: primary version {primary} is {state}")
        except (OperationFailed, UsageError) as err:
            return Health(False, str(err))

    def ensure_key(self) -> str:
        result = self.connection_test()
        if not result.ok:
            raise OperationFailed(result.detail)
        return result.detail

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        client = self.client()
        now = utc_now()
        out = {}
        for name, value in plaintexts.items():
            with self.errors(f"wrapping {name}"):
                answer = client.encrypt(
                    request={"name": self.key_id, "plaintext": value, "additional_authenticated_data": name.encode()}
                )
            version = answer.name.rsplit("/", 1)[-1] if answer.name else None
            out[name] = WrappedBlob("gcp", self.key_id, version, bytes(answer.ciphertext), now)
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        client = self.client()
        out = {}
        for name, blob in blobs.items():
            self.check_blob(name, blob)
            with self.errors(f"unwrapping {name}"):
                answer = client.decrypt(
                    request={
                        "name": self.key_id,
                        "ciphertext": blob.ciphertext,
                        "additional_authenticated_data": name.encode(),
                    }
                )
            out[name] = bytes(answer.plaintext)
        return out

    def rotate(self) -> str | None:
        client = self.client()
        with self.errors("rotating the key"):
            version = client.create_crypto_key_version(request={"parent": self.key_id, "crypto_key_version": {}})
            version_id = version.name.rsplit("/", 1)[-1]
            client.update_crypto_key_primary_version(request={"name": self.key_id, "crypto_key_version_id": version_id})
        return version_id
