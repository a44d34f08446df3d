"""The canary scanner: markers across read-buffer boundaries, hostile trees, bounded memory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from wizard.verify.scan import Scanner, scan_paths


def test_marker_found_at_every_offset_around_the_buffer_boundary(tmp_path: Path) -> None:
    marker = b"STACKSEAL-CANARY-" + secrets.token_hex(8).encode()
    with Scanner([marker], buffer_size=4096) as scanner:
        size = scanner.size
        for offset in range(size - len(marker) - 2, size + 3):
            path = tmp_path / f"f{offset}"
            data = bytearray(os.urandom(3 * size))
            data[offset : offset + len(marker)] = marker
            path.write_bytes(bytes(data))
            found, _ = scanner.scan_file(path)
            assert found, f"marker at offset {offset} (buffer {size}) not found"
        # the same across the second refill (after the carried tail moved to the front)
        for offset in range(2 * size - len(marker) - 40, 2 * size + 3, 7):
            data = bytearray(os.urandom(3 * size))
            data[offset : offset + len(marker)] = marker
            (tmp_path / "g").write_bytes(bytes(data))
            assert scanner.scan_file(tmp_path / "g")[0], offset


def test_absent_marker_reads_every_byte_and_reports_the_count(tmp_path: Path) -> None:
    data = os.urandom(1_000_003)
    (tmp_path / "a").write_bytes(data)
    result = scan_paths([tmp_path], [b"STACKSEAL-CANARY-" + secrets.token_hex(8).encode()], buffer_size=8192)
    assert not result.found and result.bytes == len(data) and result.files == 1


def test_a_split_marker_is_not_a_false_hit(tmp_path: Path) -> None:
    marker = b"STACKSEAL-CANARY-abcdef0123456789"
    (tmp_path / "a").write_bytes(marker[:20])
    (tmp_path / "b").write_bytes(marker[20:])
    assert not scan_paths([tmp_path], [marker]).found


def test_hostile_tree_fifo_symlink_and_nested(tmp_path: Path) -> None:
    marker = b"STACKSEAL-CANARY-" + secrets.token_hex(8).encode()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(marker)
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    os.mkfifo(tree / "fifo")  # reading it would hang
    (tree / "link").symlink_to(outside / "secret")  # never followed
    (tree / "dirlink").symlink_to(outside)
    result = scan_paths([tree], [marker])
    assert not result.found and result.files == 0
    (tree / "a" / "b" / "deep.bin").write_bytes(os.urandom(5000) + marker + os.urandom(10))
    result = scan_paths([tree], [marker])
    assert result.hits == [tree / "a" / "b" / "deep.bin"]


def test_missing_root_is_reported_not_raised(tmp_path: Path) -> None:
    result = scan_paths([tmp_path / "nope"], [b"0123456789"])
    assert not result.found and result.skipped


def test_empty_needle_is_refused() -> None:
    with pytest.raises(ValueError):
        Scanner([b""])


def test_a_stopped_scan_ends_at_the_next_buffer(tmp_path: Path) -> None:
    import threading

    from wizard.verify.scan import ScanStopped

    (tmp_path / "big").write_bytes(os.urandom(1 << 20))
    stop = threading.Event()
    stop.set()
    with pytest.raises(ScanStopped):
        scan_paths([tmp_path], [b"STACKSEAL-CANARY-0123456789"], buffer_size=4096, stop=stop)


def test_a_timed_out_check_is_a_fail_and_stops_the_others(tmp_path: Path) -> None:
    """The runner does not wait for a check past its timeout; it reports FAIL (not proven)."""
    import threading

    from wizard.plan import plan_from_dict
    from wizard.verify.context import VerifyContext
    from wizard.verify.model import Check, Result, Status
    from wizard.verify.runner import run_checks

    release = threading.Event()

    def slow(ctx):
        ctx.cancel.wait(30)  # a well-behaved long check stops when told
        release.set()
        return [Result(Status.PASS, "late")]

    def quick(ctx):
        return [Result(Status.PASS, "fine")]

    checks = [
        Check("t.slow", "kms", "slow", slow, "fix", (), timeout=0.5),
        Check("t.quick", "keys", "quick", quick, "", ()),
    ]
    run = run_checks(VerifyContext(plan_from_dict({"version": 1}, base_dir=tmp_path)), checks)
    statuses = {f.check_id: (f.status, f.summary) for f in run.findings}
    assert statuses["t.slow"][0] is Status.FAIL and "no answer within" in statuses["t.slow"][1]
    assert statuses["t.quick"] == (Status.PASS, "fine") and run.exit_code == 1
    assert release.wait(5)  # the abandoned check saw the cancel and ended
