"""``aws`` backend: AWS KMS Encrypt / Decrypt with boto3 (the default credential chain or a profile).

Why direct Encrypt (not GenerateDataKey): every stackseal secret is far below KMS's 4 KiB
plaintext limit, so the KMS key itself wraps each one and no data key ever exists on the host.
The secret's name is bound as encryption context (``stackseal:name``), so a blob copied under
another name does not decrypt. AWS does not expose key versions to Encrypt; ``key_version``
records the key's ARN answer instead of a number, and rotation is AWS's own (``RotateKeyOnDemand``
or yearly automatic rotation: old ciphertexts keep decrypting).

stackseal never creates AWS keys: the key (``kms.aws.key_id`` or ``alias/<kms.key_name>``)
must exist; the rendered IAM/key policies (``aws/policies/``) say who may use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from wizard.errors import OperationFailed, UsageError
from wizard.kms.base import Health, KmsBackend, WrappedBlob, utc_now

MAX_PLAINTEXT = 4096

#: botocore error codes -> what to do (never the message: it can quote an ARN, never a value, but stay short)
_HINTS = {
    "NotFoundException": "the key does not exist in this account/region: create it or fix kms.aws.key_id",
    "DisabledException": "the key is disabled: enable it in AWS KMS",
    "KMSInvalidStateException": "the key is pending deletion or not usable: cancel the deletion or choose another key",
    "InvalidCiphertextException": "a tampered blob, a blob of another key, or a wrong name: restore it from a backup",
    "IncorrectKeyException": "the blob was wrapped by another key: restore it or set kms.aws.key_id back",
    "AccessDeniedException": "the credential may not use this key: check the IAM and key policies (aws/policies/)",
    "UnrecognizedClientException": "the AWS credential is invalid: check the profile / environment",
    "InvalidSignatureException": "the AWS secret key is wrong: check the profile / environment",
    "ExpiredTokenException": "the AWS session token has expired: renew it",
}


class AwsBackend(KmsBackend):
    backend = "aws"

    def __init__(self, plan: Any) -> None:
        super().__init__(plan)
        self.aws = plan.kms.aws
        self._client: Any = None

    @property
    def key_id(self) -> str:
        return self.aws.key_id or f"alias/{self.plan.kms.key_name}"

    def client(self, timeout: float = 15) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise UsageError("the aws backend needs boto3: pip install 'stackseal[aws]' (or boto3)") from None
            with self.errors("AWS session"):
                session = boto3.session.Session(profile_name=self.aws.profile, region_name=self.aws.region)
                self._client = session.client(
                    "kms",
                    endpoint_url=self.aws.endpoint_url,
                    config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}),
                )
        return self._client

    @contextlib.contextmanager
    def errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (OperationFailed, UsageError):
            raise
        except Exception as err:  # botocore raises many types; the code and a hint say enough
            code = getattr(err, "response", {}).get("Error", {}).get("Code") or type(err).__name__
            hint = _HINTS.get(code)
            if hint is None and type(err).__name__ in (
                "EndpointConnectionError",
                "ConnectTimeoutError",
                "ReadTimeoutError",
            ):
                hint = f"AWS KMS at {self.aws.endpoint_url or self.aws.region} is not reachable; check the network"
            status = getattr(err, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if hint is None and status in (401, 403):
                code = f"HTTP {status}"
                hint = "AWS refused the credential: check the profile / environment and its IAM policy"
            if hint is None and type(err).__name__ in (
                "NoCredentialsError",
                "ProfileNotFound",
                "PartialCredentialsError",
            ):
                hint = "no usable AWS credential: set kms.aws.profile or the AWS_* environment"
            raise OperationFailed(
                f"{what}: AWS KMS key {self.key_id}: {code}; {hint or 'see the AWS KMS logs'}"
            ) from None

    def connection_test(self, timeout: float = 5.0) -> Health:
        try:
            with self.errors("key lookup"):
                meta = self.client(timeout).describe_key(KeyId=self.key_id)["KeyMetadata"]
        except (OperationFailed, UsageError) as err:
            return Health(False, str(err))
        ok = meta["KeyState"] == "Enabled"
        return Health(ok, f"key {self.key_id} ({meta['KeyId']}) is {meta['KeyState']} in {self.aws.region}")

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
            if len(value) > MAX_PLAINTEXT:
                raise OperationFailed(f"wrapping {name}: {len(value)} bytes exceeds AWS KMS's 4096-byte limit")
            with self.errors(f"wrapping {name}"):
                answer = client.encrypt(KeyId=self.key_id, Plaintext=value, EncryptionContext={"stackseal": name})
            out[name] = WrappedBlob("aws", self.key_id, answer.get("KeyId"), answer["CiphertextBlob"], now)
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        client = self.client()
        out = {}
        for name, blob in blobs.items():
            self.check_blob(name, blob)
            with self.errors(f"unwrapping {name}"):
                answer = client.decrypt(
                    CiphertextBlob=blob.ciphertext, KeyId=self.key_id, EncryptionContext={"stackseal": name}
                )
            out[name] = answer["Plaintext"]
        return out

    def rotate(self) -> str | None:
        """New key material now (RotateKeyOnDemand takes a key id or ARN, never an alias: resolved first)."""
        client = self.client()
        with self.errors("rotating the key"):
            key_id = client.describe_key(KeyId=self.key_id)["KeyMetadata"]["KeyId"]
            client.rotate_key_on_demand(KeyId=key_id)
        return None
