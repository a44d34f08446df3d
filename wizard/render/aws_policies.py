"""Least-privilege AWS policies (IAM policy JSON) per consumer, for ``kms.backend: aws``.

Why rendered, not applied: stackseal never creates AWS principals or keys (they belong to your
account's IAM), but each consumer must get only what it needs: stackseal's admin (wrap, rotate),
the boot-time ``unlock`` (decrypt only, and only blobs stackseal wrote: their encryption context
carries the ``stackseal`` key), SeaweedFS SSE-KMS (data keys of the object key), KES (its
Secrets Manager prefix). Attach each to the role that runs that consumer; ``key-policy.json``
holds the matching key-policy statements for the key's own policy.
"""

from __future__ import annotations

import json
from typing import Any

from wizard import compat
from wizard.plan import Plan


def _resource(plan: Plan, key: str) -> tuple[str, dict[str, Any]]:
    """IAM resource and condition naming one KMS key given as ARN, key id or alias."""
    region = plan.kms.aws.region
    if key.startswith("arn:"):
        return key, {}
    if key.startswith("alias/"):
        return f"arn:aws:kms:{region}:*:key/*", {"ForAnyValue:StringEquals": {"kms:ResourceAliases": key}}
    return f"arn:aws:kms:{region}:*:key/{key}", {}


def _statement(sid: str, actions: list[str], resource: str, condition: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def consumers(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """consumer -> IAM statements."""
    master = plan.kms.aws.key_id or f"alias/{plan.kms.key_name}"
    res, cond = _resource(plan, master)
    context = {"StringLike": {"kms:EncryptionContext:stackseal": "*"}}
    out = {
        "admin": [
            _statement(
                "StacksealWrapAndRotate",
                [
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:RotateKeyOnDemand",
                    "kms:GetKeyRotationStatus",
                    "kms:ListKeyRotations",  # rotate kms-key: a re-run never rotates twice
                    "kms:ReEncryptFrom",  # rotate kms-key: every blob re-encrypted inside KMS
                    "kms:ReEncryptTo",
                ],
                res,
                cond,
            )
        ],
        "unlock": [_statement("StacksealUnwrapOnly", ["kms:Decrypt"], res, {**cond, **context})],
    }
    obj = plan.object_store
    if obj.kind == "seaweedfs" and obj.sse == "sse-kms":
        from wizard.render.seaweedfs import kms_key_id

        ores, ocond = _resource(plan, kms_key_id(plan))
        out["seaweedfs"] = [
            _statement("ObjectDataKeys", ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"], ores, ocond)
        ]
    if compat.uses_kes(plan):
        out["kes"] = [
            _statement(
                "KesKeystore",
                [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:ListSecrets",
                ],
                f"arn:aws:secretsmanager:{plan.kms.aws.region}:*:secret:{plan.project}/kes/*",
                {},
            ),
            _statement("KesWrap", ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], res, cond),
        ]
    return out


def policies(plan: Plan) -> dict[str, bytes]:
    """``aws/policies/<project>-<consumer>.json`` and ``aws/policies/key-policy.json`` (aws only)."""
    if plan.kms.backend != "aws":
        return {}
    out = {}
    key_statements = []
    for consumer, statements in consumers(plan).items():
        doc = {"Version": "2012-10-17", "Statement": statements}
        out[f"aws/policies/{plan.project}-{consumer}.json"] = (json.dumps(doc, indent=2) + "\n").encode()
        for st in statements:
            if any(a.startswith("kms:") for a in st["Action"]):
                key_statements.append(
                    {
                        "Sid": f"{plan.project}-{consumer}",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::ACCOUNT_ID:role/{plan.project}-{consumer}"},
                        "Action": [a for a in st["Action"] if a.startswith("kms:")],
                        "Resource": "*",
                        **({"Condition": st["Condition"]} if "Condition" in st else {}),
                    }
                )
    doc = {
        "Version": "2012-10-17",
        "Statement": key_statements,
        "_comment": "merge these statements into the key policy; replace ACCOUNT_ID and the role names",
    }
    out["aws/policies/key-policy.json"] = (json.dumps(doc, indent=2) + "\n").encode()
    return out
