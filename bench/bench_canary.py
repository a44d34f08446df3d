"""The canary scan against ``LC_ALL=C grep -F -c`` on the same file, in the same run.

Why: the canary check scans every raw byte behind a store (cipher directories, images, block
devices); it must be as fast as the tool an operator would use and use bounded memory whatever
the size. grep's output goes through a pipe (``-c`` counts every match, so grep reads the whole
file: with ``-q`` or output to /dev/null it may stop at the first match). The marker is absent,
as in a passing check, so both read every byte. Each side runs in its own child process; the
scan's peak memory is that child's ``ru_maxrss`` (``os.wait4``), its time is measured inside the
child around the scan only (interpreter start excluded; grep's includes its own start, ~1 ms).
Best of ``--rounds`` alternating runs with the file in the page cache.

Run: ``.venv/bin/python bench/bench_canary.py [--size-mib 1024] [--rounds 3] [--dir DIR]``.
Targets: time ratio (scan / grep) <= 1.0 and peak memory < 64 MiB.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
sys.path.insert(0, {repo!r})
from wizard.verify.scan import scan_paths
from pathlib import Path
t = time.perf_counter()
r = scan_paths([Path({path!r})], [{marker!r}])
print(time.perf_counter() - t, r.bytes, int(r.found))
"""


def make_file(path: Path, size: int) -> None:
    chunk = 8 << 20
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            n = min(chunk, left)
            fh.write(os.urandom(n))
            left -= n


def run_scan(path: Path, marker: bytes) -> tuple[float, int, int]:
    """(seconds, bytes scanned, peak RSS in KiB) of the scan in a child process."""
    code = CHILD.format(repo=str(REPO), path=str(path), marker=marker)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"scan child failed ({proc.returncode})")
    seconds, nbytes, found = out.split()
    assert found == "0"
    return float(seconds), int(nbytes), int(usage.ru_maxrss)


def run_grep(path: Path, marker: bytes) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["grep", "-F", "-c", marker.decode(), str(path)], stdout=subprocess.PIPE, env={**os.environ, "LC_ALL": "C"}
    )
    out = proc.stdout.read() if proc.stdout else b""  # through a pipe, as the issue asks
    proc.wait()
    seconds = time.perf_counter() - start
    assert out.strip() == b"0", out
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write the test file (default: a temp dir)")
    args = parser.parse_args()
    marker = f"STACKSEAL-CANARY-{secrets.token_hex(16)}".encode()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "raw.bin"
        size = args.size_mib << 20
        t = time.perf_counter()
        make_file(path, size)
        print(f"file: {path} {size} bytes ({args.size_mib} MiB), written in {time.perf_counter() - t:.1f} s")
        run_grep(path, marker)  # warm the page cache
        scans, greps, rss = [], [], []
        for _ in range(args.rounds):
            s, nbytes, peak = run_scan(path, marker)
            assert nbytes == size, (nbytes, size)
            scans.append(s)
            rss.append(peak)
            greps.append(run_grep(path, marker))
        best_scan, best_grep = min(scans), min(greps)
        print(
            f"canary scan: best {best_scan:.3f} s ({size / best_scan / 1e6:.0f} MB/s), runs {', '.join(f'{x:.3f}' for x in scans)}"
        )
        print(
            f"grep -F -c : best {best_grep:.3f} s ({size / best_grep / 1e6:.0f} MB/s), runs {', '.join(f'{x:.3f}' for x in greps)}"
        )
        ratio = best_scan / best_grep
        peak_mib = max(rss) / 1024
        print(f"time ratio scan/grep: {ratio:.2f} (target <= 1.0) {'OK' if ratio <= 1.0 else 'ABOVE TARGET'}")
        print(
            f"scan peak memory (child ru_maxrss): {peak_mib:.1f} MiB (target < 64 MiB) {'OK' if peak_mib < 64 else 'ABOVE TARGET'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
