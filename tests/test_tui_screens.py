"""Pilot tests, one or more per screen: keystrokes in, the answers model (``app.plan``) out."""

from __future__ import annotations

from pathlib import Path

import pytest
from snapshot_apps.pilot import sync
from snapshot_apps.wizard_at import make_app
from textual.widgets import Button, Input, RadioButton, Static

from screens.app import StacksealApp
from screens.help import HelpScreen
from screens.review import ReviewScreen
from screens.widgets.question_form import ChoiceSet, QuestionField
from wizard.plan import default_plan, load_plan

SIZE = (80, 24)


def field(app: StacksealApp, qid: str) -> QuestionField:
    return app.screen.query_one(f"#q-{qid.replace('.', '-')}", QuestionField)


async def type_text(pilot, app: StacksealApp, qid: str, text: str) -> None:
    widget = app.screen.query_one(f"#in-{qid.replace('.', '-')}", Input)
    widget.focus()
    await pilot.press("end", "ctrl+u", *list(text))
    await pilot.pause()


async def focus_choice(pilot, app: StacksealApp, qid: str) -> ChoiceSet:
    radio = app.screen.query_one(f"#in-{qid.replace('.', '-')}", ChoiceSet)
    radio.focus()
    await pilot.pause()
    return radio


def problems_text(app: StacksealApp) -> str:
    return str(app.screen.query_one("#problems", Static).render())


@sync
async def test_welcome_shows_facts_and_sets_the_project(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        panel = str(app.screen.query_one("#facts", Static).render())
        assert "no device-mapper" in panel and "Docker 20.10.24" in panel
        await type_text(pilot, app, "project", "shop")
        assert app.plan.project == "shop"
        await type_text(pilot, app, "project", "Bad Name")
        assert "project" in str(field(app, "project").query_one(".q-error", Static).render())
        assert app.plan.project == "shop"  # the invalid text never reached the answers
        await pilot.press("ctrl+n")
        assert app.index == 0 and "project" in problems_text(app)
        await type_text(pilot, app, "project", "shop2")
        await pilot.press("ctrl+n")
        assert app.index == 1


@sync
async def test_welcome_runs_real_detection_in_workers(tmp_path: Path):
    plan = default_plan()
    plan.set_base_dir(tmp_path)
    app = StacksealApp(plan, tmp_path / "stackseal.yaml", timeout=1)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.facts) == 15
        panel = str(app.screen.query_one("#facts", Static).render())
        assert "checking…" not in panel and "Operating system" in panel


@sync
async def test_neo4j_enterprise_needs_the_license(tmp_path: Path):
    app = make_app(tmp_path, "Neo4jScreen")
    async with app.run_test(size=SIZE) as pilot:
        assert not field(app, "neo4j.accept_license_agreement").display
        await focus_choice(pilot, app, "neo4j.edition")
        await pilot.press("down")
        await pilot.pause()
        assert app.plan.neo4j.edition == "enterprise"
        assert field(app, "neo4j.accept_license_agreement").display
        await pilot.press("ctrl+n")
        assert app.index == 1 and "license" in problems_text(app)
        app.screen.query_one("#in-neo4j-accept_license_agreement").focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.plan.neo4j.accept_license_agreement is True
        await pilot.press("ctrl+n")
        assert app.index == 2


@sync
async def test_object_store_disables_sse_kms_on_seaweedfs_with_the_reason(tmp_path: Path):
    app = make_app(tmp_path, "ObjectStoreScreen")
    async with app.run_test(size=SIZE) as pilot:
        buttons = list(app.screen.query_one("#in-object_store-sse", ChoiceSet).query(RadioButton))
        assert buttons[1].disabled and "unavailable" in str(buttons[1].label)
        await focus_choice(pilot, app, "object_store.kind")
        await pilot.press("down")  # MinIO
        await pilot.pause()
        assert app.plan.object_store.kind == "minio"
        assert not buttons[1].disabled
        await focus_choice(pilot, app, "object_store.sse")
        await pilot.press("down")
        await pilot.pause()
        assert app.plan.object_store.sse == "sse-kms"
        assert field(app, "object_store.kes").display
        await type_text(pilot, app, "object_store.buckets", "alpha, beta")
        assert app.plan.object_store.buckets == ["alpha", "beta"]


@sync
async def test_kms_backend_questions_and_test_connection(tmp_path: Path):
    app = make_app(tmp_path, "KmsScreen")
    async with app.run_test(size=SIZE) as pilot:
        await focus_choice(pilot, app, "kms.backend")
        for _ in range(3):
            await pilot.press("up")  # the cursor starts on the answer ('local'): up 3 = AWS
        await pilot.pause()
        assert app.plan.kms.backend == "aws"
        assert field(app, "kms.aws.region").display and not field(app, "kms.vault.address").display
        await type_text(pilot, app, "kms.aws.region", "eu-west-1")
        assert app.plan.kms.aws.region == "eu-west-1"
        await focus_choice(pilot, app, "kms.backend")
        await pilot.press("down", "down", "down")
        await pilot.pause()
        assert app.plan.kms.backend == "local"
        await pilot.click("#test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "local keys need no connection" in str(app.screen.query_one("#kms-result", Static).render())


@sync
async def test_volumes_only_offer_what_the_host_runs(tmp_path: Path):
    app = make_app(tmp_path, "VolumesScreen")
    async with app.run_test(size=SIZE) as pilot:
        buttons = {
            str(b.label).split(" —")[0]: b
            for b in app.screen.query_one("#in-volumes-backend", ChoiceSet).query(RadioButton)
        }
        assert buttons["LUKS file"].disabled and "device-mapper" in str(buttons["LUKS file"].label)
        assert buttons["fscrypt"].disabled and "not installed" in str(buttons["fscrypt"].label)
        assert not buttons["gocryptfs"].disabled
        assert app.plan.volumes.backend == "gocryptfs"
        await focus_choice(pilot, app, "volumes.backend")
        await pilot.press("down")  # skips fscrypt and both LUKS choices
        await pilot.pause()
        assert app.plan.volumes.backend == "host-fde"
        await type_text(pilot, app, "volumes.root", "relative/path")
        await pilot.press("ctrl+n")
        assert "absolute" in problems_text(app)


@sync
async def test_policy_sets_rotation_and_backups(tmp_path: Path):
    app = make_app(tmp_path, "PolicyScreen")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, app, "rotation.interval_days", "30")
        await type_text(pilot, app, "backups.keep", "14")
        assert (app.plan.rotation.interval_days, app.plan.backups.keep) == (30, 14)
        await type_text(pilot, app, "rotation.interval_days", "0")
        assert app.plan.rotation.interval_days == 30
        await pilot.press("ctrl+n")
        assert app.index == 5


@sync
async def test_review_shows_files_steps_and_saves(tmp_path: Path):
    app = make_app(tmp_path, "ReviewScreen")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.review is not None
        review = screen.review
        assert review.answers.action == "create"
        assert review.files or review.files_error  # render's preview, or the honest reason
        assert review.steps_text is not None or review.steps_error
        assert not (tmp_path / "stackseal.yaml").exists()
        assert not any(tmp_path.iterdir())  # the review wrote nothing
        from textual.widgets import Tree

        tree = screen.query_one("#file-tree", Tree)
        nodes = [tree.root]
        while nodes:
            node = nodes.pop()
            nodes.extend(node.children)
            if getattr(node.data, "path", None) == "compose.yaml":
                tree.move_cursor(node)
        await pilot.pause()
        shown = screen.query_one("#file-diff", Static).content
        assert "+services:" in shown.code  # a new file is shown in full (a Syntax diff) before it exists
        await pilot.press("ctrl+n")
    assert app.return_value is not None and app.return_value.saved
    assert load_plan(tmp_path / "stackseal.yaml") == app.plan


@sync
async def test_help_shows_the_page_questions(tmp_path: Path):
    app = make_app(tmp_path, "ObjectStoreScreen")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text", Static).render())
        assert "Server-side encryption mode" in text and "SSE-C" in text and "Ctrl+N" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("screen", ["WelcomeScreen", "KmsScreen", "ReviewScreen"])
@sync
async def test_cancel_anywhere_writes_nothing(tmp_path: Path, screen: str):
    app = make_app(tmp_path, screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert "No changes were made" in str(app.screen.query_one("#confirm-text", Static).render())
        await pilot.press("y")
        await pilot.pause()
    assert app.return_value is None
    assert list(tmp_path.iterdir()) == []


@sync
async def test_back_keeps_answers(tmp_path: Path):
    app = make_app(tmp_path, "Neo4jScreen")
    async with app.run_test(size=SIZE) as pilot:
        await type_text(pilot, app, "neo4j.bolt_url", "bolt://127.0.0.1:17687")
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.index == 1
        assert app.screen.query_one("#in-neo4j-bolt_url", Input).value == "bolt://127.0.0.1:17687"
        assert app.screen.query_one("#back", Button).disabled is False


@sync
async def test_execute_cancelled_before_the_first_step_changes_nothing(tmp_path: Path):
    """The real runner, cancelled at its first event: it stops before any step applies."""
    import threading

    from screens.execute import ExecuteScreen

    cancel = threading.Event()
    cancel.set()
    app = make_app(tmp_path, "ReviewScreen")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(ExecuteScreen(cancel))
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExecuteScreen) and screen.finished
        assert "cancelled by the user" in (screen.failed or "")
        assert "Stopped: cancelled" in str(screen.query_one("#exec-status", Static).render())
        assert not (tmp_path / "stack" / "compose.yaml").exists()
        assert screen.query_one("#next", Button).disabled is False
        await pilot.press("ctrl+n")  # Finish
    assert app.return_value is not None and app.return_value.applied is False


@sync
async def test_detection_sets_defaults_live_but_never_overrides_an_answer(tmp_path: Path, openbao):
    """A reachable, unsealed Vault/OpenBao (the real one) makes 'vault' the KMS default."""
    from wizard import detect
    from wizard.plan import set_path

    plan = set_path(default_plan(), "kms.vault.address", openbao.address)
    plan.set_base_dir(tmp_path)
    probes = [p for p in detect.PROBES if p.key == "vault"]
    app = StacksealApp(plan, tmp_path / "stackseal.yaml", probes=probes, start_at=3)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.facts.ok("vault") is True
        assert app.plan.kms.backend == "vault"
        radio = app.screen.query_one("#in-kms-backend", ChoiceSet)
        assert radio.pressed_index == 0  # the screen shows the new default
    answered = StacksealApp(
        set_path(plan, "kms.backend", "aws"),
        tmp_path / "stackseal.yaml",
        keep={"kms.backend"},
        probes=probes,
        start_at=3,
    )
    async with answered.run_test(size=SIZE) as pilot:
        await answered.workers.wait_for_complete()
        await pilot.pause()
        assert answered.plan.kms.backend == "aws"


@sync
async def test_help_on_review_explains_the_tabs(tmp_path: Path):
    app = make_app(tmp_path, "ReviewScreen")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("f1")
        await pilot.pause()
        text = str(app.screen.query_one("#help-text", Static).render())
        assert "stackseal plan" in text and "Save and apply" in text


@sync
async def test_kms_test_connection_against_real_openbao(tmp_path: Path, openbao):
    """Vault token typed as a file path, 'Test connection' reaches the real OpenBao inline."""
    token = tmp_path / "vault-token"
    token.write_text(openbao.token + "\n")
    app = make_app(tmp_path, "KmsScreen")
    async with app.run_test(size=SIZE) as pilot:
        await focus_choice(pilot, app, "kms.backend")
        await pilot.press("down")  # from 'local' wraps to Vault / OpenBao
        await pilot.pause()
        assert app.plan.kms.backend == "vault"
        await type_text(pilot, app, "kms.vault.address", openbao.address)
        await type_text(pilot, app, "kms.vault.token_file", str(token))
        assert app.plan.kms.vault.token_file == str(token)
        app.screen.query_one("#test", Button).press()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = str(app.screen.query_one("#kms-result", Static).render())
        assert "token accepted" in result and openbao.token not in result


@sync
async def test_welcome_warns_when_the_answers_file_exists(tmp_path: Path):
    (tmp_path / "stackseal.yaml").write_text("version: 1\n")
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE):
        note = str(app.screen.query_one("#out-exists", Static).render())
        assert "will be replaced" in note and "--answers" in note


@sync
async def test_execute_shows_live_steps_of_a_real_run(tmp_path: Path):
    """A real apply of a plan confined to tmp_path (volumes 'none' under it), cancelled before the
    stack would start: the screen shows each step live, then one line saying where it stopped."""
    from screens.execute import ExecuteScreen
    from wizard.plan import plan_from_dict

    class StopBeforeStart(ExecuteScreen):
        def _event(self, event) -> None:
            super()._event(event)
            if getattr(event, "step_id", "") == "ports" and type(event).__name__ == "StepDone":
                self._cancel.set()  # what the Cancel button does

    plan = plan_from_dict(
        {
            "version": 1,
            "project": "wizexec",
            "output_dir": "./stack",
            "neo4j": {"bolt_url": "bolt://127.0.0.1:27687", "http_port": None},
            "object_store": {"endpoint": "http://127.0.0.1:29000"},
            "volumes": {"backend": "none", "root": str(tmp_path / "vol")},
        },
        base_dir=tmp_path,
    )
    app = StacksealApp(plan, tmp_path / "stackseal.yaml", facts=None, detect=False, start_at=6)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await app.push_screen(StopBeforeStart())
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExecuteScreen) and screen.finished and screen.failed
        log = "\n".join(str(line.text) for line in screen.query_one("#exec-log").lines)
        assert "▶ render" in log and "✔ render: wrote" in log
        assert (tmp_path / "stack" / "compose.yaml").exists()
        assert "Stopped:" in str(screen.query_one("#exec-status", Static).render())
        states = {step_id: state for step_id, _title, state in screen.steps}
        assert states["render"] == "changed"
        assert states["compose-up"] == "pending" and "running" not in states.values()  # never started
        assert "render" in str(screen.query_one("#exec-steps", Static).render())


@sync
async def test_the_mouse_works_too(tmp_path: Path):
    app = make_app(tmp_path, "ObjectStoreScreen")
    async with app.run_test(size=SIZE) as pilot:
        buttons = list(app.screen.query_one("#in-object_store-kind", ChoiceSet).query(RadioButton))
        await pilot.click(buttons[1])
        await pilot.pause()
        assert app.plan.object_store.kind == "minio"
        await pilot.click("#next")
        await pilot.pause()
        assert app.index == 3
        await pilot.click("#back")
        await pilot.pause()
        assert app.index == 2


@sync
async def test_changing_an_address_probes_the_service_again(tmp_path: Path, openbao):
    """Typing the real OpenBao's address makes the Vault fact turn from unreachable to reachable."""
    import socket

    from wizard import detect
    from wizard.plan import set_path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    plan = set_path(set_path(default_plan(), "kms.backend", "vault"), "kms.vault.address", f"http://127.0.0.1:{closed}")
    plan.set_base_dir(tmp_path)
    app = StacksealApp(
        plan,
        tmp_path / "stackseal.yaml",
        keep={"kms.backend"},
        probes=[p for p in detect.PROBES if p.key == "vault"],
        start_at=3,
        timeout=1,
    )
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        assert app.facts.ok("vault") is False
        await type_text(pilot, app, "kms.vault.address", openbao.address)
        for _ in range(50):  # the re-probe starts once typing pauses
            await pilot.pause(0.1)
            await app.workers.wait_for_complete()
            if app.facts.ok("vault"):
                break
        assert app.facts.ok("vault") is True and openbao.address in app.facts.get("vault").summary


@sync
async def test_enter_on_a_choice_moves_to_the_next_field(tmp_path: Path):
    app = make_app(tmp_path, "ObjectStoreScreen")
    async with app.run_test(size=SIZE) as pilot:
        await focus_choice(pilot, app, "object_store.kind")
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is app.screen.query_one("#in-object_store-sse", ChoiceSet)


@sync
async def test_kms_test_connection_ends_in_an_error_when_the_test_raises(tmp_path: Path, monkeypatch):
    """An exception inside the test used to leave "Testing the connection…" on screen for ever."""
    import screens.kms

    def explode(plan, timeout):
        raise RuntimeError("header value 'hvs.SECRETTOKEN' is invalid")

    monkeypatch.setattr(screens.kms, "kms_test", explode)
    app = make_app(tmp_path, "KmsScreen")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#test")
        await app.workers.wait_for_complete()
        await pilot.pause()
        result = str(app.screen.query_one("#kms-result", Static).render())
        assert "Testing" not in result
        assert "failed unexpectedly (RuntimeError)" in result and "SECRETTOKEN" not in result
