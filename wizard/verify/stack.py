"""Where the running stack really keeps its data: container mounts resolved to host paths.

Why from the containers and not only from the plan: the classic failure is a stack that runs on
something else than what the answers file says (a container started before its volume was
unlocked, an old plain Docker volume still attached). The truth is in ``docker inspect``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wizard.verify.context import VerifyContext


@dataclass(frozen=True)
class HostPath:
    """A container path and the host directory behind it, with how we know."""

    container_path: str
    host_path: str
    how: str  # "bind", "volume NAME (bind to DEVICE)", "volume NAME (Docker data root)"
    volume: str | None
    on_docker_root: bool


def resolve_mount(ctx: VerifyContext, mount: dict[str, Any]) -> HostPath:
    dest = str(mount.get("Destination", ""))
    if mount.get("Type") == "bind":
        return HostPath(dest, str(mount.get("Source", "")), "bind mount", None, False)
    name = str(mount.get("Name", ""))
    docker = ctx.docker().client
    attrs: dict[str, Any] = {}
    if docker is not None:
        try:
            attrs = docker.volumes.get(name).attrs
        except Exception:
            attrs = {}
    options = attrs.get("Options") or {}
    if options.get("device") and "bind" in str(options.get("o", "")):
        return HostPath(dest, str(options["device"]), f"volume {name} bound to {options['device']}", name, False)
    source = str(mount.get("Source") or attrs.get("Mountpoint") or "")
    return HostPath(dest, source, f"volume {name} in the Docker data root", name, True)


def container_paths(ctx: VerifyContext, service: str) -> tuple[Any | None, list[HostPath]]:
    """The service's container and every mount it has (host paths resolved)."""
    container = ctx.service_container(service)
    if container is None:
        return None, []
    return container, [resolve_mount(ctx, m) for m in container.attrs.get("Mounts", [])]
