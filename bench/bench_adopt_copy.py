"""How much slower the adopt step's copy is into a gocryptfs volume than into a plain directory.

Why: adopting a stack copies its data into the encrypted volume while the services using it are
stopped; operators need to know how long that downtime is on *their* host. Prints the rates and
the ratio (run as root with gocryptfs installed): ``.venv/bin/python bench/bench_adopt_copy.py [MB]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wizard.layout import VolumeSpec
from wizard.steps.adopt_step import copy_tree
from wizard.steps.events import ProgressMeter
from wizard.volumes.gocryptfs import GocryptfsBackend
from wizard.volumes.keys import ensure_key


def make_source(root: Path, total_mb: int) -> None:
    """A store-like tree: a few large files and many small ones, incompressible bytes."""
    root.mkdir(parents=True)
    for i in range(4):
        (root / f"store{i}.db").write_bytes(os.urandom(total_mb * 1024 * 1024 // 8))
    small = root / "small"
    small.mkdir()
    remaining = total_mb * 1024 * 1024 // 2
    i = 0
    while remaining > 0:
        size = min(64 * 1024, remaining)
        (small / f"f{i:05d}").write_bytes(os.urandom(size))
        remaining -= size
        i += 1


def timed_copy(source: Path, dest: Path) -> float:
    dest.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    copy_tree(source, dest, ProgressMeter("bench", lambda e: None))
    os.sync()
    return time.monotonic() - start


def main() -> int:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        source = base / "source"
        make_source(source, total_mb)
        plain_s = timed_copy(source, base / "plain")
        spec = VolumeSpec("bench", "bench", "/data", "bench", base / "mnt" / "bench", base / "cipher" / "bench")
        backend = GocryptfsBackend()
        key = ensure_key(base / "secrets", "bench")
        backend.create(spec, key)
        backend.unlock(spec, key)
        try:
            enc_s = timed_copy(source, spec.mount_point)
        finally:
            backend.lock(spec)
            subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)
    print(
        f"copy {total_mb} MB (4 large files + 64 KB files): plain {total_mb / plain_s:.0f} MB/s, "
        f"gocryptfs {total_mb / enc_s:.0f} MB/s, ratio {enc_s / plain_s:.2f}x slower"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
