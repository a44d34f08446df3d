"""``migrate volume``'s copy (with its per-file journal and SHA-256 read-back verification)
against ``cp -a`` into the same gocryptfs volume, in the same run. Target: >= 0.8 of ``cp -a``.

The copy reads each file back through the volume in a thread beside it (``copy_tree``'s
``ReadBack``); the verification then compares, re-reading only files without a read-back, and
writes the manifest. "copy" below includes that read-back; "copy + verification" is the whole.

Run as root with gocryptfs installed: ``.venv/bin/python bench/bench_migrate_volume.py [MB]``.
Prints both throughputs, the ratio with and without the verification pass, and the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_adopt_copy import make_source

from wizard.layout import VolumeSpec
from wizard.stores.journal import OpJournal
from wizard.stores.progress import SharedMeter
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.keys import ensure_key
from wizard.volumes.treecopy import copy_tree, verify_tree


def _empty(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def main() -> int:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        source = base / "source"
        make_source(source, total_mb)
        spec = VolumeSpec("bench", "bench", "/data", "bench", base / "mnt" / "bench", base / "cipher" / "bench")
        backend = GocryptfsBackend()
        key = ensure_key(base / "secrets", "bench")
        backend.create(spec, key)
        backend.unlock(spec, key)
        try:
            dest = spec.mount_point
            os.sync()
            start = time.monotonic()
            subprocess.run(["cp", "-a", f"{source}/.", str(dest)], check=True)
            os.sync()
            cp_s = time.monotonic() - start
            _empty(dest)
            os.sync()
            start = time.monotonic()
            journal = OpJournal(base / "state", "bench", {"b": 1})
            copy_tree(source, dest, journal, SharedMeter("b", lambda e: None, None, None))
            os.sync()
            copy_s = time.monotonic() - start
            problems = verify_tree(source, dest, journal, SharedMeter("b", lambda e: None, None, None), base / "m")
            journal.close()
            total_s = time.monotonic() - start
            assert not problems, problems[:3]
        finally:
            backend.lock(spec)
            subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)
    print(
        f"{total_mb} MB into gocryptfs: cp -a {total_mb / cp_s:.0f} MB/s; migrate copy with read-back "
        f"{total_mb / copy_s:.0f} MB/s (ratio {cp_s / copy_s:.2f}); copy + SHA-256 verification {total_mb / total_s:.0f} MB/s "
        f"(ratio {cp_s / total_s:.2f}; target >= 0.8); {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
