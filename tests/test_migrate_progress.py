"""Progress plumbing for long operations: throttled at the source, replaceable in the TUI; and
the journal's crash-safety rules (torn WAL line, another target starts over, symlinks refused)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wizard.errors import OperationFailed
from wizard.steps.events import StepLog, StepProgress
from wizard.stores.journal import OpJournal
from wizard.stores.progress import Throttle


def test_throttle_passes_first_last_and_logs_and_holds_bursts() -> None:
    seen: list = []
    throttle = Throttle(seen.append, interval=3600)  # nothing is "due" again within the test
    for n in range(1, 1000):
        throttle(StepProgress("m", n, 1000))
    throttle(StepLog("m", "hello"))
    assert [type(e).__name__ for e in seen] == ["StepProgress", "StepLog"] and seen[0].items == 1
    throttle.flush()
    assert seen[-1].items == 999  # the newest held-back report, not a stale one
    throttle(StepProgress("m", 1000, 1000))
    assert seen[-1].items == 1000  # the final report always passes


def test_tui_progress_messages_collapse_per_step_only() -> None:
    from screens.execute import RunEvent

    a1, a2 = RunEvent(StepProgress("a", 1)), RunEvent(StepProgress("a", 2))
    assert a1.can_replace(a2)
    assert not a1.can_replace(RunEvent(StepProgress("b", 2)))
    assert not a1.can_replace(RunEvent(StepLog("a", "x")))
    assert not RunEvent(StepLog("a", "x")).can_replace(a2)


def test_journal_survives_a_torn_line_and_starts_over_for_another_target(tmp_path: Path) -> None:
    j = OpJournal(tmp_path, "op", {"sse": "sse-s3"}, checkpoint_every=3)
    for i in range(5):
        j.update(f"k{i}", status="copied", copies=1)
    with open(tmp_path / "op.wal", "a") as wal:
        wal.write('{"key": "k9", "rec": {"sta')  # a power cut mid-line
    again = OpJournal(tmp_path, "op", {"sse": "sse-s3"})
    assert again.resumed and {k for k, r in again.items.items() if r.get("status") == "copied"} == {
        f"k{i}" for i in range(5)
    }
    other = OpJournal(tmp_path, "op", {"sse": "sse-c"})
    assert other.items == {} and not other.resumed
    doc = json.loads((tmp_path / "op.json").read_text())
    assert doc["target"] == {"sse": "sse-s3"}  # untouched until the new run writes its own


def test_journal_refuses_symlinks(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("{}")
    os.symlink(tmp_path / "elsewhere", tmp_path / "op.json")
    with pytest.raises(OperationFailed, match="symbolic link"):
        OpJournal(tmp_path, "op", {"t": 1})


def test_luks_device_is_not_offered_and_says_why() -> None:
    from wizard.detect import Facts
    from wizard.questions import QUESTIONS

    question = next(q for q in QUESTIONS if q.id == "volumes.backend")
    choice = next(c for c in question.choices if c.value == "luks-device")
    assert "partitioning" in choice.unavailable(Facts())


@pytest.mark.parametrize("value", ["127.0.0.1:9333; rm -rf /", "-master=evil:1", "host", "a:b", "$(id):1"])
def test_weed_addresses_are_host_port_only(tmp_path: Path, value: str) -> None:
    from wizard.errors import UsageError
    from wizard.plan import plan_from_dict

    with pytest.raises(UsageError, match="weed_master"):
        plan_from_dict({"version": 1, "object_store": {"weed_master": value}}, base_dir=tmp_path)
    ok = plan_from_dict({"version": 1, "object_store": {"weed_master": "127.0.0.1:9333.19333"}}, base_dir=tmp_path)
    assert ok.object_store.weed_master == "127.0.0.1:9333.19333"


def test_downtime_uses_this_hosts_bench_figure_and_ignores_a_hostile_one(tmp_path: Path) -> None:
    """The Migrate page's estimate: the plan backend's measured write rate, halved; else assumed."""
    from wizard.stores.inventory import ASSUMED_RATE, copy_rate

    assert copy_rate(tmp_path, "gocryptfs")[0] == ASSUMED_RATE
    state = tmp_path / ".stackseal"
    state.mkdir()
    bench = {
        "format": "stackseal-bench",
        "results": [
            {"group": "volumes", "name": "plain write", "value": 600.0, "unit": "MB/s"},
            {"group": "volumes", "name": "gocryptfs write", "value": 120.0, "unit": "MB/s"},
            {"group": "volumes", "name": "fscrypt write", "value": None, "unit": "MB/s"},
        ],
    }
    (state / "bench.json").write_text(json.dumps(bench))
    rate, source = copy_rate(tmp_path, "gocryptfs")
    assert rate == 60e6 and "measured" in source
    assert copy_rate(tmp_path, "fscrypt")[0] == ASSUMED_RATE  # unavailable there: no figure
    for hostile in (True, "fast", -5, 1e300, [1]):
        bench["results"][1]["value"] = hostile
        (state / "bench.json").write_text(json.dumps(bench))
        assert copy_rate(tmp_path, "gocryptfs")[0] == ASSUMED_RATE
    # a FIFO (would block a plain read forever: the TUI calls this) or a symlink is never read
    (state / "bench.json").unlink()
    os.mkfifo(state / "bench.json")
    assert copy_rate(tmp_path, "gocryptfs")[0] == ASSUMED_RATE
    (state / "bench.json").unlink()
    bench["results"][1]["value"] = 120.0
    (tmp_path / "elsewhere.json").write_text(json.dumps(bench))
    (state / "bench.json").symlink_to(tmp_path / "elsewhere.json")
    assert copy_rate(tmp_path, "gocryptfs")[0] == ASSUMED_RATE
