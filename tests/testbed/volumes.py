"""Encrypted host directories for the test bed: gocryptfs and fscrypt, as pytest fixtures.

Why: the product claims "the bytes on the host disk are ciphertext"; tests can only check that
against the real tools. These helpers make the volumes the way an operator would (docs/testing.md):

- gocryptfs: ``gocryptfs -init -passfile F CIPHER``, then mounted with ``-allow_other`` so the
  Docker daemon (and container users) can read the plaintext view — without it a FUSE mount is
  invisible to every user but its owner, root included. Unmounted with ``fusermount -u``.
- fscrypt: an ext4 image made with ``-O encrypt``, loop-mounted, ``fscrypt setup`` for it, and
  an empty directory encrypted with a raw 32-byte key (``--source=raw_key``); ``lock`` +
  ``umount`` leave only ciphertext in the image.

Fixtures: ``gocryptfs_volume`` and ``fscrypt_volume`` (each a fresh volume under the test's
tmp dir, unmounted at teardown). The functions are reusable by tests that need volumes at given
paths (the e2e stack mounts gocryptfs at each volume's layout paths).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from testbed.require import missing

GOCRYPTFS_INSTALL = "apt-get install -y gocryptfs fuse3"
FSCRYPT_INSTALL = "apt-get install -y fscrypt e2fsprogs"


class VolumeError(RuntimeError):
    """A volume tool failed; the message carries the tool's own output (never key material)."""


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, timeout=120, **kwargs)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).decode(errors="replace").strip()
        raise VolumeError(f"{' '.join(args[:2])} failed ({proc.returncode}): {out[-1500:]}")
    return proc


def is_mounted(path: Path) -> bool:
    """True if ``path`` is a mount point listed in /proc/self/mounts."""
    target = str(Path(path).resolve())
    with open("/proc/self/mounts") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == target:
                return True
    return False


def write_secret_file(path: Path, data: bytes) -> Path:
    """Write key material with mode 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


# -- gocryptfs --------------------------------------------------------------------------------


@dataclass
class GocryptfsVolume:
    """A gocryptfs volume: ``cipher`` (backing, on disk) and ``plain`` (the mounted view)."""

    cipher: Path
    plain: Path
    passfile: Path
    log: Path

    @property
    def mounted(self) -> bool:
        return is_mounted(self.plain)

    def mount(self, allow_other: bool = True) -> None:
        """Mount ``cipher`` at ``plain``. ``-allow_other`` lets the Docker daemon and container
        users see the files; ``-nosyslog`` keeps its messages in our log file."""
        if self.mounted:
            return
        self.plain.mkdir(parents=True, exist_ok=True)
        args = ["gocryptfs", "-q", "-nosyslog", "-passfile", str(self.passfile)]
        if allow_other:
            args.append("-allow_other")
        args += [str(self.cipher), str(self.plain)]
        # The daemon keeps its stdout/stderr: send them to a file, never to a pipe we wait on.
        with open(self.log, "ab") as out:
            proc = subprocess.run(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=60)
        if proc.returncode != 0 or not self.mounted:
            raise VolumeError(f"gocryptfs mount of {self.cipher} failed ({proc.returncode}): {self.log_tail()}")

    def unmount(self) -> None:
        """Unmount (retrying briefly while a container still releases its files)."""
        for attempt in range(20):
            if not self.mounted:
                return
            proc = subprocess.run(["fusermount", "-u", str(self.plain)], capture_output=True)
            if proc.returncode == 0:
                return
            time.sleep(0.25 * (attempt + 1))
        subprocess.run(["fusermount", "-uz", str(self.plain)], capture_output=True)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cipher_bytes(self) -> bytes:
        """Every byte stored in the backing directory (to scan for plaintext markers)."""
        chunks = []
        for path in sorted(self.cipher.rglob("*")):
            if path.is_file():
                chunks.append(path.name.encode())
                chunks.append(path.read_bytes())
        return b"\n".join(chunks)


def gocryptfs_create(
    cipher: Path, plain: Path, passfile: Path | None = None, log: Path | None = None, mount: bool = True
) -> GocryptfsVolume:
    """Initialise a gocryptfs volume in the empty directory ``cipher`` and mount it at ``plain``.

    The password (32 random bytes, base64) goes to ``passfile`` (0600) unless it exists.
    """
    if shutil.which("gocryptfs") is None or shutil.which("fusermount") is None:
        raise VolumeError(f"gocryptfs is not installed; install it with: {GOCRYPTFS_INSTALL}")
    if not Path("/dev/fuse").exists():
        raise VolumeError("/dev/fuse is missing: this kernel or container has no FUSE")
    cipher.mkdir(parents=True, exist_ok=True)
    passfile = passfile or cipher.parent / f"{cipher.name}.pass"
    if not passfile.exists():
        write_secret_file(passfile, secrets.token_urlsafe(32).encode() + b"\n")
    volume = GocryptfsVolume(cipher, plain, passfile, log or cipher.parent / f"{cipher.name}.gocryptfs.log")
    if not (cipher / "gocryptfs.conf").exists():
        # -init prints the master key; we discard it (the test's passfile is the only key copy).
        _run(["gocryptfs", "-init", "-q", "-passfile", str(passfile), str(cipher)])
    if mount:
        volume.mount()
    return volume


# -- fscrypt ----------------------------------------------------------------------------------


def find_in_file(path: Path, needles: list[bytes], chunk: int = 16 << 20) -> set[bytes]:
    """Which of ``needles`` occur in the file, read in overlapping chunks (images can be GBs)."""
    found: set[bytes] = set()
    overlap = max((len(n) for n in needles), default=1) - 1
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            window = tail + block
            found.update(n for n in needles if n in window)
            tail = window[-overlap:] if overlap else b""
    return found


@dataclass
class FscryptFilesystem:
    """A sparse ext4 image made with ``-O encrypt``, loop-mounted at ``mnt``, set up for fscrypt."""

    image: Path
    mnt: Path

    @property
    def mounted(self) -> bool:
        return is_mounted(self.mnt)

    def mount(self) -> None:
        if not self.mounted:
            self.mnt.mkdir(parents=True, exist_ok=True)
            _run(["mount", "-o", "loop", str(self.image), str(self.mnt)])

    def umount(self) -> None:
        if self.mounted:
            os.sync()
            _run(["umount", str(self.mnt)])

    def raw_contains(self, needles: list[bytes]) -> set[bytes]:
        """Which needles are in the raw image bytes (what a stolen disk would show)."""
        return find_in_file(self.image, needles)


def fscrypt_filesystem(image: Path, mnt: Path, size_mb: int = 64) -> FscryptFilesystem:
    """Make the image (sparse), mount it and run ``fscrypt setup`` on it."""
    for tool in ("fscrypt", "mkfs.ext4", "mount", "losetup"):
        if shutil.which(tool) is None:
            raise VolumeError(f"{tool} is not installed; install it with: {FSCRYPT_INSTALL}")
    if os.geteuid() != 0:
        raise VolumeError("loop-mounting an ext4 image needs root")
    image.parent.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    _run(["mkfs.ext4", "-q", "-F", "-O", "encrypt", str(image)])
    fs = FscryptFilesystem(image, mnt)
    ensure_fscrypt_global_config()
    fs.mount()
    try:
        _run(["fscrypt", "setup", str(mnt), "--quiet", "--all-users"])
    except Exception:
        fs.umount()
        raise
    return fs


def fscrypt_encrypt(directory: Path, keyfile: Path, name: str) -> None:
    """Encrypt the EMPTY ``directory`` with a raw 32-byte key protector called ``name``."""
    directory.mkdir(parents=True, exist_ok=True)
    _run(["fscrypt", "encrypt", str(directory), "--source=raw_key", f"--key={keyfile}", f"--name={name}", "--quiet"])


def fscrypt_lock(directory: Path) -> None:
    """Remove the directory's key from the kernel: names and contents become ciphertext."""
    os.sync()
    _run(["fscrypt", "lock", str(directory), "--quiet"])


def fscrypt_unlock(directory: Path, keyfile: Path) -> None:
    _run(["fscrypt", "unlock", str(directory), f"--key={keyfile}", "--quiet"])


@dataclass
class FscryptVolume:
    """An fscrypt filesystem with an encrypted directory ``encrypted`` (raw 32-byte key in
    ``keyfile``) and a plain one ``unencrypted`` (the positive control: what is NOT encrypted
    must show up in the raw image)."""

    fs: FscryptFilesystem
    keyfile: Path
    name: str

    @property
    def image(self) -> Path:
        return self.fs.image

    @property
    def mnt(self) -> Path:
        return self.fs.mnt

    @property
    def encrypted(self) -> Path:
        return self.mnt / "encrypted"

    @property
    def unencrypted(self) -> Path:
        return self.mnt / "unencrypted"

    @property
    def mounted(self) -> bool:
        return self.fs.mounted

    def mount(self) -> None:
        self.fs.mount()

    def umount(self) -> None:
        self.fs.umount()

    def unlock(self) -> None:
        fscrypt_unlock(self.encrypted, self.keyfile)

    def lock(self) -> None:
        fscrypt_lock(self.encrypted)

    def status(self) -> str:
        return _run(["fscrypt", "status", str(self.encrypted)]).stdout.decode()

    def raw_image(self) -> bytes:
        return self.image.read_bytes()


def ensure_fscrypt_global_config() -> None:
    """``fscrypt setup`` once per host: it writes /etc/fscrypt.conf (needed by every command)."""
    if not Path("/etc/fscrypt.conf").exists():
        _run(["fscrypt", "setup", "--force", "--quiet"])


def fscrypt_create(workdir: Path, size_mb: int = 64, name: str | None = None) -> FscryptVolume:
    """Make the filesystem and encrypt ``encrypted/`` with a fresh raw key."""
    fs = fscrypt_filesystem(workdir / "fscrypt.img", workdir / "mnt", size_mb)
    volume = FscryptVolume(
        fs,
        write_secret_file(workdir / "fscrypt.key", secrets.token_bytes(32)),
        name or f"stackseal-test-{secrets.token_hex(4)}",
    )
    try:
        fscrypt_encrypt(volume.encrypted, volume.keyfile, volume.name)
        volume.unencrypted.mkdir()
    except Exception:
        fs.umount()
        raise
    return volume


# -- pytest fixtures --------------------------------------------------------------------------


@pytest.fixture
def gocryptfs_volume(tmp_path: Path) -> Iterator[GocryptfsVolume]:
    """A fresh gocryptfs volume mounted with -allow_other; unmounted at teardown."""
    if shutil.which("gocryptfs") is None:
        missing("gocryptfs", GOCRYPTFS_INSTALL)
    try:
        volume = gocryptfs_create(tmp_path / "cipher", tmp_path / "plain")
    except VolumeError as exc:
        missing("a gocryptfs mount", f"{GOCRYPTFS_INSTALL} ({exc})")
    try:
        yield volume
    finally:
        volume.unmount()


@pytest.fixture
def fscrypt_volume(tmp_path: Path) -> Iterator[FscryptVolume]:
    """A loop-mounted ext4 image with an fscrypt-encrypted directory; unmounted at teardown."""
    if shutil.which("fscrypt") is None:
        missing("fscrypt", FSCRYPT_INSTALL)
    try:
        volume = fscrypt_create(tmp_path / "fscrypt")
    except VolumeError as exc:
        missing("an fscrypt volume", f"{FSCRYPT_INSTALL} ({exc})")
    try:
        yield volume
    finally:
        if volume.mounted:
            subprocess.run(["fscrypt", "lock", str(volume.encrypted), "--quiet"], capture_output=True)
            subprocess.run(["umount", str(volume.mnt)], capture_output=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failed test that used a gocryptfs volume, attach gocryptfs's own log tail."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    volume = getattr(item, "funcargs", {}).get("gocryptfs_volume")
    if isinstance(volume, GocryptfsVolume):
        tail = volume.log_tail()
        if tail:
            report.sections.append(("gocryptfs log (tail)", tail))
