"""The shape of one measurement and small timing helpers shared by the bench modules."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIB = 1 << 20


@dataclass
class Result:
    """One measured (or unavailable) figure: ``value`` in ``unit``; ``baseline`` names its plain twin."""

    group: str  # volumes | objects | backup | neo4j
    name: str  # e.g. "gocryptfs write"
    value: float | None
    unit: str  # MB/s | ms
    note: str = ""
    baseline: str | None = None  # name of the plain measurement this one is compared with

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def write_file(path: Path, size: int, block: bytes) -> float:
    """Seconds to write ``size`` bytes and fsync them."""
    start = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        done = 0
        while done < size:
            done += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.monotonic() - start


def read_file(path: Path) -> float:
    """Seconds to read a file back, its cached pages dropped first where the kernel allows."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        start = time.monotonic()
        while os.read(fd, MIB):
            pass
        return time.monotonic() - start
    finally:
        os.close(fd)


def rate(size: int, seconds: float) -> float:
    return round(size / max(seconds, 1e-9) / 1e6, 1)
