"""Running a test-bed server: free ports, a process group with its log, readiness, canary scans.

Why a module of its own: every server fixture (services.py) and any test that starts a server
of its own (a second Neo4j, a restarted OpenBao) needs the same careful start/stop — its own
process group so nothing outlives the session, a deadline, and the log tail in every error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOG_TAIL_LINES = 60


class ServiceFailed(RuntimeError):
    """A test-bed server did not start or stop as expected; the message carries its log tail."""


def free_ports(count: int = 1, *, consecutive: int = 1) -> list[int]:
    """``count`` distinct free loopback ports, each followed by ``consecutive - 1`` free ones.

    Why the sockets stay open until all are chosen: so two picks cannot return the same port.
    ``consecutive=2`` is for servers that also bind PORT+1 (OpenBao's cluster listener).
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            base = s.getsockname()[1]
            extra: list[socket.socket] = []
            try:
                for i in range(1, consecutive):
                    e = socket.socket()
                    extra.append(e)
                    e.bind(("127.0.0.1", base + i))
            except OSError:
                for e in extra:
                    e.close()
                continue
            held.extend(extra)
            ports.append(base)
    finally:
        for s in held:
            s.close()
    return ports


def tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """Last ``lines`` lines of a log file ('' if it does not exist)."""
    if path is None or not path.exists():
        return ""
    data = path.read_bytes()[-200_000:].decode(errors="replace").splitlines()
    return "\n".join(data[-lines:])


@dataclass
class ServerProcess:
    """One server process in its own process group, its output in ``log``."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)
    cwd: Path | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        env = {**os.environ, **self.env}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            # start_new_session: the server and anything it spawns form one group we can stop.
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the group, wait for a clean exit, SIGKILL after ``timeout`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        # Children that outlived the leader (none expected) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen = None

    def failure(self, what: str) -> ServiceFailed:
        state = (
            f"exited with status {self.popen.poll()}"
            if self.popen and self.popen.poll() is not None
            else "still running"
        )
        return ServiceFailed(f"{self.name}: {what} ({state}); log {self.log}, last lines:\n{tail(self.log)}")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until true; fail with the log tail on timeout or if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise self.failure(f"died before {what}")
            try:
                if ready():
                    return
            except Exception:  # not ready yet: connection refused, 5xx, ...
                pass
            time.sleep(0.1)
        raise self.failure(f"not {what} after {timeout:.0f} s")


def http_status(url: str, timeout: float = 2.0) -> int:
    """HTTP status of a GET (errors with a status return it; no connection raises)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def files_containing(root: Path, needle: bytes, *, exclude: Callable[[Path], bool] | None = None) -> list[Path]:
    """Every regular file under ``root`` whose raw bytes contain ``needle`` (a canary scan).

    Reads each file whole: the test bed's stores are small. Files that vanish mid-scan are skipped.
    """
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or (exclude and exclude(path)):
            continue
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if needle in path.read_bytes():
                found.append(path)
    return found
