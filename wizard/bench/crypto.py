"""Backup encryption throughput: the same data streamed through stackseal's age encryption (with
the plaintext SHA-256 a backup records) and, when installed, through the ``age`` CLI.

Both read it from a pipe (``cat FILE |``): a backup's parts come from pipes (``neo4j-admin``'s
dump, a bucket's tar stream), so that is the road whose cost the runbook should quote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from wizard.bench.common import MIB, Result, rate, write_file


@contextmanager
def _cat(path: Path) -> Iterator[IO[bytes]]:
    """``path`` as a pipe, the way a backup part arrives."""
    proc = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        proc.stdout.close()
        proc.wait()


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
            with _cat(plain) as stream:
                subprocess.run(
                    [age, "-r", str(_recipient(key)), "-o", str(Path(tmp) / "cli.age")], stdin=stream, check=True
                )
            cli = time.monotonic() - start
            results.append(Result("backup", "age CLI encrypt", rate(size, cli), "MB/s", "reference, from a pipe"))
        start = time.monotonic()
        with _cat(plain) as stream, open(Path(tmp) / "ss.age", "wb", buffering=MIB) as out:
            encrypt_to(stream, out, key)
        ours = time.monotonic() - start
        results.append(
            Result(
                "backup",
                "stackseal encrypt",
                rate(size, ours),
                "MB/s",
                "age + SHA-256, from a pipe",
                "age CLI encrypt" if age else None,
            )
        )
    return results
