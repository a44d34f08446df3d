"""The questions are data: every id is an answers-file key, choices carry consequences, disabled
choices carry reasons, defaults come from facts, and the core never imports Textual."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from wizard import questions as Q
from wizard.detect import Fact, Facts
from wizard.errors import UsageError
from wizard.plan import default_plan, get_path, set_path

HOST_OK = Facts(
    [
        Fact("tool.gocryptfs", "g", True, ""),
        Fact("fuse", "f", True, ""),
        Fact("tool.fscrypt", "f", True, ""),
        Fact("fscrypt_kernel", "k", True, ""),
        Fact("root", "r", True, ""),
        Fact("tool.cryptsetup", "c", True, ""),
        Fact("device_mapper", "dm", False, "no dm"),
    ]
)


def test_every_id_is_an_answers_key_and_every_page_exists():
    plan = default_plan()
    pages = {p.id for p in Q.PAGES}
    assert len({q.id for q in Q.QUESTIONS}) == len(Q.QUESTIONS)
    for q in Q.QUESTIONS:
        get_path(plan, q.id)  # raises if not a key
        assert q.page in pages
        assert q.title and q.help, q.id
        if q.kind == "choice":
            assert q.choices and all(c.consequence for c in q.choices), q.id


def test_choice_values_are_exactly_the_schema_literals():
    from wizard import plan as P

    literals = {
        "neo4j.edition": P.Edition,
        "object_store.kind": P.StoreKind,
        "object_store.sse": P.SseMode,
        "kms.backend": P.KmsBackend,
        "volumes.backend": P.VolumeBackend,
    }
    for qid, literal in literals.items():
        assert {c.value for c in Q.question(qid).choices} == set(typing.get_args(literal)), qid


def test_every_field_of_the_answers_file_that_a_user_decides_is_asked():
    asked = {q.id for q in Q.QUESTIONS}
    for key in (
        "project",
        "output_dir",
        "neo4j.edition",
        "object_store.kind",
        "object_store.sse",
        "kms.backend",
        "volumes.backend",
        "volumes.root",
        "rotation.interval_days",
        "backups.dir",
        "backups.keep",
    ):
        assert key in asked


def test_luks_is_disabled_with_the_reason_when_there_is_no_device_mapper():
    q = Q.question("volumes.backend")
    plan = default_plan()
    reason = q.disabled_reason(q.choice_for("luks-file"), plan, HOST_OK)
    assert reason and "device-mapper" in reason
    assert q.disabled_reason(q.choice_for("gocryptfs"), plan, HOST_OK) is None
    assert "unavailable: " in q.choice_title(q.choice_for("luks-file"), reason)


def test_compat_rules_disable_choices_with_their_message():
    q = Q.question("object_store.sse")
    plan = set_path(default_plan(), "object_store.kind", "seaweedfs")
    reason = q.disabled_reason(q.choice_for("sse-kms"), plan, Facts())
    assert reason and "seaweedfs" in reason
    assert q.disabled_reason(q.choice_for("sse-s3"), plan, Facts()) is None


def test_visible_if_follows_earlier_answers():
    plan = default_plan()
    license_q = Q.question("neo4j.accept_license_agreement")
    assert not license_q.visible(set_path(plan, "neo4j.edition", "community"))
    assert license_q.visible(set_path(plan, "neo4j.edition", "enterprise"))
    aws = set_path(plan, "kms.backend", "aws")
    visible = {q.id for q in Q.visible_questions(aws, "kms")}
    assert "kms.aws.region" in visible and "kms.vault.address" not in visible


def test_defaults_come_from_facts_and_never_replace_answers():
    facts = Facts(
        [
            *HOST_OK.all(),
            Fact("vault", "v", True, "", {"sealed": False}),
            Fact("neo4j", "n", True, "", {"edition": "enterprise"}),
        ]
    )
    plan = Q.apply_defaults(default_plan(), facts)
    assert plan.kms.backend == "vault" and plan.neo4j.edition == "enterprise"
    assert plan.volumes.backend == "gocryptfs"
    kept = Q.apply_defaults(set_path(default_plan(), "kms.backend", "aws"), facts, keep={"kms.backend"})
    assert kept.kms.backend == "aws"


def test_a_default_this_host_cannot_run_is_not_set():
    facts = Facts(
        [
            Fact("tool.gocryptfs", "g", False, ""),
            Fact("fuse", "f", False, ""),
            Fact("tool.fscrypt", "f", False, ""),
            Fact("tool.cryptsetup", "c", True, ""),
            Fact("device_mapper", "dm", False, ""),
        ]
    )
    plan = Q.apply_defaults(default_plan(), facts)
    # nothing runs here and no disk encryption was seen: no default (never "the disk is encrypted")
    assert plan.volumes.backend == default_plan().volumes.backend != "host-fde"
    assert "gocryptfs" in " ".join(Q.page_problems(plan, "volumes", facts))


def test_host_fde_is_proposed_only_when_detection_saw_disk_encryption():
    nothing_runs = [
        Fact("tool.gocryptfs", "g", False, ""),
        Fact("tool.fscrypt", "f", False, ""),
        Fact("tool.cryptsetup", "c", False, ""),
    ]
    for seen in (False, None):
        facts = Facts([*nothing_runs, Fact("disk_encryption", "d", seen, "")])
        assert Q.question("volumes.backend").default(facts) is None
    facts = Facts([*nothing_runs, Fact("disk_encryption", "d", True, "/srv is on dm-crypt device cryptroot")])
    assert Q.apply_defaults(default_plan(), facts).volumes.backend == "host-fde"
    # a backend this host runs still comes first
    facts = Facts([*HOST_OK.all(), Fact("disk_encryption", "d", True, "")])
    assert Q.apply_defaults(default_plan(), facts).volumes.backend == "gocryptfs"


def test_validation_is_one_line_naming_the_key():
    plan = default_plan()
    assert "neo4j.bolt_url" in Q.question("neo4j.bolt_url").validate_text(plan, "http://nope")
    assert "not a whole number" in Q.question("backups.keep").validate_text(plan, "many")
    assert "absolute" in Q.question("volumes.root").validate_text(plan, "srv/x")
    assert "bucket" in Q.question("object_store.buckets").validate_text(plan, "UPPER")
    assert Q.question("neo4j.auth_file").validate_text(plan, "") is None  # optional
    assert Q.question("object_store.buckets").parse("a1b, c2d ee3") == ["a1b", "c2d", "ee3"]
    with pytest.raises(UsageError, match="project"):
        Q.question("project").apply(plan, "Bad Name")


def test_page_problems_block_impossible_combinations():
    plan = set_path(default_plan(), "neo4j.edition", "enterprise")
    problems = Q.page_problems(plan, "neo4j", Facts())
    assert any("license" in p for p in problems)
    assert Q.page_problems(set_path(plan, "neo4j.accept_license_agreement", True), "neo4j", Facts()) == []
    chosen = set_path(default_plan(), "volumes.backend", "luks-file")
    assert any("device-mapper" in p for p in Q.page_problems(chosen, "volumes", HOST_OK))


def test_to_questionary_renders_choices_with_consequences_and_disabled_reasons():
    q = Q.question("volumes.backend")
    with create_pipe_input() as pipe:
        prompt = q.to_questionary(default_plan(), HOST_OK, input=pipe, output=DummyOutput())
        pipe.send_text("\r")
        assert prompt.unsafe_ask() == "gocryptfs"
    with create_pipe_input() as pipe:
        prompt = q.to_questionary(default_plan(), HOST_OK, input=pipe, output=DummyOutput())
        pipe.send_text("\x1b[B\x1b[B\r")  # down twice: LUKS file is disabled and skipped
        assert prompt.unsafe_ask() == "host-fde"
    q_text = Q.question("backups.keep")
    with create_pipe_input() as pipe:
        prompt = q_text.to_questionary(default_plan(), HOST_OK, input=pipe, output=DummyOutput())
        pipe.send_text("\x7f" * 3 + "12\r")
        assert prompt.unsafe_ask() == "12"


def test_core_imports_without_textual():
    """The core must work without the TUI (harlequin's rule): importing it loads no Textual."""
    code = (
        "import sys, wizard.plan, wizard.questions, wizard.detect, wizard.prompts, wizard.review, wizard.cli;"
        "wizard.cli.build_parser();"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('textual','screens','questionary','neo4j','docker','hvac','minio')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_one_running_project_is_the_default_name():
    one = Facts([Fact("stack", "s", True, "", {"projects": {"shop": ["neo4j", "minio"]}})])
    assert Q.apply_defaults(default_plan(), one).project == "shop"
    two = Facts([Fact("stack", "s", True, "", {"projects": {"a": ["x"], "b": ["y"]}})])
    assert Q.apply_defaults(default_plan(), two).project == "stackseal"


def test_s3_credentials_files_come_in_pairs():
    plan = set_path(default_plan(), "object_store.access_key_file", "keys/access")
    assert any("secret_key_file" in p for p in Q.page_problems(plan, "object_store", Facts()))
    both = set_path(plan, "object_store.secret_key_file", "keys/secret")
    assert Q.page_problems(both, "object_store", Facts()) == []


def test_no_question_text_is_written_in_a_screen():
    """Screens render the declarations; none repeats a title, help text or choice label."""
    import ast
    from pathlib import Path

    strings: list[str] = []
    for path in (Path(__file__).parent.parent / "screens").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        strings += [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
        ]
    sources = "\n".join(strings)  # every string a screen could show (docstrings excluded)
    for q in Q.QUESTIONS:
        assert q.title not in sources, q.id
        assert q.help[:40] not in sources, q.id
        for choice in q.choices:
            assert choice.consequence not in sources, (q.id, choice.value)
    for page in Q.PAGES:
        assert page.intro[:40] not in sources, page.id


def test_import_linter_contract_holds():
    """The static contract too (pyproject [tool.importlinter]): wizard/ never imports textual or screens."""
    from pathlib import Path

    from testbed.require import require_tool

    lint = require_tool("lint-imports", "pip install -e '.[test]'")
    result = subprocess.run([lint], cwd=Path(__file__).parent.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
