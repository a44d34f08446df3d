"""Smoke tests of the encrypted-volume fixtures: the bytes on the host are really ciphertext.

Each test carries a positive control (the same marker written where it is NOT encrypted must be
found by the same scan), so a scan that could never find anything cannot pass by accident.
"""

from __future__ import annotations

import secrets

from testbed.volumes import FscryptVolume, GocryptfsVolume, gocryptfs_create


def test_gocryptfs_volume_stores_only_ciphertext(gocryptfs_volume: GocryptfsVolume) -> None:
    marker = f"STACKSEAL-GOCRYPTFS-{secrets.token_hex(8)}".encode()
    (gocryptfs_volume.plain / "canary-name.txt").write_bytes(marker * 100)

    assert (gocryptfs_volume.plain / "canary-name.txt").read_bytes() == marker * 100
    raw = gocryptfs_volume.cipher_bytes()
    assert (gocryptfs_volume.cipher / "gocryptfs.conf").exists()
    assert len(raw) > len(marker) * 100, "the file's ciphertext must be in the backing directory"
    assert marker not in raw
    assert b"canary-name" not in raw, "file names must be encrypted too"

    # Positive control: bytes written to the backing directory directly (bypassing gocryptfs)
    # are found by the very same scan.
    bypass = gocryptfs_volume.cipher / "written-around-gocryptfs"
    bypass.write_bytes(marker)
    try:
        assert marker in gocryptfs_volume.cipher_bytes()
    finally:
        bypass.unlink()


def test_gocryptfs_volume_reopens_with_its_passfile_only(gocryptfs_volume: GocryptfsVolume, tmp_path) -> None:
    (gocryptfs_volume.plain / "kept").write_text("still here")
    gocryptfs_volume.unmount()
    assert not gocryptfs_volume.mounted
    assert not (gocryptfs_volume.plain / "kept").exists()

    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not the password\n")
    other = gocryptfs_create(gocryptfs_volume.cipher, tmp_path / "other", passfile=wrong, mount=False)
    try:
        other.mount()
    except Exception as exc:  # gocryptfs refuses the wrong password
        assert "gocryptfs mount" in str(exc)
    else:
        other.unmount()
        raise AssertionError("gocryptfs mounted with a wrong password")

    gocryptfs_volume.mount()
    assert (gocryptfs_volume.plain / "kept").read_text() == "still here"


def test_fscrypt_marker_is_absent_from_raw_image_after_lock_and_umount(fscrypt_volume: FscryptVolume) -> None:
    secret_marker = f"STACKSEAL-FSCRYPT-{secrets.token_hex(8)}".encode()
    plain_marker = f"STACKSEAL-PLAIN-{secrets.token_hex(8)}".encode()
    (fscrypt_volume.encrypted / "canary.txt").write_bytes(secret_marker * 64)
    (fscrypt_volume.unencrypted / "control.txt").write_bytes(plain_marker * 64)
    assert "Unlocked: Yes" in fscrypt_volume.status()

    fscrypt_volume.lock()
    assert "Unlocked: No" in fscrypt_volume.status()
    assert not (fscrypt_volume.encrypted / "canary.txt").exists(), "locked names must be ciphertext"
    fscrypt_volume.umount()

    raw = fscrypt_volume.raw_image()
    assert plain_marker in raw, "positive control: unencrypted data is visible in the raw image"
    assert secret_marker not in raw
    assert b"canary.txt" not in raw

    # And the raw key brings it back.
    fscrypt_volume.mount()
    fscrypt_volume.unlock()
    assert (fscrypt_volume.encrypted / "canary.txt").read_bytes() == secret_marker * 64
