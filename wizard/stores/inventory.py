"""What a migration of a running stack would move: volumes with sizes, buckets with object
counts, and how long each service would be stopped.

Why its own module: the TUI's Migrate page shows it before anything runs, and the numbers must
come from the same functions the commands use (``find_moves``, the tree walk, the S3 listing),
never from a second guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wizard.errors import StacksealError
from wizard.kms import plaintext_dir
from wizard.steps.context import Context

#: Copy + read-back rate assumed for the downtime estimate when nothing was measured here: the
#: slowest encrypted backend we measured (fscrypt without AES-NI, ~66 MB/s, halved for the read-back).
ASSUMED_RATE = 33e6


def copy_rate(out_dir: Path, backend: str) -> tuple[float, str]:
    """Bytes/s for the downtime estimate and where the figure comes from.

    Why: an estimate built on our machine's figure is a guess on the user's. When ``stackseal
    bench`` has measured this host, its fsync'd write rate into the plan's own volume backend,
    halved for the read-back every copied file gets, is used instead.
    """
    from wizard.bench import report

    data = report.load(out_dir)
    results = data.get("results") if data else None
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, dict) or r.get("group") != "volumes" or r.get("name") != f"{backend} write":
            continue
        value = r.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.1 <= value <= 1e6:
            return float(value) * 1e6 / 2, f"{value:g} MB/s measured by 'stackseal bench', halved for the read-back"
    return ASSUMED_RATE, "33 MB/s assumed; run 'stackseal bench' to measure this host"


@dataclass
class VolumeItem:
    name: str
    service: str
    source: str
    files: int
    bytes: int


@dataclass
class BucketItem:
    name: str
    objects: int = 0
    bytes: int = 0
    error: str = ""


@dataclass
class Inventory:
    volumes: list[VolumeItem] = field(default_factory=list)
    buckets: list[BucketItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def downtime(self, rate: float = ASSUMED_RATE) -> dict[str, float]:
        """Seconds each service is stopped (its volumes copied and verified), estimated at ``rate``."""
        out: dict[str, float] = {}
        for v in self.volumes:
            out[v.service] = out.get(v.service, 0.0) + v.bytes / rate
        return out

    @property
    def empty(self) -> bool:
        return not self.volumes and not any(b.objects for b in self.buckets)


def take(ctx: Context) -> Inventory:
    """Read the running project (Docker) and the object store (S3); problems become lines."""
    from wizard.steps.adopt_step import find_moves
    from wizard.stores import s3
    from wizard.volumes.treecopy import tree_summary

    inv = Inventory()
    try:
        for move in find_moves(ctx):
            files, nbytes = tree_summary(move.source) if move.source.is_dir() else (0, 0)
            inv.volumes.append(VolumeItem(move.spec.name, move.spec.service, str(move.source), files, nbytes))
    except StacksealError as err:
        inv.problems.append(f"volumes: {err}")
    plan = ctx.plan
    try:
        client = s3.connect(plan, plaintext_dir(plan))
    except StacksealError as err:
        client = None
        inv.problems.append(f"object store: {err}")
    for bucket in plan.object_store.buckets:
        item = BucketItem(bucket)
        if client is None:
            item.error = "no credentials yet"
        else:
            try:
                if s3.reach(plan.object_store.endpoint, client.bucket_exists, bucket):
                    for obj in client.list_objects(bucket, recursive=True):
                        item.objects += 1
                        item.bytes += int(obj.size or 0)
                else:
                    item.error = "does not exist"
            except StacksealError as err:
                item.error = str(err)
            except Exception as err:  # listing errors: shown, never fatal for the page
                item.error = type(err).__name__
        inv.buckets.append(item)
    return inv
