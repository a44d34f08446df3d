"""Volume key rotation on the real tools: gocryptfs, fscrypt (ext4 image) and LUKS2 on a file.

Each test rotates through ``rotate_volume_keys`` in a subprocess (tests/rotate_driver.py),
SIGKILLs it at named points (``STACKSEAL_PAUSE_AT``) and, for gocryptfs, at timed instants,
checks after every kill that a stored key still opens the volume, then re-runs to completion and
proves the result: the new key opens and reads the data back, the old key does not.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wizard.layout import VolumeSpec
from wizard.rotate.journal import RotationJournal
from wizard.rotate.keystore import FileVolumeKeys
from wizard.rotate.volume_keys import header_backup_path
from wizard.volumes.fscrypt import FscryptBackend
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.luks_file import LuksFileBackend

DRIVER = Path(__file__).with_name("rotate_driver.py")


def run_driver(config: dict, pause_at: str | None = None, kill_after: float | None = None, tmp: Path | None = None):
    """Run the rotation; with ``pause_at`` wait until it reaches that point and SIGKILL it."""
    env = dict(os.environ)
    marker = (tmp or Path(config["state"])) / f"paused-{secrets.token_hex(3)}"
    if pause_at:
        env.update(STACKSEAL_PAUSE_AT=pause_at, STACKSEAL_PAUSE_FILE=str(marker))
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), json.dumps(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if pause_at is None and kill_after is None:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        return out
    deadline = time.monotonic() + (kill_after if kill_after is not None else 300)
    while time.monotonic() < deadline and proc.poll() is None:
        if pause_at and marker.exists():
            break
        time.sleep(0.01)
    if pause_at:
        assert marker.exists(), f"rotation never reached {pause_at}: {proc.communicate()[1]}"
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the rotation and any tool it runs (gocryptfs, cryptsetup)
    proc.communicate()
    return None


def stored_keys(secrets_dir: Path, volume: str) -> list[Path]:
    keys = FileVolumeKeys(secrets_dir)
    pending = keys.pending_file(volume)
    return [keys.current_file(volume)] + ([pending] if pending else [])


def config_for(backend: str, spec: VolumeSpec, secrets_dir: Path, state: Path, project: str = "t") -> dict:
    return {
        "backend": backend,
        "project": project,
        "secrets": str(secrets_dir),
        "state": str(state),
        "specs": [{"name": spec.name, "mount_point": str(spec.mount_point), "backing": str(spec.backing)}],
    }


# ------------------------------------------------------------------------------ gocryptfs


def test_gocryptfs_rotation_survives_sigkill_anywhere_and_reads_back(gocryptfs_volume, tmp_path):
    vol = gocryptfs_volume
    (vol.plain / "canary.txt").write_text("still here")
    backend = GocryptfsBackend()
    spec = VolumeSpec("data", "svc", "/data", "test", vol.plain, vol.cipher)
    secrets_dir, state = tmp_path / "secrets", tmp_path / "state"
    secrets_dir.mkdir(mode=0o700)
    state.mkdir()
    old_key = secrets_dir / "volume-data.key"
    old_key.write_bytes(vol.passfile.read_bytes().strip())
    old_copy = tmp_path / "old.key"
    old_copy.write_bytes(old_key.read_bytes())
    config = config_for("gocryptfs", spec, secrets_dir, state)

    for point in ("volume-keys-next-key", "volume-keys-backend", "gocryptfs-passwd", "volume-keys-promote"):
        run_driver(config, pause_at=point, tmp=tmp_path)
        assert any(backend.opens(spec, k) for k in stored_keys(secrets_dir, "data")), point
    for delay in (0.05, 0.15, 0.3, 0.6):  # instants not chosen by us: inside -passwd, xray, rename...
        run_driver(config, kill_after=delay, tmp=tmp_path)
        assert any(backend.opens(spec, k) for k in stored_keys(secrets_dir, "data")), delay
    run_driver(config)

    current = FileVolumeKeys(secrets_dir).current_file("data")
    assert FileVolumeKeys(secrets_dir).pending_file("data") is None
    assert current.read_bytes() != old_copy.read_bytes()
    assert backend.opens(spec, current) and not backend.opens(spec, old_copy)
    assert RotationJournal.load(state, "volume-keys").status == "done"
    vol.unmount()  # lock, then unlock with the new key and read the data back
    vol.passfile = current
    vol.mount()
    assert (vol.plain / "canary.txt").read_text() == "still here"


def test_gocryptfs_rotation_with_a_wrong_current_key_changes_nothing(gocryptfs_volume, tmp_path):
    vol = gocryptfs_volume
    spec = VolumeSpec("data", "svc", "/data", "test", vol.plain, vol.cipher)
    conf_before = (vol.cipher / "gocryptfs.conf").read_bytes()
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "volume-data.key").write_bytes(b"not-the-key")
    proc = subprocess.run(
        [sys.executable, str(DRIVER), json.dumps(config_for("gocryptfs", spec, secrets_dir, tmp_path))],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "neither the current nor the new key" in proc.stderr
    assert (vol.cipher / "gocryptfs.conf").read_bytes() == conf_before
    assert GocryptfsBackend().opens(spec, vol.passfile)


# ------------------------------------------------------------------------------ fscrypt


def test_fscrypt_rotation_swaps_protectors_survives_sigkill_and_reads_back(fscrypt_volume, tmp_path):
    backend = FscryptBackend("t")
    directory = fscrypt_volume.mnt / "vol"
    spec = VolumeSpec("data", "svc", "/data", "test", directory, directory)
    secrets_dir, state = tmp_path / "secrets", tmp_path / "state"
    secrets_dir.mkdir(mode=0o700)
    state.mkdir()
    old_key = secrets_dir / "volume-data.key"
    old_key.write_bytes(secrets.token_bytes(32))
    old_copy = tmp_path / "old.key"
    old_copy.write_bytes(old_key.read_bytes())
    backend.create(spec, old_key)
    (directory / "canary.txt").write_text("fscrypt data")
    config = config_for("fscrypt", spec, secrets_dir, state)

    points = ("volume-keys-backend", "fscrypt-create-protector", "fscrypt-add-protector", "fscrypt-remove-protector")
    for point in (*points, "volume-keys-promote"):
        run_driver(config, pause_at=point, tmp=tmp_path)
        if point == "fscrypt-remove-protector":  # killed with two protectors: both keys still unlock it
            for key in stored_keys(secrets_dir, "data"):
                backend.lock(spec)
                backend.unlock(spec, key)
                assert (directory / "canary.txt").read_text() == "fscrypt data"
    run_driver(config)

    current = FileVolumeKeys(secrets_dir).current_file("data")
    assert current.read_bytes() != old_copy.read_bytes()
    status = subprocess.run(["fscrypt", "status", str(directory)], capture_output=True, text=True).stdout
    assert "Protected with 1 protector" in status, status
    backend.lock(spec)
    assert not (directory / "canary.txt").exists()
    bad = subprocess.run(["fscrypt", "unlock", str(directory), f"--key={old_copy}", "--quiet"], capture_output=True)
    assert bad.returncode != 0  # the old key no longer unlocks it
    backend.unlock(spec, current)
    assert (directory / "canary.txt").read_text() == "fscrypt data"


# ------------------------------------------------------------------------------ LUKS2 on a file


@pytest.fixture
def luks_image(tmp_path):
    backend = LuksFileBackend("t", 64)
    spec = VolumeSpec("data", "svc", "/data", "test", tmp_path / "mnt", tmp_path / "luks" / "data.img")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    key = secrets_dir / "volume-data.key"
    key.write_bytes(secrets.token_urlsafe(32).encode())
    backend.create(spec, key)
    return backend, spec, secrets_dir


def test_luks_rotation_on_a_file_survives_sigkill_then_header_backup(luks_image, tmp_path):
    backend, spec, secrets_dir = luks_image
    state = tmp_path / "state"
    state.mkdir()
    old_copy = tmp_path / "old.key"
    old_copy.write_bytes((secrets_dir / "volume-data.key").read_bytes())
    config = config_for("luks-file", spec, secrets_dir, state)
    for point in ("luks-add-key", "luks-kill-slot", "volume-keys-promote"):
        run_driver(config, pause_at=point, tmp=tmp_path)
        assert any(backend.opens(spec, k) for k in stored_keys(secrets_dir, "data")), point
    run_driver(config)

    current = FileVolumeKeys(secrets_dir).current_file("data")
    assert backend.key_slot(spec, current) is not None
    assert backend.key_slot(spec, old_copy) is None
    backup = header_backup_path(state, "data")
    assert backup.stat().st_mode & 0o777 == 0o600
    probe = subprocess.run(
        [
            "cryptsetup",
            "open",
            "--test-passphrase",
            "--header",
            str(backup),
            "--key-file",
            str(current),
            str(spec.backing),
        ],
        capture_output=True,
    )
    assert probe.returncode == 0  # the backed-up header opens with the new key
