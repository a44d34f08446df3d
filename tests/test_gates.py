"""The gates ``make test`` runs before any test (``make lint``) really fail on a violation.

Each gate is run the way the Makefile runs it, with the repository's own configuration
(pyproject.toml), on a deliberately bad file: a gate that passes such a file guards nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the test environment: make install-test")
    return str(path)


def _run(argv: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_make_test_runs_every_gate_before_pytest() -> None:
    out = _run(["make", "-n", "test", "PYTHON=true"]).stdout
    order = [out.find(marker) for marker in ("ruff check", "ruff format --check", "/mypy", "lint-imports", "-m pytest")]
    assert -1 not in order, out
    assert order == sorted(order), out


def test_ruff_fails_on_a_lint_error_and_on_unformatted_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad_module.py"
    bad.write_text("import os\nimport sys\n\n\ndef f( x ):\n    return eval(x)\n")
    config = str(ROOT / "pyproject.toml")
    lint = _run([_tool("ruff"), "check", "--config", config, "--no-cache", str(bad)])
    assert lint.returncode == 1, lint.stdout
    assert "F401" in lint.stdout and "S307" in lint.stdout  # unused import; eval
    fmt = _run([_tool("ruff"), "format", "--check", "--config", config, "--no-cache", str(bad)])
    assert fmt.returncode == 1 and "bad_module.py" in fmt.stdout


def test_mypy_fails_on_a_type_error_and_on_a_misplaced_ignore(tmp_path: Path) -> None:
    bad = tmp_path / "bad_types.py"
    bad.write_text(
        "def count(items: list[str]) -> int:\n"
        "    total: int = 'none'\n"
        "    return total\n"
        "\n"
        "\n"
        "x = 1  # type: ignore[assignment]\n"
    )
    checked = _run(
        [_tool("mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental", str(bad)], cwd=tmp_path
    )
    assert checked.returncode == 1, checked.stdout
    assert "[assignment]" in checked.stdout and "[unused-ignore]" in checked.stdout, checked.stdout


def test_the_import_contract_fails_when_the_core_imports_the_tui(tmp_path: Path) -> None:
    """A copy of the tree with one core module importing Textual breaks the contract."""
    for package in ("wizard", "screens"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "wizard" / "bad_tui.py").write_text("from textual.app import App\n")
    checked = _run([_tool("lint-imports"), "--no-cache"], cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout
    assert "wizard.bad_tui -> textual" in checked.stdout, checked.stdout
