"""The answers file (``stackseal.yaml``): model, loading and validation, one import away.

Why a package: the model (:mod:`wizard.plan.model`), the bounded loader
(:mod:`wizard.plan.loading`), the validation layer (:mod:`wizard.plan.validate`) and the message
text (:mod:`wizard.plan.messages`) are separate jobs; every caller keeps importing from
``wizard.plan``.
"""

from __future__ import annotations

from wizard.plan.loading import (
    MIGRATIONS,
    default_plan,
    dump_plan,
    get_path,
    json_schema,
    load_plan,
    migrate,
    parse_yaml,
    plan_from_dict,
    plan_to_dict,
    save_plan,
    schema_text,
    set_path,
    url_port,
)
from wizard.plan.model import (
    CURRENT_VERSION,
    IMAGE_KEYS,
    AwsAnswers,
    AzureAnswers,
    BackupAnswers,
    Edition,
    GcpAnswers,
    KmsAnswers,
    KmsBackend,
    Neo4jAnswers,
    ObjectStoreAnswers,
    Plan,
    RotationAnswers,
    SseMode,
    StoreKind,
    VaultAnswers,
    VolumeAnswers,
    VolumeBackend,
)

__all__ = [
    "CURRENT_VERSION",
    "IMAGE_KEYS",
    "MIGRATIONS",
    "AwsAnswers",
    "AzureAnswers",
    "BackupAnswers",
    "Edition",
    "GcpAnswers",
    "KmsAnswers",
    "KmsBackend",
    "Neo4jAnswers",
    "ObjectStoreAnswers",
    "Plan",
    "RotationAnswers",
    "SseMode",
    "StoreKind",
    "VaultAnswers",
    "VolumeAnswers",
    "VolumeBackend",
    "default_plan",
    "dump_plan",
    "get_path",
    "json_schema",
    "load_plan",
    "migrate",
    "parse_yaml",
    "plan_from_dict",
    "plan_to_dict",
    "save_plan",
    "schema_text",
    "set_path",
    "url_port",
]
