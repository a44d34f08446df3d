"""Copy a volume's tree into its encrypted volume, keeping everything, with a SHA-256 manifest.

Why not ``shutil.copytree`` or ``cp -a``: the copy must be resumable after a SIGKILL (every
finished file is journaled with its size, mtime and SHA-256, so a re-run copies only what is
missing), and provable (the hash is computed while the source is read, the destination is read
back and compared, and the result is a ``sha256sum -c``-compatible manifest an operator can
re-run). What is kept: owner, group, mode (with setuid/sticky bits), nanosecond timestamps
(directories last, deepest first), symlinks as symlinks, hard links as links, FIFOs and device
nodes, and extended attributes (an attribute the target refuses is reported, never silent).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.stores.journal import OpJournal
from wizard.stores.progress import SharedMeter

CHUNK = 1 << 20


@dataclass
class CopyResult:
    files: int = 0
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0  # finished by an earlier run
    links: int = 0
    warnings: list[str] = field(default_factory=list)


def tree_summary(path: Path) -> tuple[int, int]:
    """(regular files, bytes) under ``path``, symlinks not followed."""
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


def _copy_xattrs(src: str | int, dst: str | int, warnings: list[str], rel: str) -> None:
    """Paths (not followed) or open descriptors."""
    nofollow = not isinstance(src, int)
    try:
        names = os.listxattr(src, follow_symlinks=False) if nofollow else os.listxattr(src)
    except OSError:
        return
    for name in names:
        try:
            if nofollow:
                value = os.getxattr(src, name, follow_symlinks=False)
                os.setxattr(dst, name, value, follow_symlinks=False)
            else:
                os.setxattr(dst, name, os.getxattr(src, name))
        except OSError as err:
            warnings.append(f"{rel}: extended attribute {name} not kept ({err.strerror})")


def _copy_meta(src: str, dst: str, st: os.stat_result, warnings: list[str], rel: str) -> None:
    link = stat.S_ISLNK(st.st_mode)
    try:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    except PermissionError:
        warnings.append(f"{rel}: owner {st.st_uid}:{st.st_gid} not kept (not root)")
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))  # after chown: chown clears setuid bits
    _copy_xattrs(src, dst, warnings, rel)
    try:
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    except (NotImplementedError, OSError):
        if not link:
            raise


def _open_dest(dst: str) -> int:
    """Create ``dst`` as a new file, never through a symlink, never into another name's inode.

    Why ``O_EXCL`` first and clear only when something is there: an ``lstat`` before every file
    is one more round trip through FUSE (gocryptfs) per file; whatever a killed run left at that
    name (a partial file, a symlink, a hard link to another copied file) is removed and the file
    created anew, as before.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        return os.open(dst, flags, 0o600)
    except FileExistsError:
        _clear(dst)
        return os.open(dst, flags, 0o600)


def _copy_file(src: str, dst: str, st: os.stat_result, warnings: list[str], rel: str) -> str:
    """Copy content and metadata, returning the SHA-256 of what was read (hashed while copying).

    Metadata is set on the open descriptors (no path lookups): owner, then mode (chown clears
    setuid bits), extended attributes, and the times last, once nothing else will be written.
    """
    digest = hashlib.sha256()
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fd_out = _open_dest(dst)
        try:
            while True:
                chunk = os.read(fd_in, CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view) :]
            try:
                os.chown(fd_out, st.st_uid, st.st_gid)
            except PermissionError:
                warnings.append(f"{rel}: owner {st.st_uid}:{st.st_gid} not kept (not root)")
            os.chmod(fd_out, stat.S_IMODE(st.st_mode))
            _copy_xattrs(fd_in, fd_out, warnings, rel)
            os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    return digest.hexdigest()


def _sha256(path: str) -> str:
    """SHA-256 of a file as its filesystem returns it, not as the page cache still holds it.

    Why drop the cached pages first: a file just written may still be in the kernel's page cache
    (filesystem and mount options decide), and reading it from there would prove only what was
    handed to the kernel. Dropped, the read goes through the volume's read path (gocryptfs
    decrypts it: measured, its CPU time is the same with and without the cache dropped here).
    """
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except (AttributeError, OSError):
            pass  # not on this platform: the read may then be served from the cache
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _clear(path: str) -> None:
    """Remove a leftover destination entry (a half-made link/node from a killed run)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise OperationFailed(f"{path}: a directory is where a file belongs; move it aside and run again")
    os.unlink(path)


class ReadBack:
    """Reads each copied file back in background threads while the copy goes on with the next ones.

    Why: the read-back through the encrypted volume (decryption in gocryptfs, FUSE round trips)
    and the copy's writes wait on different things, so running them side by side hides most of
    the verification's time (two threads: 0.91 and 1.06 of ``cp -a`` against 0.83 and 0.81 with
    one, bench/bench_migrate_volume.py on a loaded 2-CPU host). The hash of what was read back is
    journaled as ``readback`` next to the source's ``sha256``; :func:`verify_tree` then needs no
    second read of a file whose size and content were proven this way (a resumed file without it
    is read back there).
    """

    def __init__(self, journal: OpJournal, threads: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.journal = journal
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="readback")
        self._futures: list[Any] = []

    def submit(self, rel: str, dst: str, sha: str) -> None:
        self._futures.append(self._pool.submit(self._one, rel, dst, sha))

    def _one(self, rel: str, dst: str, sha: str) -> None:
        try:
            got = _sha256(dst)
        except OSError:
            return  # verify_tree reads it again and reports what is wrong
        self.journal.update(rel, readback=got)

    def close(self) -> None:
        """Wait for every read-back (before the copy phase is recorded as finished)."""
        self._pool.shutdown(wait=True)


def copy_tree(
    source: Path, dest: Path, journal: OpJournal, meter: SharedMeter, *, read_back: bool = True
) -> CopyResult:
    """Copy ``source`` into ``dest`` (which exists); resumes from ``journal``. Raises on I/O errors.

    With ``read_back`` each copied file is also read back while the copy goes on (:class:`ReadBack`).
    """
    readback = ReadBack(journal) if read_back else None
    try:
        return _copy_tree(source, dest, journal, meter, readback)
    finally:
        if readback is not None:
            readback.close()


def _copy_tree(
    source: Path, dest: Path, journal: OpJournal, meter: SharedMeter, readback: ReadBack | None
) -> CopyResult:
    result = CopyResult()
    inodes: dict[tuple[int, int], tuple[str, str]] = {}
    dirs: list[tuple[str, str, os.stat_result, str]] = []
    src_root, dst_root = str(source), str(dest)
    for root, dirnames, names in os.walk(src_root):
        rel_root = os.path.relpath(root, src_root)
        dst_dir = dst_root if rel_root == "." else os.path.join(dst_root, rel_root)
        dirs.append((root, dst_dir, os.lstat(root), rel_root))
        for name in sorted(dirnames + names):
            src = os.path.join(root, name)
            dst = os.path.join(dst_dir, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            st = os.lstat(src)
            mode = st.st_mode
            try:
                if stat.S_ISDIR(mode):
                    if os.path.islink(dst) or (os.path.exists(dst) and not os.path.isdir(dst)):
                        _clear(dst)
                    os.makedirs(dst, exist_ok=True)
                    continue  # metadata after its content, below
                if stat.S_ISLNK(mode):
                    target = os.readlink(src)
                    if not (os.path.islink(dst) and os.readlink(dst) == target):
                        _clear(dst)
                        os.symlink(target, dst)
                    _copy_meta(src, dst, st, result.warnings, rel)
                    continue
                if stat.S_ISREG(mode):
                    result.files += 1
                    _regular(src, dst, rel, st, inodes, journal, meter, result, readback)
                    continue
                if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    if not os.path.lexists(dst):
                        os.mknod(dst, mode, st.st_rdev)
                    _copy_meta(src, dst, st, result.warnings, rel)
                    continue
                result.warnings.append(f"{rel}: a socket is not copied (the service recreates it)")
            except OSError as err:
                if err.errno == 28:
                    raise OperationFailed(
                        f"{dest}: the encrypted volume is full while copying {rel}; grow it (volumes.size_mb) and "
                        "run again (finished files are kept; the original is untouched)"
                    ) from None
                raise OperationFailed(f"copying {rel}: {err.strerror}; the original is untouched") from None
    for src, dst, st, rel in reversed(dirs):  # deepest first: later writes would change parents' mtimes
        _copy_meta(src, dst, st, result.warnings, rel)
    return result


def _regular(
    src: str,
    dst: str,
    rel: str,
    st: os.stat_result,
    inodes: dict[tuple[int, int], tuple[str, str]],
    journal: OpJournal,
    meter: SharedMeter,
    result: CopyResult,
    readback: ReadBack | None = None,
) -> None:
    """One regular file: a hard link to an inode already copied, a skip when journaled, or a copy."""
    ident = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and ident in inodes:
        first, sha = inodes[ident]
        if not (os.path.exists(dst) and os.path.samefile(dst, first)):
            _clear(dst)
            os.link(first, dst)
        journal.update(rel, status="done", size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha, link=True)
        result.links += 1
        meter.advance(1, st.st_size, what=rel)
        return
    rec = journal.get(rel) or {}
    same = rec.get("status") == "done" and rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns
    same = same and isinstance(rec.get("sha256"), str)  # a record without its hash (damaged): copied again
    if same and os.path.isfile(dst) and not os.path.islink(dst) and os.path.getsize(dst) == st.st_size:
        sha = rec["sha256"]
        result.skipped += 1
    else:
        sha = _copy_file(src, dst, st, result.warnings, rel)
        journal.update(rel, status="done", size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=sha, readback=None)
        if readback is not None:
            readback.submit(rel, dst, sha)
        result.copied += 1
        result.copied_bytes += st.st_size
    if st.st_nlink > 1:
        inodes[ident] = (dst, sha)
    meter.advance(1, st.st_size, what=rel)


def _escape(rel: str) -> tuple[str, str]:
    """sha256sum's escaping: a leading backslash when the name holds a backslash or newline."""
    if "\\" in rel or "\n" in rel:
        return "\\", rel.replace("\\", "\\\\").replace("\n", "\\n")
    return "", rel


def verify_tree(source: Path, dest: Path, journal: OpJournal, meter: SharedMeter, manifest: Path) -> list[str]:
    """Read every destination file back, compare with the hash taken from the source; write the manifest.

    Also checks each entry's type, size, mode, owner and symlink target. Returns the problems
    (empty = the copy is proven); the manifest is written only when there are none.
    """
    from wizard.fsutil import atomic_write

    problems: list[str] = []
    lines: list[str] = []
    src_root = str(source)
    for root, dirnames, names in os.walk(src_root):
        for name in sorted(dirnames + names):
            src = os.path.join(root, name)
            rel = os.path.normpath(os.path.relpath(src, src_root))
            dst = os.path.join(str(dest), rel)
            s, d = os.lstat(src), (os.lstat(dst) if os.path.lexists(dst) else None)
            if d is None:
                problems.append(f"{rel}: missing from the copy")
                continue
            if stat.S_IFMT(s.st_mode) != stat.S_IFMT(d.st_mode):
                problems.append(f"{rel}: file type differs")
                continue
            if stat.S_ISLNK(s.st_mode):
                if os.readlink(src) != os.readlink(dst):
                    problems.append(f"{rel}: symlink target differs")
                continue
            if stat.S_IMODE(s.st_mode) != stat.S_IMODE(d.st_mode) or (s.st_uid, s.st_gid) != (d.st_uid, d.st_gid):
                problems.append(f"{rel}: mode or owner differs")
            if not stat.S_ISREG(s.st_mode):
                continue
            rec = journal.get(rel) or {}
            # read back during the copy (ReadBack) when the file is still the one it read
            proven = (
                isinstance(rec.get("readback"), str)
                and bool(rec["readback"])
                and rec.get("size") == d.st_size
                and rec.get("mtime_ns") == d.st_mtime_ns
            )
            sha = rec["readback"] if proven else _sha256(dst)
            if d.st_size != s.st_size or sha != rec.get("sha256"):
                problems.append(f"{rel}: content differs from the source (SHA-256)")
            prefix, shown = _escape(rel)
            lines.append(f"{prefix}{sha}  ./{shown}")
            meter.advance(1, d.st_size, what=rel)
            if len(problems) > 50:
                return problems
    if not problems:
        atomic_write(manifest, ("\n".join(lines) + "\n").encode() if lines else b"", mode=0o600)
    return problems
