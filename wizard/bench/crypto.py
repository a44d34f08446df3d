"""Backup encryption throughput: the same data streamed through stackseal's age encryption (with
the plaintext SHA-256 a backup records) and, when installed, through the ``age`` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from wizard.bench.common import MIB, Result, rate, write_file


def measure(size_mb: int) -> list[Result]:
    from wizard.backup.stream import _recipient, encrypt_to, new_data_key

    size = size_mb * MIB
    key = new_data_key()
    results = []
    with tempfile.TemporaryDirectory(prefix="stackseal-bench-", dir="/var/tmp") as tmp:
        plain = Path(tmp) / "plain.bin"
        write_file(plain, size, os.urandom(MIB))
        age = shutil.which("age")
        if age:
            start = time.monotonic()
            subprocess.run([age, "-r", str(_recipient(key)), "-o", str(Path(tmp) / "cli.age"), str(plain)], check=True)
            cli = time.monotonic() - start
            results.append(Result("backup", "age CLI encrypt", rate(size, cli), "MB/s", "reference"))
        start = time.monotonic()
        with open(plain, "rb") as src, open(Path(tmp) / "ss.age", "wb", buffering=MIB) as out:
            encrypt_to(src, out, key)
        ours = time.monotonic() - start
        results.append(
            Result(
                "backup",
                "stackseal encrypt",
                rate(size, ours),
                "MB/s",
                "age + SHA-256",
                "age CLI encrypt" if age else None,
            )
        )
    return results
