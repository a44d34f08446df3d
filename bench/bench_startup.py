"""Benchmark: time from process start to the wizard's first painted screen (target: median < 1.0 s).

Not a test: it prints figures and ratios. Each run starts the real ``stackseal wizard`` in a
pseudo-terminal (80x24, TERM=xterm-256color) and stops the clock when the first screen's title
("step 1 of 7") has been written to the terminal. References measured in the same run, the same
way: ``python -c pass`` (interpreter start) and a bare Textual app showing one line (the cost of
Textual itself). Run: ``.venv/bin/python bench/bench_startup.py [RUNS]``.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ANSI = re.compile(rb"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")

BARE_APP = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("bare app painted")
Bare().run()
"""


def time_to_text(argv: list[str], marker: bytes | None, cwd: str, limit: float = 20.0) -> float:
    """Seconds from spawn until ``marker`` appears on the pty (or until exit when None)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    elapsed = None
    try:
        while time.perf_counter() - start < limit:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
                if marker is not None and marker in ANSI.sub(b"", seen):
                    elapsed = time.perf_counter() - start
                    break
            if proc.poll() is not None and marker is None:
                elapsed = time.perf_counter() - start
                break
        if elapsed is None and marker is None and proc.wait(timeout=limit) is not None:
            elapsed = time.perf_counter() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.close(master)
    if elapsed is None:
        raise SystemExit(f"{' '.join(argv)}: {marker!r} never appeared; last output: {ANSI.sub(b'', seen)[-300:]!r}")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as cwd:
        bare = Path(cwd) / "bare_app.py"
        bare.write_text(BARE_APP)
        cases = {
            "python -c pass": ([sys.executable, "-c", "pass"], None),
            "bare Textual app": ([sys.executable, str(bare)], b"bare app painted"),
            "stackseal wizard": ([str(BIN / "stackseal"), "wizard", "--out", "answers.yaml"], b"step 1 of 7"),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        time_to_text(*cases["stackseal wizard"], cwd=cwd)  # warm the file cache once
        for _ in range(runs):
            for name, (argv, marker) in cases.items():  # interleaved: load changes hit all alike
                times[name].append(time_to_text(argv, marker, cwd))
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"time to first painted screen, {runs} runs each, 80x24 pty (median, min..max):")
    for name, values in times.items():
        print(f"  {name:<18} {med[name]:.3f} s   ({min(values):.3f}..{max(values):.3f})")
    print(f"  ratio wizard / bare Textual app: {med['stackseal wizard'] / med['bare Textual app']:.2f}")
    print(f"  ratio wizard / python -c pass:   {med['stackseal wizard'] / med['python -c pass']:.2f}")
    verdict = "meets" if med["stackseal wizard"] < 1.0 else "MISSES"
    print(f"  target median < 1.0 s: {verdict} ({med['stackseal wizard']:.3f} s)")


if __name__ == "__main__":
    main()
