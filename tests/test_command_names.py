"""Every ``stackseal`` command users are told to run exists.

One check over every text users read: README.md, docs/*.md, the rendered runbooks and policies
(every example and every valid combination of the answers), and every string literal in
``wizard/`` and ``screens/`` (error messages, hints, help). Commands are read from the real
parser, nested subcommands included (see ``tests/command_names.py``).
"""

from __future__ import annotations

from pathlib import Path

from command_names import (
    ROOT,
    code_files,
    doc_files,
    named_commands,
    registered,
    source_strings,
    unregistered_commands,
)
from render_helpers import all_combinations, combo_answers, expected_refusal, gcp_service_account

from wizard.plan import load_plan, plan_from_dict
from wizard.render import render_files, writer


def test_the_check_reads_commands_and_subcommands_from_the_parser() -> None:
    commands = registered()
    assert {"wizard", "render", "plan", "apply"} <= set(commands)
    assert commands["render"] is None  # takes no subcommand


def test_the_check_catches_commands_the_cli_does_not_register() -> None:
    assert unregistered_commands("Prove it: `stackseal verify -c <answers file>`")
    assert unregistered_commands("copy each object (`stackseal rotate object-keys`), then retire it")
    assert unregistered_commands("move them out (or use 'stackseal frobnicate volume x') and run again")
    assert unregistered_commands("$ stackseal frobnicate -c stackseal.yaml")
    assert not unregistered_commands("stackseal will automate this with `stackseal rotate …` (planned).")
    assert not unregistered_commands("`stackseal apply -c <answers file> --yes`; stackseal does not create keys")
    assert not unregistered_commands("stackseal renders the files; stackseal never writes secrets to logs")
    assert unregistered_commands("```sh\nstackseal frobnicate -c stackseal.yaml\n```")
    assert not unregistered_commands("stackseal frobnicates nothing outside a code block")


def test_the_check_catches_a_missing_subcommand(monkeypatch) -> None:
    """A command with subcommands must be named with one of them (``migrate volume``, not ``migrate``)."""
    import command_names

    monkeypatch.setattr(
        command_names, "registered", lambda: {"apply": None, "migrate": frozenset({"objects", "volume"})}
    )
    assert not unregistered_commands("run 'stackseal migrate volume neo4j-data -c x.yaml'")
    assert unregistered_commands("run 'stackseal migrate volumes -c x.yaml'")
    assert unregistered_commands("run 'stackseal migrate -c x.yaml'")
    assert not unregistered_commands("prose may say stackseal migrate moves data")


def test_source_strings_keep_the_fixed_parts_of_f_strings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("name = 'x'\nmessage = f\"use 'stackseal frobnicate volume {name}' now\"\n")
    texts = [text for _, text in source_strings(module)]
    assert "use 'stackseal frobnicate volume <value>' now" in texts
    assert unregistered_commands("use 'stackseal frobnicate volume <value>' now")


def test_readme_and_docs_name_only_registered_commands() -> None:
    named = 0
    problems = {}
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        named += sum(1 for _ in named_commands(text))
        if bad := unregistered_commands(text):
            problems[str(path.relative_to(ROOT))] = bad
    assert named > 10  # the check really reads them
    assert not problems, problems


def test_messages_in_the_code_name_only_registered_commands() -> None:
    named = 0
    problems = []
    for path in code_files():
        for line, text in source_strings(path):
            named += sum(1 for _ in named_commands(text))
            problems += [f"{path.relative_to(ROOT)}:{line}: {bad}" for bad in unregistered_commands(text)]
    assert named > 5
    assert not problems, "\n".join(problems)


def _runbook_texts(tmp_path: Path) -> dict[str, str]:
    """Every public text artifact of every example and every valid combination, by label."""
    gcp_file = gcp_service_account(tmp_path / "gcp-sa.json")
    plans = {p.name: load_plan(p) for p in sorted((ROOT / "examples").glob("*.yaml"))}
    for combo in all_combinations():
        if not expected_refusal(combo[1], combo[2], combo[3]):
            plans["-".join(combo)] = plan_from_dict(combo_answers(*combo, gcp_file=gcp_file), base_dir=tmp_path)
    texts = {}
    for label, plan in plans.items():
        files = render_files(plan, writer.secret_store_for(tmp_path / "store" / label))
        for path, rendered in files.items():
            if path == "RUNBOOK.md" or path.endswith(".hcl"):
                texts[f"{label}:{path}"] = rendered.content.decode()
    return texts


def test_runbooks_and_policies_name_only_registered_commands(tmp_path: Path) -> None:
    texts = _runbook_texts(tmp_path)
    examples = sorted(p.name for p in (ROOT / "examples").glob("*.yaml"))
    assert examples and all(f"{name}:RUNBOOK.md" in texts for name in examples)
    assert sum(1 for label in texts if label.endswith("RUNBOOK.md")) == 336 + len(examples)
    problems = {label: bad for label, text in texts.items() if (bad := unregistered_commands(text))}
    assert not problems, next(iter(problems.items()))
