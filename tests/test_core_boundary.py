"""The core (``wizard``) never imports the TUI: checked at run time and by import-linter.

Why: scripted use (``stackseal render/apply/verify`` in CI) must not pay for, or break on,
Textual; the screens are a client of the core, never the other way round (harlequin's rule).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = r"""
import importlib, pkgutil, sys
import wizard
names = sorted(m.name for m in pkgutil.walk_packages(wizard.__path__, "wizard."))
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "screens")) or m == "screens")
print(len(names))
print(",".join(bad))
"""


def test_importing_every_core_module_loads_no_tui() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    count, bad = result.stdout.splitlines()[-2:] if result.stdout.count("\n") >= 2 else (result.stdout, "")
    assert int(count) >= 10, "the probe should have imported every wizard.* module"
    assert bad == "", f"core modules pulled in the TUI: {bad}"


def test_import_linter_contract_holds() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "import-linter is part of the [test] extra: .venv/bin/pip install -e '.[test]'"
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The core never imports the TUI KEPT" in result.stdout
