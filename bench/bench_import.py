"""Benchmark: import time of the ``wizard`` core without Textual (target: < 0.15 s).

Not a test: prints figures and ratios. Each run is a fresh interpreter importing what every
``stackseal`` command imports before doing work (plan, questions, detect, cli with its parser),
compared with ``python -c pass`` in the same run; the difference is the import cost. It also
checks that Textual was not imported. Run: ``.venv/bin/python bench/bench_import.py [RUNS]``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CORE = (
    "import sys, wizard.plan, wizard.questions, wizard.detect, wizard.review, wizard.cli; "
    "wizard.cli.build_parser(); "
    "assert 'textual' not in sys.modules, 'textual was imported'"
)


def once(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    once(CORE)  # warm the file cache
    base, core, textual = [], [], []
    for _ in range(runs):
        base.append(once("pass"))
        core.append(once(CORE))
        textual.append(once("import textual.app"))
    b, c, t = statistics.median(base), statistics.median(core), statistics.median(textual)
    print(f"import time, {runs} fresh interpreters each (median):")
    print(f"  python -c pass                  {b:.3f} s")
    print(f"  wizard core (no Textual)        {c:.3f} s   import cost {c - b:.3f} s")
    print(f"  textual.app (reference)         {t:.3f} s   import cost {t - b:.3f} s")
    print(f"  ratio core / python -c pass:    {c / b:.2f}")
    print(f"  ratio core cost / Textual cost: {(c - b) / max(t - b, 1e-9):.2f}")
    verdict = "meets" if c - b < 0.15 else "MISSES"
    print(f"  target import cost < 0.15 s: {verdict} ({c - b:.3f} s)")


if __name__ == "__main__":
    main()
