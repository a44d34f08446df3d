"""Helpers for the backup tests: a real Vault/OpenBao transit KeyWrapper and plan builders.

Why a wrapper of our own here: backups code against the ``KeyWrapper`` protocol
(wizard/kms/base.py); this one talks to the real OpenBao fixture with hvac (transit
encrypt/decrypt, batch), so the tests prove the envelope against a real KMS, not a mock.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import yaml

from wizard.errors import OperationFailed
from wizard.kms.base import WrappedBlob, utc_now


class TransitWrapper:
    """KeyWrapper over Vault/OpenBao transit (hvac), used only by tests."""

    backend = "vault"

    def __init__(self, address: str, token: str, key: str = "stackseal", mount: str = "transit") -> None:
        import hvac

        self.client = hvac.Client(url=address, token=token, timeout=5)
        self.key = key
        self.mount = mount

    def ensure(self) -> TransitWrapper:
        mounts = self.client.sys.list_mounted_secrets_engines()["data"]
        if f"{self.mount}/" not in mounts:
            self.client.sys.enable_secrets_engine("transit", path=self.mount)
        self.client.secrets.transit.create_key(self.key, mount_point=self.mount)
        return self

    def rotate(self) -> None:
        self.client.secrets.transit.rotate_key(self.key, mount_point=self.mount)

    def _call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as err:
            raise OperationFailed(
                f"KMS at {self.client.url} refused or is unreachable ({type(err).__name__})"
            ) from None

    def wrap_many(self, plaintexts: dict[str, bytes]) -> dict[str, WrappedBlob]:
        names = list(plaintexts)
        batch = [{"plaintext": base64.b64encode(plaintexts[n]).decode()} for n in names]
        result = self._call(
            self.client.secrets.transit.encrypt_data, self.key, batch_input=batch, mount_point=self.mount
        )["data"]["batch_results"]
        out = {}
        for name, item in zip(names, result, strict=True):
            ct = item["ciphertext"]
            out[name] = WrappedBlob("vault", f"{self.mount}/{self.key}", ct.split(":")[1][1:], ct.encode(), utc_now())
        return out

    def unwrap_many(self, blobs: dict[str, WrappedBlob]) -> dict[str, bytes]:
        names = list(blobs)
        batch = [{"ciphertext": blobs[n].ciphertext.decode()} for n in names]
        result = self._call(
            self.client.secrets.transit.decrypt_data, self.key, batch_input=batch, mount_point=self.mount
        )["data"]["batch_results"]
        out = {}
        for name, item in zip(names, result, strict=True):
            if "error" in item and item["error"]:
                raise OperationFailed("KMS refused to unwrap the backup's data key (tampered or wrong key)")
            out[name] = base64.b64decode(item["plaintext"])
        return out


def write_plan(tmp_path: Path, s3: Any = None, **overrides: Any) -> Path:
    """An answers file whose object store is the SeaweedFS fixture (credentials in files)."""
    data: dict[str, Any] = {
        "version": 1,
        "project": overrides.pop("project", "ssbackup"),
        "output_dir": "stack",
        "backups": {"dir": "backups", "keep": overrides.pop("keep", 7)},
    }
    if s3 is not None:
        (tmp_path / "s3_access").write_text(s3.access_key)
        (tmp_path / "s3_secret").write_text(s3.secret_key)
        data["object_store"] = {
            "kind": "seaweedfs",
            "endpoint": s3.endpoint,
            "access_key_file": "s3_access",
            "secret_key_file": "s3_secret",
            "buckets": overrides.pop("buckets", ["instances"]),
        }
    data.update(overrides)
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256 or 'link->target' or 'dir'} of everything under ``root``."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = f"link->{path.readlink()}"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def bucket_digest(client: Any, bucket: str) -> dict[str, str]:
    """{object key: sha256 of its body} of a bucket (empty if it does not exist)."""
    if not client.bucket_exists(bucket):
        return {}
    out = {}
    for obj in client.list_objects(bucket, recursive=True):
        response = client.get_object(bucket, obj.object_name)
        try:
            out[obj.object_name] = hashlib.sha256(response.read()).hexdigest()
        finally:
            response.close()
            response.release_conn()
    return out
