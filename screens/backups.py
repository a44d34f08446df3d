"""Backups: the last backup and its verification, the list, and buttons to take a backup, verify
the latest, or run a restore drill — with live progress.

Why a screen of its own, reachable standalone (``stackseal backup tui -c FILE``) and pushable from
any app (the dashboard binds a key to it): backups are operated long after the wizard ran. All
work is :mod:`wizard.backup` in a thread worker; the worker only forwards events with
``call_from_thread`` and the screen renders them (the same events the CLI prints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, ProgressBar, RichLog, Static

from wizard.errors import StacksealError
from wizard.steps.events import StepDone, StepFailed, StepLog, StepProgress, StepStarted, human_bytes, progress_text


class BackupsScreen(Screen):
    """Backups of this stack: last backup, its verification, take one, verify, restore drill."""

    #: What app.tcss gives it in the wizard and ``stackseal backup tui``; here so that it lays out the
    #: same when the dashboard (which has its own stylesheet) pushes it. Lowest priority: app.tcss wins.
    DEFAULT_CSS = """
    BackupsScreen #titlebar { height: 1; background: $primary; color: $text; text-style: bold; padding: 0 1; }
    BackupsScreen #body { height: 1fr; padding: 0 1; }
    BackupsScreen #nav { height: 1; padding: 0 1; }
    BackupsScreen #nav Button { margin: 0 2 0 0; }
    """

    BINDINGS = [
        Binding("b", "create", "Take backup"),
        Binding("v", "verify", "Verify latest"),
        Binding("d", "drill", "Restore drill"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "leave", "Back"),
    ]

    def __init__(
        self,
        plan: Any,
        wrapper: Callable[[], Any] | None = None,
        sources: Any = None,
        what: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self.plan = plan
        self._wrapper = wrapper
        self._sources = sources
        #: parts a backup takes (None: all of them, as ``backup create`` without --what)
        self.what = what
        self.busy = False
        self.last_error: str | None = None
        self.last_result: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"stackseal — backups of {self.plan.project}", id="titlebar")
        with VerticalScroll(id="body"):
            yield Static("", id="bk-summary")
            yield Static("", id="bk-bench")
            yield DataTable(id="bk-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="bk-status")
            yield ProgressBar(id="bk-progress", show_eta=False)
            yield RichLog(id="bk-log", wrap=True, markup=False, max_lines=500)
        with Horizontal(id="nav"):
            yield Button("Take backup", id="bk-create", variant="primary", compact=True)
            yield Button("Verify latest", id="bk-verify", compact=True)
            yield Button("Restore drill", id="bk-drill", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#bk-table", DataTable)
        table.add_columns("id", "parts", "size", "key", "verified")
        self.query_one("#bk-progress").display = False
        self.action_refresh()

    # -- data ---------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        from wizard.commands.backup_cmd import listing

        try:
            return listing(self.plan)
        except StacksealError as err:
            self.last_error = str(err)
            return []

    def bench_text(self) -> Text:
        """The latest ``stackseal bench`` figures for this plan's own choices (or how to get them)."""
        from wizard.bench.report import choices_overhead, load

        lines = choices_overhead(self.plan, load(self.plan.output_path))
        if not lines:
            return Text("Cost of encryption: not measured yet ('stackseal bench -c FILE').", style="dim")
        return Text("Cost of encryption here: " + "; ".join(lines[:-1]) + f" {lines[-1]}", style="dim")

    def action_refresh(self) -> None:
        self.query_one("#bk-bench", Static).update(self.bench_text())
        rows = self.rows()
        table = self.query_one("#bk-table", DataTable)
        table.clear()
        for row in reversed(rows):
            if not row["ok"]:
                table.add_row(row["id"], "UNREADABLE", "", "", escape(row["error"][:40]))
                continue
            v = row["verified"]
            # DataTable reads a str as markup: the key's labels and the history come from a hostile directory
            verified = "never" if v is None else escape(("ok " if v["ok"] else "FAILED ") + v["time"])
            key = escape(f"{row['key']['key_id']}@v{row['key']['key_version']}")
            table.add_row(
                row["id"], ",".join(p["name"] for p in row["parts"]), human_bytes(row["plaintext_bytes"]), key, verified
            )
        summary = self.query_one("#bk-summary", Static)
        if not rows:
            summary.update(Text("No backup yet. Press 'b' (Take backup) to take the first one.", style="yellow"))
            return
        last = rows[-1]
        v = last.get("verified")
        state = (
            Text("never verified: press 'v'", style="yellow")
            if v is None
            else Text(f"verified {v['time']}", style="green")
            if v["ok"]
            else Text(f"verification FAILED {v['time']}: {v['error']}", style="bold red")
        )
        summary.update(
            Text.assemble(
                ("Last backup ", "bold"),
                f"{last['id']} ({human_bytes(last.get('plaintext_bytes', 0))}, {len(last.get('parts', []))} parts) — ",
                state,
            )
        )

    # -- actions ------------------------------------------------------------------------------
    def action_create(self) -> None:
        self._start("create")

    def action_verify(self) -> None:
        self._start("verify")

    def action_drill(self) -> None:
        self._start("drill")

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
        else:
            self.app.exit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._start({"bk-create": "create", "bk-verify": "verify", "bk-drill": "drill"}[event.button.id or ""])

    def _start(self, what: str) -> None:
        if self.busy:
            self.query_one("#bk-status", Static).update(Text("Busy: wait for the running operation.", style="yellow"))
            return
        self.busy = True
        for button in self.query(Button):
            button.disabled = True
        self.query_one("#bk-status", Static).update(Text(f"▶ {what} …", style="cyan"))
        self._work(what)

    @work(thread=True, exclusive=True, group="backups", exit_on_error=False)
    def _work(self, what: str) -> None:
        from wizard.backup import drill, engine

        def emit(event: Any) -> None:
            self.app.call_from_thread(self._event, event)

        try:
            wrapper = self._wrapper() if self._wrapper else _plan_wrapper(self.plan)
            if what == "create":
                manifest = engine.create(self.plan, wrapper, self.what or engine.KINDS, emit, self._sources)
                message = (
                    f"Backup {manifest.id} taken: {len(manifest.parts)} parts, {human_bytes(manifest.plaintext_bytes)}"
                )
            else:
                backup_id = engine.repo_of(self.plan).latest()
                if what == "verify":
                    engine.verify(self.plan, wrapper, backup_id, emit)
                    message = f"Backup {backup_id} verified: every part decrypts and matches its SHA-256"
                else:
                    result = drill.drill(self.plan, wrapper, backup_id, emit, sources=self._sources)
                    message = f"Restore drill of {backup_id} passed in {result.seconds:.1f}s"
        except StacksealError as err:
            self.app.call_from_thread(self._done, None, str(err))
            return
        except Exception as err:  # shown on screen, never a traceback
            self.app.call_from_thread(self._done, None, f"{type(err).__name__}: {err}")
            return
        self.app.call_from_thread(self._done, message, None)

    def _event(self, event: Any) -> None:
        log = self.query_one("#bk-log", RichLog)
        bar = self.query_one("#bk-progress", ProgressBar)
        status = self.query_one("#bk-status", Static)
        if isinstance(event, StepStarted):
            bar.display = True
            bar.update(total=event.total, progress=event.index - 1)
            log.write(Text(f"▶ {event.title}", style="bold"))
        elif isinstance(event, StepProgress):
            status.update(f"{event.step_id}: {progress_text(event)}")
        elif isinstance(event, StepDone):
            bar.advance(1)
            log.write(Text(f"✔ {event.step_id}: {event.summary} ({event.seconds:.1f}s)", style="green"))
        elif isinstance(event, StepFailed):
            log.write(Text(f"✘ {event.step_id}: {event.error}", style="bold red"))
        elif isinstance(event, StepLog):
            log.write(Text(f"  {event.step_id}: {event.message}", style="yellow" if event.level == "warning" else ""))

    def _done(self, message: str | None, error: str | None) -> None:
        self.busy = False
        self.last_result, self.last_error = message, error
        for button in self.query(Button):
            button.disabled = False
        status = self.query_one("#bk-status", Static)
        status.update(Text(f"✔ {message}", style="bold green") if message else Text(f"✘ {error}", style="bold red"))
        if error:
            self.query_one("#bk-log", RichLog).write(Text(f"✘ {error}", style="bold red"))
        self.action_refresh()


def _plan_wrapper(plan: Any) -> Any:
    from wizard.commands.backup_cmd import key_wrapper

    return key_wrapper(plan)


class BackupsApp(App[None]):
    """``stackseal backup tui -c FILE``: the Backups screen on its own."""

    CSS_PATH = "app.tcss"
    TITLE = "stackseal backups"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True)]

    def __init__(self, plan: Any, **screen_args: Any) -> None:
        super().__init__()
        self.plan = plan
        self._screen_args = screen_args

    def on_mount(self) -> None:
        self.push_screen(BackupsScreen(self.plan, **self._screen_args))


def run_backups_app(config: str) -> int:
    from wizard.commands.apply_cmd import load_checked

    BackupsApp(load_checked(config)).run()
    return 0
