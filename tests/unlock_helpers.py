"""A small KMS-backed stack without containers: keys wrapped by a real KMS, real gocryptfs volumes.

Why without Docker: unlock and lock are about keys, the runtime tmpfs and volumes; the tests of
those need no running Neo4j. ``render`` (the CLI) wraps the stack's secrets; each volume key is
made the way apply's volume step makes it (``provide_key``), the volumes are created and opened
with the product's gocryptfs backend, and data is written into the first one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from wizard.layout import volume_specs
from wizard.plan import load_plan

DATA = "back after unlock"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wizard.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def make_volume_stack(tmp_path: Path, kms: dict[str, Any], env: dict[str, str] | None = None) -> tuple[Path, Any]:
    """Answers file + render + gocryptfs volumes created, opened and holding ``DATA``; returns (answers, plan)."""
    from wizard.volumes.gocryptfs import GocryptfsBackend
    from wizard.volumes.keys import provide_key

    answers = tmp_path / "stackseal.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "project": f"ul{secrets.token_hex(3)}",
                "output_dir": "./stack",
                "kms": {**kms, "runtime_dir": str(tmp_path / "run")},
                "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "volumes")},
            }
        )
    )
    plan = load_plan(answers)
    rendered = cli("render", "-c", str(answers), env=env)
    assert rendered.returncode == 0, rendered.stderr
    vol = GocryptfsBackend()
    for spec in volume_specs(plan):
        key = provide_key(plan, spec.name, raw=False, create=True)  # what apply's volume step does
        vol.create(spec, key)
        vol.unlock(spec, key)
    (volume_specs(plan)[0].mount_point / "graph.db").write_text(DATA)
    return answers, plan


def release(plan: Any) -> None:
    """Unmount whatever a test left mounted under its volume root and runtime directory."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(plan.volumes.root)):
            subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
    subprocess.run(["chattr", "-R", "-i", str(plan.volumes.root)], capture_output=True)  # mount-point guards
    run = Path(plan.kms.runtime_dir)
    if run.exists():
        subprocess.run(["umount", str(run)], capture_output=True)


def mounts_under(*roots: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if any(target.startswith(str(r)) for r in roots):
            found.append(target)
    return sorted(found)


def tree_hash(root: Path, skip: tuple[Path, ...] = ()) -> str:
    """One digest of every path, mode and content under ``root`` (a changed byte changes it)."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames[:] = sorted(d for d in dirnames if Path(dirpath, d) not in skip)
        for name in sorted(filenames + dirnames):
            path = Path(dirpath, name)
            st = path.lstat()
            digest.update(f"{path.relative_to(root)}\0{st.st_mode:o}\0".encode())
            if path.is_file() and not path.is_symlink():
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
