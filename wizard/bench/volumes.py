"""Volume throughput: a plain directory against each encrypted backend available on this host.

gocryptfs: a scratch cipher directory mounted with a fresh key (the same backend code apply
uses). fscrypt: a scratch ext4 image with the ``encrypt`` feature, loop-mounted, an encrypted
directory in it — only as root with ``fscrypt``/``mkfs.ext4``. LUKS needs device-mapper to be
opened; where it is missing that is reported, not guessed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from wizard.bench.common import MIB, Result, rate, read_file, write_file


def _measure(directory: Path, label: str, size: int, block: bytes, baseline: str | None) -> list[Result]:
    target = directory / "bench.bin"
    w = write_file(target, size, block)
    r = read_file(target)
    target.unlink()
    return [
        Result("volumes", f"{label} write", rate(size, w), "MB/s", "fsync'd", "plain write" if baseline else None),
        Result(
            "volumes", f"{label} read", rate(size, r), "MB/s", "page cache dropped", "plain read" if baseline else None
        ),
    ]


def _gocryptfs(base: Path, size: int, block: bytes) -> list[Result]:
    from wizard.layout import VolumeSpec
    from wizard.volumes.gocryptfs import GocryptfsBackend

    backend = GocryptfsBackend()
    if backend.missing_tools():
        return [
            Result(
                "volumes", "gocryptfs write", None, "MB/s", f"unavailable: {', '.join(backend.missing_tools())} missing"
            )
        ]
    key = base / "gocryptfs.key"
    key.write_bytes(secrets.token_hex(32).encode())
    key.chmod(0o400)
    spec = VolumeSpec("bench", "bench", "/data", "bench", base / "mnt", base / "cipher")
    backend.create(spec, key)
    backend.unlock(spec, key)
    try:
        return _measure(spec.mount_point, "gocryptfs", size, block, "plain")
    finally:
        backend.lock(spec)
        subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)


def _fscrypt(base: Path, size: int, block: bytes) -> list[Result]:
    missing = [t for t in ("fscrypt", "mkfs.ext4", "mount", "umount") if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        why = f"{', '.join(missing)} missing" if missing else "needs root"
        return [Result("volumes", "fscrypt write", None, "MB/s", f"unavailable: {why}")]
    image, mnt = base / "fscrypt.img", base / "fscrypt-mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(size + 96 * MIB)
    run = lambda *a: subprocess.run(list(a), capture_output=True, text=True, timeout=120)  # noqa: E731
    steps = [
        ("mkfs.ext4", "-q", "-O", "encrypt", str(image)),
        ("mount", "-o", "loop", str(image), str(mnt)),
    ]
    for argv in steps:
        out = run(*argv)
        if out.returncode != 0:
            return [
                Result("volumes", "fscrypt write", None, "MB/s", f"unavailable: {argv[0]}: {out.stderr.strip()[-120:]}")
            ]
    try:
        if not Path("/etc/fscrypt.conf").exists():
            run("fscrypt", "setup", "--force", "--quiet")
        run("fscrypt", "setup", str(mnt), "--quiet", "--force")
        directory = mnt / "enc"
        directory.mkdir()
        key = base / "fscrypt.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o400)
        out = run(
            "fscrypt",
            "encrypt",
            str(directory),
            "--source=raw_key",
            f"--key={key}",
            f"--name=bench{secrets.token_hex(3)}",
            "--quiet",
        )
        if out.returncode != 0:
            return [Result("volumes", "fscrypt write", None, "MB/s", f"unavailable: {out.stderr.strip()[-120:]}")]
        try:
            return _measure(directory, "fscrypt", size, block, "plain")
        finally:
            run("fscrypt", "lock", str(directory), "--quiet")
    finally:
        run("umount", str(mnt))


def measure(size_mb: int, scratch: Path | None = None) -> list[Result]:
    size = size_mb * MIB
    block = os.urandom(MIB)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-", dir=str(scratch) if scratch else "/var/tmp") as tmp:
        base = Path(tmp)
        plain = base / "plain"
        plain.mkdir()
        results += _measure(plain, "plain", size, block, None)
        gdir = base / "g"
        gdir.mkdir()
        results += _gocryptfs(gdir, size, block)
        fdir = base / "f"
        fdir.mkdir()
        results += _fscrypt(fdir, size, block)
    results.append(Result("volumes", "luks write", None, "MB/s", _luks_note()))
    return results


def _luks_note() -> str:
    """Why LUKS has no figure: opening a LUKS container needs device-mapper in the kernel."""
    try:
        kernel = Path("/proc/misc").read_text() + Path("/proc/devices").read_text()
    except OSError:
        kernel = ""
    if "device-mapper" not in kernel:
        return "unavailable: no device-mapper in this kernel (LUKS cannot be opened here)"
    return "not measured by stackseal bench yet (it would need a scratch LUKS container opened as root)"
