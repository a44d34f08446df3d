"""Volume backends and the ``volumes`` step on the real tools (gocryptfs, cryptsetup)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from testbed.require import missing, require_tool

from wizard.errors import OperationFailed
from wizard.layout import VolumeSpec, volume_specs
from wizard.plan import plan_from_dict
from wizard.steps import runner
from wizard.steps.context import Context
from wizard.steps.volumes_step import VolumesStep
from wizard.volumes import get_backend
from wizard.volumes.base import mount_entry
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.keys import ensure_key, existing_key
from wizard.volumes.luks_file import LuksFileBackend, device_mapper_available, is_luks
from wizard.volumes.plain import PlainBackend

MARKER = b"STACKSEAL-CANARY-7f3a9c plaintext that must never reach the disk"


def _unmount_all(root: Path) -> None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4]
        if target.startswith(str(root)):
            subprocess.run(["fusermount", "-u", "-z", target], capture_output=True)
    subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)  # mount-point guards


@pytest.fixture
def gocryptfs_ready(tmp_path: Path):
    require_tool("gocryptfs", "apt-get install gocryptfs fuse3")
    if not Path("/dev/fuse").exists():
        missing("/dev/fuse (FUSE)", "modprobe fuse, or give the container --device /dev/fuse")
    yield
    _unmount_all(tmp_path)


def spec(tmp_path: Path, name: str = "neo4j-data", backing: str = "cipher") -> VolumeSpec:
    return VolumeSpec(name, "neo4j", "/data", "test", tmp_path / "mnt" / name, tmp_path / backing / name)


def raw_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_gocryptfs_lifecycle_and_ciphertext_only(tmp_path: Path, gocryptfs_ready) -> None:
    backend, s = GocryptfsBackend(), spec(tmp_path)
    key = ensure_key(tmp_path / "secrets", s.name)
    assert oct(key.stat().st_mode & 0o777) == "0o400"
    assert oct((tmp_path / "secrets").stat().st_mode & 0o777) == "0o700"
    assert backend.status(s).state == "absent"
    backend.create(s, key)
    assert backend.status(s).state == "locked"
    backend.unlock(s, key)
    assert backend.status(s).state == "unlocked"
    fstype, source = mount_entry(s.mount_point)
    assert fstype == "fuse.gocryptfs" and "allow_other" in Path("/proc/self/mountinfo").read_text()
    (s.mount_point / "store.db").write_bytes(MARKER * 100)
    assert MARKER not in raw_bytes(s.backing)
    backend.unlock(s, key)  # idempotent
    backend.lock(s)
    assert backend.status(s).state == "locked" and not any(s.mount_point.iterdir())
    with pytest.raises(PermissionError):  # locked: nothing can write plaintext into the bare mount point
        (s.mount_point / "leak.txt").write_bytes(MARKER)
    backend.unlock(s, key)
    assert (s.mount_point / "store.db").read_bytes() == MARKER * 100


def test_gocryptfs_rotate_and_wrong_key(tmp_path: Path, gocryptfs_ready) -> None:
    backend, s = GocryptfsBackend(), spec(tmp_path)
    old = ensure_key(tmp_path / "secrets", s.name)
    new = ensure_key(tmp_path / "secrets2", s.name)
    backend.create(s, old)
    backend.rotate(s, old, new)
    with pytest.raises(OperationFailed, match="does not open"):
        backend.unlock(s, old)
    backend.unlock(s, new)
    assert backend.status(s).state == "unlocked"


def test_gocryptfs_refuses_to_hide_existing_files(tmp_path: Path, gocryptfs_ready) -> None:
    backend, s = GocryptfsBackend(), spec(tmp_path)
    s.mount_point.mkdir(parents=True)
    (s.mount_point / "precious").write_text("user data")
    key = ensure_key(tmp_path / "secrets", s.name)
    with pytest.raises(OperationFailed, match="already holds 1 unencrypted entries"):
        backend.create(s, key)
    assert (s.mount_point / "precious").read_text() == "user data"
    assert not s.backing.exists()


def test_missing_key_of_existing_volume_is_not_regenerated(tmp_path: Path) -> None:
    with pytest.raises(OperationFailed, match="restore the key file"):
        existing_key(tmp_path / "secrets", "neo4j-data")
    assert not (tmp_path / "secrets").exists()


def test_plain_backend(tmp_path: Path) -> None:
    backend, s = PlainBackend("host-fde"), spec(tmp_path)
    assert backend.status(s).state == "absent"
    backend.create(s, tmp_path / "unused")
    assert backend.status(s).state == "unlocked" and "encrypted disk" in backend.status(s).detail
    with pytest.raises(OperationFailed, match="luksChangeKey"):
        backend.rotate(s, tmp_path / "a", tmp_path / "b")


def test_luks_file_format_rotate_and_clear_open_error(tmp_path: Path) -> None:
    require_tool("cryptsetup", "apt-get install cryptsetup-bin")
    backend = LuksFileBackend("t", size_mb=64)
    s = VolumeSpec(
        "neo4j-data", "neo4j", "/data", "test", tmp_path / "mnt" / "neo4j-data", tmp_path / "luks" / "neo4j-data.img"
    )
    old = ensure_key(tmp_path / "secrets", s.name)
    new = ensure_key(tmp_path / "secrets2", s.name)
    assert backend.status(s).state == "absent"
    backend.create(s, old)
    assert is_luks(s.backing) and s.backing.stat().st_size == 64 * 1024 * 1024
    assert backend.status(s).state == "locked"
    dump = subprocess.run(["cryptsetup", "luksDump", str(s.backing)], capture_output=True, text=True, check=True).stdout
    assert "Version:       \t2" in dump or "Version:" in dump and "2" in dump.split("Version:")[1].split("\n")[0]
    backend.rotate(s, old, new)
    test_new = subprocess.run(
        ["cryptsetup", "open", "--test-passphrase", "--key-file", str(new), str(s.backing)], capture_output=True
    )
    test_old = subprocess.run(
        ["cryptsetup", "open", "--test-passphrase", "--key-file", str(old), str(s.backing)], capture_output=True
    )
    assert test_new.returncode == 0 and test_old.returncode != 0
    backend.header_backup(s, tmp_path / "header.bak")
    assert is_luks(tmp_path / "header.bak")
    if not device_mapper_available():
        with pytest.raises(OperationFailed, match="no device-mapper"):
            backend.unlock(s, new)
        assert not s.mount_point.exists() or not any(s.mount_point.iterdir())


def test_volumes_step_creates_unlocks_and_converges(tmp_path: Path, gocryptfs_ready) -> None:
    plan = plan_from_dict(
        {
            "version": 1,
            "project": "vt",
            "output_dir": "out",
            "volumes": {"backend": "gocryptfs", "root": str(tmp_path / "root")},
        },
        base_dir=tmp_path,
    )
    ctx = Context.for_plan(plan)
    step = VolumesStep()
    first = step.check(ctx)
    assert first.action == "+" and first.summary.startswith("create 5 of 5 gocryptfs volumes")
    events: list = []
    runner.run(ctx, events.append, steps=[step])
    assert step.check(ctx).action == "="
    specs = volume_specs(plan)
    for s in specs:
        assert get_backend(plan).status(s).state == "unlocked"
        assert (ctx.secrets_dir / f"volume-{s.name}.key").exists()
    progress = [e for e in events if type(e).__name__ == "StepProgress"]
    assert [p.items for p in progress] == [1, 2, 3, 4, 5] and progress[-1].items_total == 5
    # after a reboot the volumes are locked: apply unlocks them with the kept keys
    get_backend(plan).lock(specs[0])
    again = step.check(ctx)
    assert again.action == "~" and "unlock 1 of 5" in again.summary
    keys_before = {p.name: p.read_bytes() for p in ctx.secrets_dir.iterdir()}
    runner.run(ctx, steps=[step])
    assert step.check(ctx).action == "="
    assert {p.name: p.read_bytes() for p in ctx.secrets_dir.iterdir()} == keys_before


@pytest.fixture
def fscrypt_fs(tmp_path: Path):
    """An ext4 filesystem with the encrypt feature, loop-mounted and set up for fscrypt."""
    require_tool("fscrypt", "apt-get install fscrypt e2fsprogs")
    if os.geteuid() != 0:
        missing("root (loop-mounting an ext4 image)", "run the tests as root (make test)")
    image, root = tmp_path / "fs.img", tmp_path / "root"
    with open(image, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "encrypt", str(image)], check=True)
    root.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(root)], check=True)
    try:
        if not Path("/etc/fscrypt.conf").exists():
            subprocess.run(["fscrypt", "setup", "--force", "--quiet"], check=True)
        subprocess.run(["fscrypt", "setup", str(root), "--quiet"], check=True)
        yield image, root
    finally:
        subprocess.run(["umount", str(root)], capture_output=True)


def test_fscrypt_volumes_step_lock_unlock_and_ciphertext(tmp_path: Path, fscrypt_fs) -> None:
    image, root = fscrypt_fs
    plan = plan_from_dict(
        {"version": 1, "project": "fs", "output_dir": "out", "volumes": {"backend": "fscrypt", "root": str(root)}},
        base_dir=tmp_path,
    )
    ctx = Context.for_plan(plan)
    step = VolumesStep()
    assert step.check(ctx).action == "+"
    runner.run(ctx, steps=[step])
    assert step.check(ctx).action == "="
    backend = get_backend(plan)
    data = next(s for s in volume_specs(plan) if s.name == "neo4j-data")
    assert len((ctx.secrets_dir / "volume-neo4j-data.key").read_bytes()) == 32
    (data.mount_point / "store.db").write_bytes(MARKER * 100)
    for s in volume_specs(plan):
        backend.lock(s)
    assert backend.status(data).state == "locked"
    subprocess.run(["umount", str(root)], check=True)  # flush everything to the image
    assert MARKER not in image.read_bytes()
    subprocess.run(["mount", "-o", "loop", str(image), str(root)], check=True)
    again = step.check(ctx)
    assert again.action == "~" and "unlock 5 of 5" in again.summary
    runner.run(ctx, steps=[step])
    assert (data.mount_point / "store.db").read_bytes() == MARKER * 100
    backend.lock(data)
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    with pytest.raises(OperationFailed, match="volume neo4j-data: the key .* does not unlock"):
        backend.unlock(data, wrong)
    assert backend.status(data).state == "locked"
