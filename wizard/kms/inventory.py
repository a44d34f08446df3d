"""The key inventory behind ``stackseal keys list``: what each key is, what wraps it, where it lives.

Why without the KMS: an operator must be able to see which keys exist, which key version wrapped
each and when it was last rotated even while the KMS is down or the stack is locked; the stored
blobs carry that metadata, so no value is unwrapped here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from wizard import kms
from wizard.layout import volume_specs
from wizard.volumes.keys import key_name


@dataclass(frozen=True)
class KeyInfo:
    name: str
    purpose: str
    backend: str
    key_id: str | None
    key_version: str | None
    created: str | None
    rotated: str | None
    stored: str  # where it is kept at rest
    plaintext: str  # where its plaintext lives while unlocked
    unlocked: bool  # its plaintext is there now

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def inventory(plan: Any) -> list[KeyInfo]:
    from wizard.kms.store import SUFFIX, read_blobs
    from wizard.render import all_materials

    out = plan.output_path
    secrets_dir = out / "secrets"
    plain = kms.plaintext_dir(plan)
    preview = kms.secret_store(plan, preview=True)
    purposes = {m.name: m.purpose for m in all_materials(plan, preview).items.values() if m.external is None}
    for spec in volume_specs(plan):
        purposes.setdefault(key_name(spec.name), f"key of volume {spec.name} ({plan.volumes.backend}, {spec.backing})")
    envelope = kms.envelope(plan)
    blobs = read_blobs(secrets_dir) if envelope else {}
    derived = {"seaweedfs_s3.json", "seaweedfs_security.toml", "kes_config.yml"}
    rows = []
    for name in sorted(set(purposes) | set(blobs)):
        blob = blobs.get(name)
        if envelope and blob is None and name not in derived:
            continue  # not created yet (a volume that does not exist yet)
        if not envelope and not (secrets_dir / name).is_file():
            continue
        if blob is not None:
            stored = f"secrets/{name}{SUFFIX}"
        elif envelope:
            stored = "not stored: re-rendered at unlock from the wrapped secrets it holds"
        else:
            stored = f"secrets/{name} (plaintext, development only)"
        rows.append(
            KeyInfo(
                name=name,
                purpose=purposes.get(name, "(no longer used by this plan)"),
                backend=blob.backend if blob else plan.kms.backend,
                key_id=blob.key_id if blob else None,
                key_version=blob.key_version if blob else None,
                created=blob.created if blob else None,
                rotated=blob.rotated if blob else None,
                stored=stored,
                plaintext=str(plain / name) + (" (tmpfs)" if envelope else ""),
                unlocked=(plain / name).is_file(),
            )
        )
    return rows
