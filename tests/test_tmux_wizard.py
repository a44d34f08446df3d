"""End-to-end: the real ``stackseal`` process in a real terminal (tmux), answered by keystrokes.

Why tmux: it is how a person meets the wizard — a pseudo-terminal, TERM, key escape sequences,
process exit status — none of which Pilot exercises. Each test uses its own tmux server socket
and kills it afterwards.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from testbed.require import require_tool

from wizard.plan import load_plan

STACKSEAL = str(Path(sys.executable).parent / "stackseal")


class Tmux:
    """One detached tmux session running one command, on a private server socket."""

    def __init__(self, command: str, cwd: Path, width: int = 100, height: int = 32) -> None:
        self.tmux = require_tool("tmux", "apt-get install tmux")
        self.socket = f"stackseal-test-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        env.pop("TMUX", None)
        wrapped = f"{command}; echo EXIT=$?; sleep 120"
        subprocess.run(
            [
                self.tmux,
                "-L",
                self.socket,
                "new-session",
                "-d",
                "-x",
                str(width),
                "-y",
                str(height),
                "-c",
                str(cwd),
                "sh",
                "-c",
                wrapped,
            ],
            check=True,
            env=env,
        )

    def keys(self, *keys: str) -> None:
        for key in keys:  # one key at a time with a short gap, as a person types
            subprocess.run([self.tmux, "-L", self.socket, "send-keys", "-t", "0", key], check=True)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "send-keys", "-t", "0", "-l", text], check=True)
        time.sleep(0.15)

    def fill(self, text: str, attempts: int = 3) -> None:
        """Replace the focused field's text with ``text`` and wait until the terminal shows it.

        Why: on a loaded machine keys typed right after a page appears can reach the app before
        its first field has focus. A person would see the field unchanged and type again; so does
        this (End, Ctrl+U clear whatever a lost attempt left). The answers file is still asserted.
        """
        for _ in range(attempts):
            self.keys("End", "C-u")
            self.type(text)
            end = time.monotonic() + 10
            while time.monotonic() < end:
                if any(line.strip() == text for line in self.screen().splitlines()):
                    return
                time.sleep(0.2)
        pytest.fail(f"typed {text!r} {attempts} times; the terminal never showed it:\n{self.screen()}")

    def screen(self, history: bool = False) -> str:
        args = [self.tmux, "-L", self.socket, "capture-pane", "-p", "-t", "0"] + (["-S", "-"] if history else [])
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, deadline: float = 90.0, history: bool = False) -> str:
        end = time.monotonic() + deadline
        while True:
            screen = self.screen(history)
            if text in screen:
                return screen
            if time.monotonic() > end:
                pytest.fail(f"did not see {text!r} on the terminal; it shows:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def term():
    sessions: list[Tmux] = []

    def start(command: str, cwd: Path) -> Tmux:
        session = Tmux(command, cwd)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def test_textual_wizard_answered_by_keystrokes(term, tmp_path: Path):
    t = term(f"{shlex.quote(STACKSEAL)} wizard --out answers.yaml", tmp_path)
    t.wait_for("step 1 of 7")
    t.wait_for("Operating system: ")  # detection results arrive while the screen is usable
    t.fill("tmuxshop")
    t.keys("C-n")
    t.wait_for("step 2 of 7 · Neo4j")
    t.keys("Down")  # Enterprise: the license question appears
    t.wait_for("Accept the Neo4j Enterprise license")
    t.keys("Tab", "Space", "C-n")
    t.wait_for("step 3 of 7 · Object store")
    t.keys("C-n")
    t.wait_for("step 4 of 7 · Key management")
    t.keys("F1")
    t.wait_for("Keys: Tab / Shift+Tab")
    t.keys("Escape")
    t.keys("C-n")
    t.wait_for("step 5 of 7 · Volume encryption")
    t.keys("C-n")
    t.wait_for("step 6 of 7 · Rotation and backups")
    t.fill("45")
    t.keys("C-n")
    screen = t.wait_for("step 7 of 7 · Review")
    t.wait_for("warning(s)")  # the review (render preview + step plan) is computed
    assert not (tmp_path / "answers.yaml").exists()
    t.keys("C-n")
    screen = t.wait_for("EXIT=")
    assert "EXIT=0" in screen and "Saved answers.yaml" in screen
    plan = load_plan(tmp_path / "answers.yaml")
    assert (plan.project, plan.neo4j.edition, plan.neo4j.accept_license_agreement, plan.rotation.interval_days) == (
        "tmuxshop",
        "enterprise",
        True,
        45,
    )


def test_textual_wizard_cancel_says_no_changes_and_writes_nothing(term, tmp_path: Path):
    t = term(f"{shlex.quote(STACKSEAL)}", tmp_path)  # no arguments: the wizard
    t.wait_for("step 1 of 7")
    t.keys("C-n")
    t.wait_for("step 2 of 7")
    t.keys("C-q")
    t.wait_for("No changes were made")
    t.keys("y")
    screen = t.wait_for("EXIT=")
    assert "No changes were made." in screen and "EXIT=1" in screen
    assert list(tmp_path.iterdir()) == []


def _answer_plain(t: Tmux, answers: dict[str, list[str]]) -> str:
    """Answer each questionary prompt as it appears: by its title, else Enter (the default)."""
    handled = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        screen = t.screen(history=True)
        if "EXIT=" in screen:
            break
        prompts = [line for line in screen.splitlines() if line.startswith("? ")]
        if len(prompts) > handled:
            current = prompts[-1]
            keys = next((k for title, k in answers.items() if current.startswith(f"? {title}")), ["Enter"])
            for key in keys:
                t.type(key[1:]) if key.startswith("=") else t.keys(key)
            handled = len(prompts)
        time.sleep(0.3)
    return t.screen(history=True)


def test_plain_wizard_answered_by_keystrokes(term, tmp_path: Path):
    t = term(f"{shlex.quote(STACKSEAL)} wizard --plain --out answers.yaml", tmp_path)
    screen = _answer_plain(
        t,
        {
            "Compose project name": ["C-u", "=tmuxplain", "Enter"],
            "Key rotation interval (days)": ["C-u", "=60", "Enter"],
            "Save these answers": ["=y"],
        },
    )
    assert "EXIT=0" in screen, screen[-3000:]
    assert "Detected environment:" in screen and "Review — nothing has been written yet." in screen
    assert re.search(r"Saved answers\.yaml", screen)
    plan = load_plan(tmp_path / "answers.yaml")
    assert (plan.project, plan.rotation.interval_days) == ("tmuxplain", 60)


def test_wizard_refuses_without_a_terminal(tmp_path: Path):
    result = subprocess.run(
        [STACKSEAL, "wizard"], cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "needs an interactive terminal" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_answers_file_is_one_line_exit_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nneo4j:\n  edition: pro\n")
    result = subprocess.run(
        [STACKSEAL, "wizard", "--answers", str(bad)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "neo4j.edition: 'pro' is not one of community, enterprise" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_tui_and_plain_processes_write_identical_files(term, tmp_path: Path):
    """The same answers typed into the real TUI and the real --plain process: identical bytes."""
    (tmp_path / "tui").mkdir()
    (tmp_path / "plain").mkdir()
    t = term(f"{shlex.quote(STACKSEAL)} wizard --out answers.yaml", tmp_path / "tui")
    t.wait_for("step 1 of 7")
    t.wait_for("Operating system: ")
    t.fill("parity")
    for step in ("2 of 7", "3 of 7", "4 of 7", "5 of 7", "6 of 7"):
        t.keys("C-n")
        t.wait_for(f"step {step}")
    t.fill("45")
    t.keys("C-n")
    t.wait_for("step 7 of 7")
    t.wait_for("warning(s)")
    t.keys("C-n")
    assert "EXIT=0" in t.wait_for("EXIT=")
    p = term(f"{shlex.quote(STACKSEAL)} wizard --plain --out answers.yaml", tmp_path / "plain")
    screen = _answer_plain(
        p,
        {
            "Compose project name": ["C-u", "=parity", "Enter"],
            "Key rotation interval (days)": ["C-u", "=45", "Enter"],
            "Save these answers": ["=y"],
        },
    )
    assert "EXIT=0" in screen, screen[-3000:]
    tui, plain = (tmp_path / "tui" / "answers.yaml").read_bytes(), (tmp_path / "plain" / "answers.yaml").read_bytes()
    assert tui == plain
    assert load_plan(tmp_path / "tui" / "answers.yaml").project == "parity"
