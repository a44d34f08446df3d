"""Neo4j query latency on a plain store against a store on an encrypted (gocryptfs) volume.

Two throw-away containers of the plan's own Neo4j image (``docker run``, auth off, Bolt on a
free loopback port) get their ``/data`` from a plain scratch directory and from a scratch
gocryptfs volume; the same transactions run against both: single-node writes (each a commit,
so the transaction log is fsync'd) and indexed point reads. Median and 95th percentile in ms.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wizard.bench.common import Result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _neo4j(image: str, data: Path, accept: bool) -> Iterator[str]:
    port = _free_port()
    name = f"stackseal-bench-{secrets.token_hex(4)}"
    argv = ["docker", "run", "-d", "--rm", "--name", name, "-e", "NEO4J_AUTH=none", "-p", f"127.0.0.1:{port}:7687"]
    if accept:
        argv += ["-e", "NEO4J_ACCEPT_LICENSE_AGREEMENT=yes"]
    argv += ["-v", f"{data}:/data", image]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    try:
        yield f"bolt://127.0.0.1:{port}"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120)


def _latencies(url: str, count: int, timeout: float = 180) -> tuple[list[float], list[float]]:
    from neo4j import GraphDatabase

    deadline = time.monotonic() + timeout
    while True:
        try:
            driver = GraphDatabase.driver(url, auth=None)
            driver.verify_connectivity()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    writes, reads = [], []
    payload = secrets.token_hex(256)
    with driver, driver.session() as session:
        session.run("CREATE INDEX bench_i IF NOT EXISTS FOR (n:Bench) ON (n.i)").consume()
        for i in range(count):
            start = time.perf_counter()
            session.run("CREATE (:Bench {i: $i, s: $s})", i=i, s=payload).consume()
            writes.append((time.perf_counter() - start) * 1000)
        for i in range(count):
            start = time.perf_counter()
            session.run("MATCH (n:Bench {i: $i}) RETURN n.s", i=i).consume()
            reads.append((time.perf_counter() - start) * 1000)
    return writes, reads


def _p(values: list[float], q: float) -> float:
    return round(statistics.quantiles(values, n=100)[int(q) - 1], 2) if len(values) > 2 else round(values[0], 2)


def measure(plan: Any, count: int = 200) -> list[Result]:
    from wizard.layout import VolumeSpec
    from wizard.render.compose import image_for
    from wizard.volumes.gocryptfs import GocryptfsBackend

    if shutil.which("docker") is None:
        return [Result("neo4j", "write p50", None, "ms", "unavailable: docker missing")]
    image = image_for(plan, "neo4j")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        return [Result("neo4j", "write p50", None, "ms", f"unavailable: image {image} not on this host")]
    backend = GocryptfsBackend()
    accept = plan.neo4j.edition == "enterprise" and plan.neo4j.accept_license_agreement
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-neo4j-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        stores: list[tuple[str, Path]] = [("plain", base / "plain")]
        (base / "plain").mkdir()
        spec = None
        if not backend.missing_tools():
            key = base / "key"
            key.write_bytes(secrets.token_hex(32).encode())
            key.chmod(0o400)
            spec = VolumeSpec("bench", "bench", "/data", "bench", base / "mnt", base / "cipher")
            backend.create(spec, key)
            backend.unlock(spec, key)
            stores.append(("gocryptfs", spec.mount_point))
        try:
            for label, data in stores:
                try:
                    with _neo4j(image, data, accept) as url:
                        writes, reads = _latencies(url, count)
                except Exception as err:
                    results.append(Result("neo4j", f"{label} write p50", None, "ms", f"unavailable: {str(err)[:100]}"))
                    continue
                base_name = None if label == "plain" else "plain"
                results += [
                    Result(
                        "neo4j",
                        f"{label} write p50",
                        _p(writes, 50),
                        "ms",
                        f"p95 {_p(writes, 95)} ms, {count} commits",
                        f"{base_name} write p50" if base_name else None,
                    ),
                    Result(
                        "neo4j",
                        f"{label} read p50",
                        _p(reads, 50),
                        "ms",
                        f"p95 {_p(reads, 95)} ms, indexed",
                        f"{base_name} read p50" if base_name else None,
                    ),
                ]
        finally:
            if spec is not None:
                backend.lock(spec)
                subprocess.run(["chattr", "-i", str(spec.mount_point)], capture_output=True)
    return results
