"""The exclusive lock on a stack directory that render and apply hold.

Part of :mod:`wizard.fsutil` (see there for why).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.fsutil.files import LOCK_WAIT, _open_error
from wizard.fsutil.outdir import OutputDir

_held: dict[str, tuple[int, int]] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def output_lock(out_dir: Path, wait: float | None = None) -> Iterator[None]:
    """Exclusive lock on a stack directory (``<out>/.stackseal/lock``) for render and apply.

    Why: two renders at once would each generate secrets and leave files that disagree. A second
    run waits up to ``wait`` seconds (``STACKSEAL_LOCK_WAIT``), then stops with one line. The lock
    is re-entrant within a process (apply renders under its own lock).
    """
    if wait is None:
        wait = float(os.environ.get("STACKSEAL_LOCK_WAIT", LOCK_WAIT))
    with OutputDir(out_dir, create=True) as out:
        out.ensure_dir(".stackseal", 0o700)
        key = f"{os.stat(out.fd).st_dev}:{os.stat(out.fd).st_ino}"
        with _held_guard:
            if key in _held:
                fd, count = _held[key]
                _held[key] = (fd, count + 1)
                reentered = True
            else:
                reentered = False
        if not reentered:
            parent, name = out._parent(".stackseal/lock")
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
            except OSError as err:
                raise _open_error(err, str(Path(out_dir) / ".stackseal/lock"), "lock file", None) from None
            finally:
                os.close(parent)
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        os.close(fd)
                        raise OperationFailed(
                            f"another stackseal run holds {out_dir}; wait for it to finish and run again"
                        ) from None
                    time.sleep(0.1)
            with _held_guard:
                _held[key] = (fd, 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, count = _held[key]
            if count > 1:
                _held[key] = (fd, count - 1)
            else:
                del _held[key]
                os.close(fd)  # closing the descriptor releases the flock
