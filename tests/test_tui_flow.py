"""The whole wizard by keystrokes, and the same answers through the TUI and through ``--plain``
giving byte-identical answers files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from snapshot_apps.pilot import sync
from snapshot_apps.wizard_at import fixed_facts, make_app

from wizard.plan import default_plan, load_plan
from wizard.prompts import run_plain

DOWN = "\x1b[B"
CLEAR = "\x15"  # Ctrl+U: delete to the start of the line (questionary text prompts)

#: One set of answers, as keystrokes per question for the plain prompts ...
PLAIN_KEYS = {
    "project": CLEAR + "shop\r",
    "output_dir": CLEAR + "./out\r",
    "neo4j.edition": DOWN + "\r",
    "neo4j.accept_license_agreement": "y",
    "object_store.kind": DOWN + "\r",
    "object_store.sse": DOWN + DOWN + "\r",
    "object_store.endpoint": CLEAR + "https://127.0.0.1:9000\r",
    "object_store.buckets": CLEAR + "a1b, c2d\r",
    "kms.backend": DOWN + DOWN + "\r",
    "kms.aws.region": CLEAR + "eu-west-1\r",
    "volumes.backend": DOWN + "\r",
    "volumes.root": CLEAR + "/srv/x\r",
    "rotation.interval_days": CLEAR + "30\r",
    "backups.keep": CLEAR + "3\r",
    "save": "y",
}


async def _tui_answers(pilot) -> None:
    """... and the same answers as keystrokes in the Textual wizard."""

    async def press(*keys: str) -> None:
        for key in keys:  # one at a time, settling after each, as a person types
            await pilot.press(key)
            await pilot.pause()

    # Welcome: the project name field has focus
    await press("end", "ctrl+u", *"shop", "tab", "end", "ctrl+u", *"./out", "ctrl+n")
    # Neo4j: edition has focus; Enterprise, then accept its license
    await press("down", "tab", "space", "ctrl+n")
    # Object store: MinIO, SSE-C (MinIO needs TLS for it: an https endpoint), two buckets
    await press(
        "down",
        "tab",
        "down",
        "down",
        "tab",
        "end",
        "ctrl+u",
        *"https://127.0.0.1:9000",
        "tab",
        "end",
        "ctrl+u",
        *"a1b, c2d",
        "ctrl+n",
    )
    # KMS: two down from 'local' wraps to Vault, then AWS; region
    await press("down", "down", "tab", "tab", "end", "ctrl+u", *"eu-west-1", "ctrl+n")
    # Volumes: the next selectable backend after gocryptfs is host-fde (others disabled)
    await press("down", "tab", "end", "ctrl+u", *"/srv/x", "ctrl+n")
    # Policy
    await press("end", "ctrl+u", *"30", "tab", "tab", "end", "ctrl+u", "3", "ctrl+n")


def _check(plan) -> None:
    assert plan.project == "shop" and plan.output_dir == "./out"
    assert plan.neo4j.edition == "enterprise" and plan.neo4j.accept_license_agreement is True
    assert (plan.object_store.kind, plan.object_store.sse, plan.object_store.buckets) == (
        "minio",
        "sse-c",
        ["a1b", "c2d"],
    )
    assert plan.object_store.endpoint == "https://127.0.0.1:9000"
    assert (plan.kms.backend, plan.kms.aws.region) == ("aws", "eu-west-1")
    assert (plan.volumes.backend, plan.volumes.root) == ("host-fde", "/srv/x")
    assert (plan.rotation.interval_days, plan.backups.keep) == (30, 3)


async def _run_tui(base: Path) -> Path:
    app = make_app(base, "WelcomeScreen")
    async with app.run_test(size=(80, 24)) as pilot:
        await _tui_answers(pilot)
        await pilot.pause()
        _check(app.plan)  # the answers model, before anything is written
        assert app.index == 6 and not (base / "stackseal.yaml").exists()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("ctrl+n")  # Save answers
        await pilot.pause()
    assert app.return_value is not None and app.return_value.saved
    return base / "stackseal.yaml"


@sync
async def test_whole_flow_by_keystrokes(tmp_path: Path):
    saved = await _run_tui(tmp_path)
    _check(load_plan(saved))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stackseal.yaml"]  # apply not chosen: nothing else


def _run_plain(base: Path) -> Path:
    out = base / "stackseal.yaml"
    plan = default_plan()
    plan.set_base_dir(base)
    lines: list[str] = []
    with create_pipe_input() as pipe:

        def ask(prompt, key):
            pipe.send_text(PLAIN_KEYS.get(key, "\r"))
            return prompt.unsafe_ask()

        saved = run_plain(
            plan,
            out,
            set(),
            fixed_facts(),
            echo=lines.append,
            ask=ask,
            prompt_kwargs={"input": pipe, "output": DummyOutput()},
        )
    assert saved is not None, "\n".join(lines)
    text = "\n".join(lines)
    assert "unavailable) LUKS file" in text and "Review — nothing has been written yet." in text
    return out


def test_plain_flow(tmp_path: Path):
    _check(load_plan(_run_plain(tmp_path)))


def test_tui_and_plain_write_identical_answers_files(tmp_path: Path):
    (tmp_path / "tui").mkdir()
    (tmp_path / "plain").mkdir()
    tui = asyncio.run(_run_tui(tmp_path / "tui"))
    plain = _run_plain(tmp_path / "plain")
    assert tui.read_bytes() == plain.read_bytes()


def test_plain_decline_writes_nothing(tmp_path: Path):
    plan = default_plan()
    plan.set_base_dir(tmp_path)
    lines: list[str] = []
    with create_pipe_input() as pipe:

        def ask(prompt, key):
            pipe.send_text("n" if key == "save" else PLAIN_KEYS.get(key, "\r") if key != "project" else "\r")
            return prompt.unsafe_ask()

        assert (
            run_plain(
                plan,
                tmp_path / "stackseal.yaml",
                set(),
                fixed_facts(),
                echo=lines.append,
                ask=ask,
                prompt_kwargs={"input": pipe, "output": DummyOutput()},
            )
            is None
        )
    assert lines[-1] == "No changes were made."
    assert list(tmp_path.iterdir()) == []


@sync
async def test_answers_file_prefills_every_question(tmp_path: Path):
    """--answers: a saved run is reviewed and replayed: pressing Next everywhere saves the same file."""
    first = await _run_tui(tmp_path)
    original = first.read_bytes()
    plan = load_plan(first)
    from screens.app import StacksealApp
    from wizard import questions

    app = StacksealApp(plan, first, keep={q.id for q in questions.QUESTIONS}, facts=fixed_facts(), detect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(6):
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert app.index == 6
        await app.workers.wait_for_complete()
        await pilot.pause()
        review = app.screen.review
        assert review.answers.action == "unchanged"
        await pilot.press("ctrl+n")
    assert first.read_bytes() == original


def test_plain_kms_test_connection_against_real_openbao(tmp_path: Path, openbao):
    token = tmp_path / "token"
    token.write_text(openbao.token + "\n")
    keys = {
        "kms.backend": DOWN + "\r",
        "kms.vault.address": CLEAR + openbao.address + "\r",
        "kms.vault.token_file": CLEAR + str(token) + "\r",
        "kms-test": "y",
        "save": "n",
    }
    plan = default_plan()
    plan.set_base_dir(tmp_path)
    lines: list[str] = []
    with create_pipe_input() as pipe:

        def ask(prompt, key):
            pipe.send_text(keys.get(key, "\r"))
            return prompt.unsafe_ask()

        assert (
            run_plain(
                plan,
                tmp_path / "stackseal.yaml",
                set(),
                fixed_facts(),
                echo=lines.append,
                ask=ask,
                prompt_kwargs={"input": pipe, "output": DummyOutput()},
            )
            is None
        )
    text = "\n".join(lines)
    assert "Connection ok: token accepted" in text and openbao.token not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]


def test_plain_replay_of_a_saved_file_is_byte_identical(tmp_path: Path):
    """--plain --answers FILE, Enter everywhere: the same file comes back, byte for byte."""
    saved = _run_plain(tmp_path)
    original = saved.read_bytes()
    from wizard import questions

    plan = load_plan(saved)
    lines: list[str] = []
    with create_pipe_input() as pipe:

        def ask(prompt, key):
            pipe.send_text("y" if key == "save" else "\r")
            return prompt.unsafe_ask()

        assert (
            run_plain(
                plan,
                saved,
                {q.id for q in questions.QUESTIONS},
                fixed_facts(),
                echo=lines.append,
                ask=ask,
                prompt_kwargs={"input": pipe, "output": DummyOutput()},
            )
            is not None
        )
    assert "(unchanged)" in "\n".join(lines)
    assert saved.read_bytes() == original
