"""Named points inside a rotation where a test can stop the process (fault injection).

Why: "killed at any instant and re-run, it completes" is only believable if tests really kill a
rotation between its steps. When ``STACKSEAL_PAUSE_AT`` names a point, the process writes the
file ``STACKSEAL_PAUSE_FILE`` (so the test knows it got there) and sleeps until it is killed.
Without that variable this is a no-op; it never changes what a rotation does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def checkpoint(name: str) -> None:
    """Pause here for a SIGKILL when a test asks for it by name."""
    if os.environ.get("STACKSEAL_PAUSE_AT") != name:
        return
    marker = os.environ.get("STACKSEAL_PAUSE_FILE")
    if marker:
        Path(marker).write_text(name, encoding="utf-8")
    while True:  # pragma: no cover - ended by the test's SIGKILL
        time.sleep(1)
