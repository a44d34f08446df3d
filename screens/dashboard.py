"""The live verification dashboard: a tile per store with its status colour, drill-down to the
evidence, a refresh on an interval, the time of the last run and a short history of changes.

Why a thread worker and ``call_from_thread``: checks block on sockets and subprocesses; they run
in a worker (group ``verify``) and only hand the finished :class:`~wizard.verify.runner.Run`
back to the UI thread, so the UI never freezes. A refresh never starts while one runs. The
periodic refresh leaves out the checks that write (the canaries); ``a`` runs everything now, ``r``
in a tile's details re-runs one check, ``b`` opens the Backups page (:mod:`screens.backups`: last
backup, its verification, the latest ``stackseal bench`` figures; Escape comes back). Also the
wizard's last screen after Execute.

``u`` / ``l`` unlock and lock the stack (``wizard.kms.unlock``, the code ``stackseal unlock`` /
``lock`` run) in a worker of their own (group ``keys``); their events appear under "Unlock /
lock". When the Vault/OpenBao is sealed the core asks this screen for each share, which opens
:class:`~screens.unseal.UnsealShare` (masked) and hands the answer back to the worker thread.
Lock asks first when the stack runs, since it stops it (:class:`~screens.unseal.ConfirmLock`).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from screens.dashboard_detail import RerunCheck, StoreDetail
from screens.unseal import ConfirmLock, UnsealShare
from screens.widgets.store_tile import StoreTile
from wizard.errors import StacksealError
from wizard.plan import Plan
from wizard.steps.events import Emit, Event, StepDone, StepFailed, StepLog, StepProgress, StepStarted, progress_text
from wizard.verify.live import LiveState
from wizard.verify.model import Check
from wizard.verify.registry import CHECKS, check_by_id
from wizard.verify.runner import Run

#: runs the given checks and returns the run (default: the real checks against the plan's stack)
Runner = Callable[[list[Check]], Run]
DEFAULT_INTERVAL = 30.0
KEY_LOG_LINES = 6


def plan_runner(plan: Plan, answers_path: Path | None = None, progress: Emit | None = None) -> Runner:
    def run(checks: list[Check]) -> Run:
        from wizard.verify.context import VerifyContext
        from wizard.verify.runner import run_checks

        ctx = VerifyContext(plan, answers_path=answers_path, progress=progress)
        try:
            return run_checks(ctx, checks)
        finally:
            ctx.close()

    return run


class DashboardScreen(Screen):
    """Live verification status of the stack. Enter opens a tile; a runs every check now."""

    CSS_PATH = "dashboard.tcss"
    BINDINGS = [
        Binding("a", "run_all", "Run all checks now"),
        Binding("enter", "open", "Details", show=True),
        Binding("b", "backups", "Backups"),
        Binding("u", "unlock", "Unlock"),
        Binding("l", "lock", "Lock"),
        Binding("q", "quit_dashboard", "Quit"),
    ]

    def __init__(
        self,
        plan: Plan | None = None,
        interval: float = DEFAULT_INTERVAL,
        runner: Runner | None = None,
        checks: Iterable[Check] | None = None,
        answers_path: Path | None = None,
        start_on_unlock: bool = True,
    ) -> None:
        super().__init__()
        self._plan = plan
        self._answers_path = answers_path
        #: ``u`` starts the stack after opening the volumes, as ``stackseal unlock`` does (False: --no-start)
        self.start_on_unlock = start_on_unlock
        self.keys_busy = False
        self.key_lines: list[str] = []
        self._last_progress = 0.0
        self.interval = interval
        self._runner = runner
        self.checks = list(CHECKS if checks is None else checks)
        self.state = LiveState()
        self.running = False
        self._timer: Timer | None = None

    @property
    def plan(self) -> Plan:
        return self._plan if self._plan is not None else self.app.plan  # type: ignore[attr-defined]

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            answers = self._answers_path or getattr(self.app, "out", None)  # the wizard's saved answers file
            self._runner = plan_runner(self.plan, answers, self._progress)
        return self._runner

    def _progress(self, event: Event) -> None:
        """Called in a check's thread: at most two status-line updates a second reach the UI."""
        import time

        now = time.monotonic()
        if not isinstance(event, StepProgress) or now - self._last_progress < 0.5:
            return
        self._last_progress = now
        self.app.call_from_thread(self._status_line, f"running {event.step_id}: {progress_text(event)}")

    def compose(self) -> ComposeResult:
        yield Static(f"stackseal · dashboard · {self.plan.project}", id="titlebar")
        yield Static("first run…", id="dash-status")
        with Vertical(id="dash-body"):
            yield Grid(id="tiles")
            yield Static("Unlock / lock", classes="section")
            yield Static("u unlocks (keys into tmpfs, volumes open), l locks", id="dash-keys")
            yield Static("Status changes", classes="section")
            yield Static("(none yet)", id="dash-history")
        yield Footer()

    def on_mount(self) -> None:
        self.start_run(self.checks, None)
        self._timer = self.set_interval(self.interval, self.periodic)

    # -- running ---------------------------------------------------------------------------------
    def periodic(self) -> None:
        self.start_run([c for c in self.checks if c.periodic], None)

    def start_run(self, checks: list[Check], only: set[str] | None) -> bool:
        """Start a run in the worker unless one is running (returns False then)."""
        if self.running:
            return False
        self.running = True
        self._status_line("running checks…")
        self._work(checks, only)
        return True

    @work(thread=True, group="verify", exit_on_error=False)
    def _work(self, checks: list[Check], only: set[str] | None) -> None:
        try:
            run = self.runner(checks)
        except Exception as err:  # the runner itself failed (never a check: those become findings)
            self.app.call_from_thread(self._failed, f"{type(err).__name__}: {err}")
            return
        self.app.call_from_thread(self._arrived, run, only)

    def _failed(self, message: str) -> None:
        self.running = False
        self._status_line(f"verification could not run: {message}")

    def _arrived(self, run: Run, only: set[str] | None) -> None:
        self.running = False
        self.state.merge(run, only)
        self.redraw()

    # -- drawing ---------------------------------------------------------------------------------
    def _status_line(self, extra: str = "") -> None:
        last = self.state.last_run.replace("T", " ").replace("Z", " UTC") if self.state.last_run else "never"
        text = f"last run {last} · refresh every {self.interval:g} s"
        if extra:
            text += f" · {extra}"
        self.query_one("#dash-status", Static).update(text)

    def redraw(self) -> None:
        grid = self.query_one("#tiles", Grid)
        existing = {t.store: t for t in grid.query(StoreTile)}
        for store in self.state.stores():
            tile = existing.get(store)
            if tile is None:
                tile = StoreTile(store)
                grid.mount(tile)
            tile.show(self.state.status(store), self.state.of_store(store))
        if self.focused is None and self.app.screen is self:
            first = next(iter(grid.query(StoreTile)), None)
            if first is not None:
                first.focus()
        history = [c.line() for c in reversed(self.state.history)][:8]
        self.query_one("#dash-history", Static).update("\n".join(history) or "(none yet)")
        self._status_line()
        if isinstance(self.app.screen, StoreDetail) and self.app.screen.store in existing:
            self.app.screen.update_findings(self.state.of_store(self.app.screen.store))

    def tile(self, store: str) -> StoreTile:
        return self.query_one(f"#tile-{store.replace(':', '--')}", StoreTile)

    # -- actions ---------------------------------------------------------------------------------
    def action_run_all(self) -> None:
        if not self.start_run(self.checks, None):
            self.notify("a run is in progress", timeout=3)

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, StoreTile):
            self.open_store(focused.store)

    def on_store_tile_open(self, message: StoreTile.Open) -> None:
        self.open_store(message.store)

    def open_store(self, store: str) -> None:
        self.app.push_screen(StoreDetail(store, self.state.of_store(store)))

    def on_rerun_check(self, message: RerunCheck) -> None:
        check = check_by_id(message.check_id)
        if not self.start_run([check], {check.id}):
            self.notify("a run is in progress; try again in a moment", timeout=3)

    def action_backups(self) -> None:
        """The Backups page of the same plan, on top of the dashboard (Escape pops it)."""
        from screens.backups import BackupsScreen

        self.app.push_screen(BackupsScreen(self.plan))

    # -- unlock / lock ---------------------------------------------------------------------------
    def action_unlock(self) -> None:
        if self._keys_start("unlocking…"):
            self._unlock()

    def action_lock(self) -> None:
        if self._keys_start("locking…"):
            self._lock()

    def _keys_start(self, line: str) -> bool:
        if self.keys_busy:
            self.notify("an unlock or lock is in progress", timeout=3)
            return False
        self.keys_busy = True
        self.key_lines = []
        self._key_line(line)
        return True

    def _key_line(self, line: str) -> None:
        self.key_lines.append(line)  # this operation's lines; the screen shows the last few
        self.query_one("#dash-keys", Static).update("\n".join(self.key_lines[-KEY_LOG_LINES:]))

    def _key_event(self, event: Event) -> None:
        """Called in the worker thread with the core's events; only text reaches the UI."""
        if isinstance(event, StepLog | StepDone):
            text = event.message if isinstance(event, StepLog) else event.summary
        elif isinstance(event, StepProgress):
            text = f"{event.items}/{event.items_total} {event.what}" if event.items_total else event.what
        elif isinstance(event, StepFailed):
            text = f"failed: {event.error}"
        elif isinstance(event, StepStarted):
            text = event.title
        else:
            return
        self.app.call_from_thread(self._key_line, text)

    def _from_ui(self, screen: Any) -> Any:
        """Push a modal from the worker thread and wait for its answer (None if the app goes away)."""
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.app.call_from_thread(self.app.push_screen, screen, answer.put)
        while True:
            try:
                return answer.get(timeout=0.5)
            except queue.Empty:
                if not self.app.is_running:
                    return None

    def ask_share(self, where: str, index: int, threshold: int) -> str | None:
        """The core's shares provider: one masked input per share, in the UI thread."""
        answer: str | None = self._from_ui(UnsealShare(where, index, threshold))
        return answer

    def _keys_done(self, line: str, ok: bool) -> None:
        self.keys_busy = False
        self._key_line(("✔ " if ok else "✘ ") + line)

    @work(thread=True, exclusive=True, group="keys", exit_on_error=False)
    def _unlock(self) -> None:
        from wizard.kms.unlock import unlock

        try:
            outcome = unlock(self.plan, start=self.start_on_unlock, ask=self.ask_share, emit=self._key_event)
        except StacksealError as err:
            self.app.call_from_thread(self._keys_done, f"unlock: {err}", False)
            return
        except Exception as err:  # one line on screen, never a traceback
            self.app.call_from_thread(self._keys_done, f"unlock: {type(err).__name__}: {err}", False)
            return
        opened = f"opened {len(outcome.volumes)} volume(s)"
        keys = f"unwrapped {len(outcome.keys)} key(s), " if outcome.runtime_dir else ""
        self.app.call_from_thread(self._keys_done, f"unlocked: {keys}{opened}", True)

    @work(thread=True, exclusive=True, group="keys", exit_on_error=False)
    def _lock(self) -> None:
        from wizard.kms.unlock import lock, running_or_unreachable

        try:
            running, _why = running_or_unreachable(self.plan)
            if running and not self._from_ui(ConfirmLock(running)):
                self.app.call_from_thread(self._keys_done, "lock cancelled; nothing was changed", False)
                return
            outcome = lock(self.plan, stop=bool(running), emit=self._key_event)
        except StacksealError as err:
            self.app.call_from_thread(self._keys_done, f"lock: {err}", False)
            return
        except Exception as err:
            self.app.call_from_thread(self._keys_done, f"lock: {type(err).__name__}: {err}", False)
            return
        self.app.call_from_thread(self._keys_done, f"locked {len(outcome.volumes)} volume(s)", True)

    def action_quit_dashboard(self) -> None:
        if hasattr(self.app, "finish_dashboard"):
            self.app.finish_dashboard()
        else:
            self.app.exit()


class DashboardApp(App[None]):
    """``stackseal dashboard -c FILE``: the dashboard on its own."""

    TITLE = "stackseal dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("ctrl+q,ctrl+c", "quit", "Quit", priority=True, show=False)]

    def __init__(
        self,
        plan: Plan,
        interval: float = DEFAULT_INTERVAL,
        runner: Runner | None = None,
        answers_path: Path | None = None,
        start_on_unlock: bool = True,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.interval = interval
        self._runner = runner
        self._answers_path = answers_path
        self._start_on_unlock = start_on_unlock

    def on_mount(self) -> None:
        self.push_screen(
            DashboardScreen(
                self.plan,
                self.interval,
                self._runner,
                answers_path=self._answers_path,
                start_on_unlock=self._start_on_unlock,
            )
        )
