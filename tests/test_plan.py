"""The answers file: validation messages, migrations, round trips, the generated JSON schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import msgspec
import pytest
import yaml

from wizard.errors import UsageError
from wizard.plan import (
    CURRENT_VERSION,
    MIGRATIONS,
    Plan,
    dump_plan,
    get_path,
    json_schema,
    load_plan,
    migrate,
    plan_from_dict,
    save_plan,
    schema_text,
    set_path,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_committed_schema_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "answers.schema.json").read_text()
    assert committed == schema_text(), "regenerate: .venv/bin/python -m wizard.plan > docs/answers.schema.json"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_against_the_schema_and_loads(example: Path) -> None:
    schema = json.loads((ROOT / "docs" / "answers.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(example.read_text()), schema)
    plan = load_plan(example)
    assert plan.version == CURRENT_VERSION


def test_the_three_required_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"dev-laptop.yaml", "production-vault-luks.yaml", "enterprise.yaml"}
    dev = load_plan(ROOT / "examples" / "dev-laptop.yaml")
    assert (dev.neo4j.edition, dev.kms.backend, dev.volumes.backend, dev.object_store.kind, dev.object_store.sse) == (
        "community",
        "local",
        "gocryptfs",
        "seaweedfs",
        "sse-s3",
    )
    prod = load_plan(ROOT / "examples" / "production-vault-luks.yaml")
    assert (prod.kms.backend, prod.volumes.backend, prod.object_store.kind, prod.object_store.sse) == (
        "vault",
        "luks-file",
        "minio",
        "sse-kms",
    )
    assert load_plan(ROOT / "examples" / "enterprise.yaml").neo4j.edition == "enterprise"


def test_schema_rejects_unknown_keys_like_the_loader() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "neo4j": {"editon": "community"}}, json_schema())


def test_every_key_is_documented() -> None:
    doc = (ROOT / "docs" / "answers-file.md").read_text()
    schema = json_schema()

    def walk(ref_or_props: dict, prefix: str) -> list[str]:
        keys = []
        for key, spec in ref_or_props.items():
            path = f"{prefix}{key}"
            keys.append(path)
            ref = spec.get("$ref") or next((a.get("$ref") for a in spec.get("anyOf", []) if "$ref" in a), None)
            if ref:
                keys += walk(schema["$defs"][ref.split("/")[-1]]["properties"], path + ".")
        return keys

    root = (
        schema["$defs"]["Plan"]["properties"]
        if "$defs" in schema and "Plan" in schema["$defs"]
        else schema["properties"]
    )
    undocumented = [k for k in walk(root, "") if f"`{k}`" not in doc]
    assert not undocumented, f"docs/answers-file.md does not document: {undocumented}"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": 1, "neo4j": {"editon": "community"}}, "neo4j.editon: unknown key (did you mean 'edition'?)"),
        ({"version": 1, "neo4j": {"edition": "pro"}}, "neo4j.edition: 'pro' is not one of community, enterprise"),
        (
            {"version": 1, "kms": {"backend": "vualt"}},
            "kms.backend: 'vualt' is not one of local, vault, aws, azure, gcp (did you mean 'vault'?)",
        ),
        ({"version": 1, "volumes": {"size_mb": "big"}}, "volumes.size_mb: expected int, got str"),
        ({"version": 1, "volumes": {"root": "srv"}}, "volumes.root: 'srv' is relative"),
        (
            {"version": 1, "object_store": {"buckets": ["Bad_Name"]}},
            "object_store.buckets: 'Bad_Name' is not a valid S3 bucket name",
        ),
        ({"version": 1, "images": {"neo5j": "x"}}, "images.neo5j: unknown service 'neo5j' (did you mean 'neo4j'?)"),
        ({"version": 1, "rotation": 5}, "rotation: expected a mapping of keys, got a number"),
        ({"version": 99}, "version: 99 was written by a newer stackseal"),
        ({"project": "x"}, "version: missing"),
    ],
)
def test_bad_answers_give_one_line_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        plan_from_dict(data)
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_migration_from_version_0_is_explicit() -> None:
    assert 0 in MIGRATIONS
    migrated = migrate({"version": 0, "volume_encryption": "fscrypt"})
    assert migrated == {"version": 1, "volumes": {"backend": "fscrypt"}}
    assert plan_from_dict({"version": 0, "volume_encryption": "fscrypt"}).volumes.backend == "fscrypt"


def test_save_and_load_round_trip_is_byte_stable(tmp_path: Path) -> None:
    plan = plan_from_dict({"version": 1, "project": "rt", "kms": {"backend": "vault", "vault": {"deploy": True}}})
    save_plan(plan, tmp_path / "a.yaml")
    again = load_plan(tmp_path / "a.yaml")
    assert msgspec.to_builtins(again) == msgspec.to_builtins(plan)
    assert dump_plan(again) == (tmp_path / "a.yaml").read_text()
    assert (tmp_path / "a.yaml").stat().st_mode & 0o777 == 0o644


def test_relative_paths_are_relative_to_the_answers_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.yaml").write_text("version: 1\noutput_dir: ./out\n")
    plan = load_plan(tmp_path / "sub" / "s.yaml")
    assert plan.output_path == (tmp_path / "sub" / "out").resolve()


def test_get_and_set_path_validate() -> None:
    plan = Plan()
    assert get_path(plan, "neo4j.edition") == "community"
    changed = set_path(plan, "object_store.kind", "minio")
    assert changed.object_store.kind == "minio" and plan.object_store.kind == "seaweedfs"
    with pytest.raises(UsageError, match=r"^object_store.kind: 'nas' is not one of"):
        set_path(plan, "object_store.kind", "nas")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("version: 1\nneo4j: [\n")
    with pytest.raises(UsageError, match=re.escape("line 3, column 1: YAML syntax error")):
        load_plan(tmp_path / "bad.yaml")


def test_a_duplicate_key_is_refused_with_its_line(tmp_path):
    """YAML keeps the last of two equal keys silently; the answers file must not."""
    answers = tmp_path / "stackseal.yaml"
    answers.write_text("version: 1\nobject_store:\n  sse: sse-c\n  kind: seaweedfs\n  sse: sse-s3\n")
    with pytest.raises(UsageError) as caught:
        load_plan(answers)
    message = str(caught.value)
    assert "duplicate key 'sse'" in message and "line 5" in message and "\n" not in message
    answers.write_text("version: 1\nproject: a\nproject: b\n")
    with pytest.raises(UsageError, match="duplicate key 'project'"):
        load_plan(answers)
