"""unlock and lock when something is wrong on the host (real OpenBao, real gocryptfs, real tmpfs).

- A volume that will not open after the keys were unwrapped (its ``gocryptfs.conf`` damaged): the
  unlock rolls back what it did in this run — the volumes it opened are closed again, the runtime
  tmpfs it created is wiped and unmounted — and ends in one line, exit 1, files unchanged.
- ``lock`` with no Docker daemon reachable (``DOCKER_HOST`` at a dead socket): nothing to stop, the
  volumes are locked and the runtime directory wiped all the same, and the output says why.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from unlock_helpers import DATA, cli, make_volume_stack, mounts_under, release, tree_hash

from wizard.layout import volume_specs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="tmpfs and FUSE mounts need root")]


@pytest.fixture
def vault_volumes(openbao, tmp_path: Path):
    (tmp_path / "token").write_text(openbao.token)
    kms = {
        "backend": "vault",
        "key_name": f"uf-{secrets.token_hex(4)}",
        "vault": {"address": openbao.address, "token_file": "./token"},
    }
    from wizard import kms as kms_mod
    from wizard.plan import plan_from_dict

    kms_mod.get_backend(plan_from_dict({"version": 1, "kms": kms}, base_dir=tmp_path)).ensure_key()
    answers, plan = make_volume_stack(tmp_path, kms)
    try:
        yield answers, plan
    finally:
        cli("lock", "-c", str(answers))
        release(plan)


def test_a_volume_that_will_not_open_rolls_back_the_whole_unlock(vault_volumes) -> None:
    answers, plan = vault_volumes
    run, root = Path(plan.kms.runtime_dir), Path(plan.volumes.root)
    specs = volume_specs(plan)
    assert len(specs) >= 2
    locked = cli("lock", "-c", str(answers))
    assert locked.returncode == 0, locked.stderr
    assert mounts_under(root, run) == [] and not run.exists()

    # the real fault: the last volume's gocryptfs.conf is damaged, so every other volume opens first
    broken = specs[-1].backing / "gocryptfs.conf"
    good = broken.read_bytes()
    os.chmod(broken, 0o600)
    broken.write_text('{"Creator": "gocryptfs", "EncryptedKey": "damaged"')
    before = tree_hash(answers.parent, skip=(run,))

    result = cli("unlock", "-c", str(answers), "--no-start")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stdout + result.stderr
    assert lines[0].startswith("stackseal: error: volume " + specs[-1].name), lines[0]
    assert "rolled back" in lines[0] and f"locked {specs[0].name}" in lines[0] and f"wiped {run}" in lines[0]
    assert "Traceback" not in result.stderr
    # nothing left behind: no volume open, no runtime tmpfs, no key file, nothing on disk changed
    assert mounts_under(root, run) == []
    assert not run.exists()
    assert not (specs[0].mount_point / "graph.db").exists()
    assert tree_hash(answers.parent, skip=(run,)) == before

    # repaired (the conf restored from a copy), the same unlock opens everything with the data
    broken.write_bytes(good)
    again = cli("unlock", "-c", str(answers), "--no-start")
    assert again.returncode == 0, again.stderr
    assert (specs[0].mount_point / "graph.db").read_text() == DATA


def test_lock_without_a_docker_daemon_locks_and_wipes(vault_volumes, tmp_path: Path) -> None:
    answers, plan = vault_volumes
    run, root = Path(plan.kms.runtime_dir), Path(plan.volumes.root)
    unlocked = cli("unlock", "-c", str(answers), "--no-start")
    assert unlocked.returncode == 0, unlocked.stderr
    assert run.exists() and mounts_under(root)

    dead = tmp_path / "no-docker.sock"  # nothing listens here
    env = dict(os.environ, DOCKER_HOST=f"unix://{dead}")
    result = cli("lock", "-c", str(answers), env=env)
    assert result.returncode == 0, result.stderr
    assert f"Docker engine not reachable at unix://{dead}: no container to stop" in result.stdout
    assert f"locked {len(volume_specs(plan))} volume(s)" in result.stdout
    assert mounts_under(root, run) == [] and not run.exists()
    # and with --stop too (nothing can be stopped without a daemon)
    assert cli("unlock", "-c", str(answers), "--no-start").returncode == 0
    again = cli("lock", "-c", str(answers), "--stop", env=env)
    assert again.returncode == 0, again.stderr
    assert mounts_under(root, run) == [] and not run.exists()
