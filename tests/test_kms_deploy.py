"""The stack's own OpenBao (``kms.vault.deploy``) with a recovery recipient (issue 10, part 4).

Real OpenBao in the stack (dockerd, local images): initialised with 3 shares / threshold 2; the
unseal keys and root token are stored only age-encrypted (checked with the ``age`` CLI, so the
file is real age format); the root token is revoked once stackseal's admin AppRole exists; after
a restart ``unlock`` refuses in one line without the identity and unseals with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import hvac
import hvac.exceptions as hx
import pytest
import requests
import yaml
from test_apply_stack import load, make_answers, stackseal, teardown
from testbed.containers import DockerEngine, free_port

pytestmark = pytest.mark.slow


def test_deployed_openbao_age_encrypted_init_root_revoked_unlock_unseals(
    tmp_path: Path, docker: DockerEngine, local_images: dict[str, str]
) -> None:
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "recovery.agekey"
    identity_file.write_text(str(identity) + "\n")
    answers = make_answers(tmp_path, local_images)
    data = yaml.safe_load(answers.read_text())
    data["kms"] = {
        "backend": "vault",
        "vault": {
            "address": f"http://127.0.0.1:{free_port()}",
            "deploy": True,
            "key_shares": 3,
            "key_threshold": 2,
            "recovery_recipient": str(identity.to_public()),
        },
    }
    answers.write_text(yaml.safe_dump(data, sort_keys=False))
    plan = load(answers)
    secrets_dir = plan.output_path / "secrets"
    try:
        first = stackseal("apply", "-c", str(answers), "--yes")
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr
        assert not (secrets_dir / "openbao_init.json").exists(), "no plaintext unseal keys or root token"
        sealed = secrets_dir / "openbao_init.age"
        assert oct(sealed.stat().st_mode & 0o777) == "0o400"
        age = shutil.which("age")
        if age:  # interoperability: the standard age CLI opens it
            plain = subprocess.run(
                [age, "-d", "-i", str(identity_file), str(sealed)], capture_output=True, check=True
            ).stdout
        else:
            plain = pyrage.decrypt(sealed.read_bytes(), [identity])
        init = json.loads(plain)
        assert len(init["unseal_keys"]) == 3
        for value in [init["root_token"], *init["unseal_keys"]]:
            assert value not in first.stdout and value not in first.stderr
            assert not any(value.encode() in p.read_bytes() for p in plan.output_path.rglob("*") if p.is_file())
        root = hvac.Client(url=plan.kms.vault.address, token=init["root_token"])
        with pytest.raises((hx.Forbidden, hx.Unauthorized)):
            root.auth.token.lookup_self()  # revoked once the admin AppRole existed
        assert "revoked the root token" in first.stdout

        # a restart seals it: unlock refuses in one line without the identity, unseals with it
        docker.compose(plan.output_path, plan.project, "restart", "openbao", timeout=300)
        deadline = time.monotonic() + 60
        while True:  # the restarted server takes a moment to listen
            try:
                assert hvac.Client(url=plan.kms.vault.address).sys.is_sealed()
                break
            except requests.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "OpenBao did not come back"
                time.sleep(0.5)
        refused = stackseal("unlock", "-c", str(answers))
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "sealed" in refused.stderr
        env = dict(os.environ, STACKSEAL_AGE_IDENTITY=str(identity_file))
        unlocked = subprocess.run(
            [str(Path(stackseal.__globals__["VENV_BIN"]) / "stackseal"), "unlock", "-c", str(answers)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
        assert not hvac.Client(url=plan.kms.vault.address).sys.is_sealed()
        # the admin AppRole (not the root token) keeps apply working: nothing left to do
        check = stackseal("plan", "-c", str(answers), "--check")
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        teardown(docker, answers)
