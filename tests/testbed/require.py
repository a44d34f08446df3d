"""How a test asks for a component of the test bed.

Why: under CI (``CI=true``) a missing component must fail the run loudly, never skip it
silently; on a developer's machine a test whose component is missing skips and says the one
command that installs it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(component: str, install: str) -> None:
    """Fail (CI) or skip (elsewhere) because ``component`` is not available here."""
    message = f"{component} is not available here; install it with: {install}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_tool(name: str, install: str) -> str:
    """Path of executable ``name`` (venv bin first), or fail/skip with ``install``."""
    import sys

    venv_bin = Path(sys.executable).parent
    candidate = venv_bin / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        missing(name, install)
    return found  # type: ignore[return-value]
