"""Every stage's decision, tested as data (like pyinfra's ``tests/operations/*/*.json``).

A case file ``tests/step_cases/<stage id>/<case>.json`` holds the facts a stage read (``facts``)
and what it must decide: ``action``, ``summary``, ``details`` and ``destroys`` for a step or a
precondition that passes, or ``refuses`` (the exact one-line error) for a precondition that
stops the run. One generic test runs them all against ``Stage.decide``, which does no I/O: a
rule of a step is changed by editing a JSON file, and a new case is a new file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wizard.errors import OperationFailed
from wizard.plan import default_plan, set_path
from wizard.steps import build_steps
from wizard.steps.base import Precondition, Stage
from wizard.steps.context import Context

CASES = Path(__file__).resolve().parent / "step_cases"

#: The stages whose rules are tested as data (facts in, decision out); every other stage of
#: ``build_steps`` overrides ``check`` itself (``kms-key``: owned by the KMS capability, which
#: reshapes it) and should move to ``read_facts``/``decide`` with case files of its own.
AS_DATA = {
    "render",
    "host-tools",
    "docker-engine",
    "volumes",
    "adopt",
    "ports",
    "compose-up",
    "buckets",
    "unlock",
    "vault-approles",
}


def _stages() -> dict[str, Stage]:
    plan = set_path(default_plan(), "kms.backend", "vault")  # the largest set of stages
    return {stage.id: stage for stage in build_steps(plan)}


def _case_files() -> list[Path]:
    return sorted(CASES.glob("*/*.json"))


def test_every_stage_that_decides_from_facts_has_case_files() -> None:
    stages = _stages()
    deciding = {sid for sid, stage in stages.items() if type(stage).decide is not Stage.decide}
    with_cases = {path.parent.name for path in _case_files()}
    assert with_cases <= set(stages), f"case directories for unknown stages: {with_cases - set(stages)}"
    assert AS_DATA <= deciding, f"no longer decided from facts: {AS_DATA - deciding}"
    assert deciding <= with_cases, f"stages without case files: {deciding - with_cases}"


@pytest.mark.parametrize("case", _case_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stage_decides_from_facts(case: Path) -> None:
    spec = json.loads(case.read_text(encoding="utf-8"))
    stage = _stages()[case.parent.name]
    if "refuses" in spec:
        assert isinstance(stage, Precondition), "only a precondition refuses from its facts"
        with pytest.raises(OperationFailed) as caught:
            stage.decide(spec["facts"])
        assert str(caught.value) == spec["refuses"]
        return
    check = stage.decide(spec["facts"])
    assert check.action == spec["action"]
    assert check.summary == spec["summary"]
    assert list(check.details) == spec["details"]
    assert list(check.destroys) == spec["destroys"]
    if isinstance(stage, Precondition):
        assert check.action == "=", "a precondition only looks"


@pytest.mark.parametrize("stage_id", ["render", "volumes", "host-tools"])
def test_facts_read_from_a_real_directory_are_plain_data(tmp_path: Path, stage_id: str) -> None:
    """What ``read_facts`` returns survives JSON, and deciding from it equals ``check``: the
    case files describe exactly what the stage sees."""
    plan = set_path(set_path(default_plan(), "volumes.backend", "none"), "volumes.root", str(tmp_path / "vol"))
    plan = set_path(plan, "output_dir", str(tmp_path / "out"))
    plan.set_base_dir(tmp_path)
    ctx = Context.for_plan(plan)
    stage = _stages()[stage_id]
    facts = json.loads(json.dumps(stage.read_facts(ctx)))
    assert stage.decide(facts) == stage.check(ctx)


def test_a_precondition_that_reports_a_change_stops_the_run(tmp_path: Path) -> None:
    from wizard.steps import runner
    from wizard.steps.base import StepCheck

    class Broken(Precondition):
        id = "broken"
        title = "a precondition with a bug"

        def read_facts(self, ctx: Context) -> dict:
            return {}

        def decide(self, facts: dict) -> StepCheck:
            return StepCheck("+", "would create something")

    plan = set_path(default_plan(), "output_dir", str(tmp_path / "out"))
    plan.set_base_dir(tmp_path)
    with pytest.raises(OperationFailed, match="precondition broken reported a change"):
        runner.run(Context.for_plan(plan), steps=[Broken()])


def test_buckets_report_refused_credentials_instead_of_waiting_for_the_store(tmp_path: Path, s3) -> None:
    """Wrong credentials used to read as "create once the store runs"; the store's answer is shown."""
    import socket

    from wizard.steps.buckets_step import BucketsStep

    (tmp_path / "ak").write_text(s3.access_key)
    (tmp_path / "sk").write_text("not-the-secret")
    (tmp_path / "sk-ok").write_text(s3.secret_key)
    plan = set_path(default_plan(), "object_store.kind", "seaweedfs")
    plan = set_path(plan, "object_store.endpoint", s3.endpoint)
    plan = set_path(plan, "object_store.access_key_file", "ak")
    plan = set_path(plan, "output_dir", str(tmp_path / "out"))
    plan.set_base_dir(tmp_path)
    wrong = Context.for_plan(set_path(plan, "object_store.secret_key_file", "sk"))
    with pytest.raises(OperationFailed, match="refuses the credentials"):
        BucketsStep().check(wrong)
    right = BucketsStep().check(Context.for_plan(set_path(plan, "object_store.secret_key_file", "sk-ok")))
    assert right.action == "+" and "to create or encrypt" in right.summary
    with socket.socket() as sock:  # a port where nothing listens: the store is not running yet
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = set_path(
        set_path(plan, "object_store.secret_key_file", "sk-ok"), "object_store.endpoint", f"http://127.0.0.1:{closed}"
    )
    assert "once the store runs" in BucketsStep().check(Context.for_plan(down)).summary
