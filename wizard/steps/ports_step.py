"""Step ``ports``: every host port the stack publishes is free, or already held by this stack.

Why: ``docker compose up`` fails late and cryptically ("port is already allocated") when
another program holds a port; this step names the port, the answers-file key that sets it and
the fix, before anything starts. It only reads facts.
"""

from __future__ import annotations

import errno
import socket

from wizard.errors import OperationFailed
from wizard.steps.base import Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit


def published_ports(ctx: Context) -> list[tuple[int, str]]:
    """(host port, answers-file key that sets it) for every port the rendered stack publishes."""
    from wizard.compat import host_ports

    return host_ports(ctx.plan)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def ports_held_by_project(ctx: Context) -> set[int]:
    """Host ports published by this compose project's running containers."""
    held: set[int] = set()
    for container in ctx.docker().containers.list(filters={"label": f"com.docker.compose.project={ctx.plan.project}"}):
        for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            for binding in bindings or []:
                if str(binding.get("HostPort", "")).isdigit():
                    held.add(int(binding["HostPort"]))
    return held


class PortsStep(Step):
    id = "ports"
    title = "Host ports"

    def check(self, ctx: Context) -> StepCheck:
        ports = published_ports(ctx)
        seen: dict[int, str] = {}
        for port, key in ports:
            if port in seen:
                raise OperationFailed(
                    f"{key}: port {port} is also used by {seen[port]}; give each service its own port"
                )
            seen[port] = key
        busy = [(p, k) for p, k in ports if port_in_use(p)]
        if busy:
            ours = ports_held_by_project(ctx)
            foreign = [(p, k) for p, k in busy if p not in ours]
            if foreign:
                port, key = foreign[0]
                raise OperationFailed(
                    f"port 127.0.0.1:{port} ({key}) is already in use by another program; "
                    f"stop that program or choose another port in {key}"
                )
        listed = ", ".join(str(p) for p, _ in ports)
        return StepCheck("=", f"ports {listed} free or held by this stack")

    def apply(self, ctx: Context, emit: Emit) -> str:  # never called: check is '=' or raises
        return "nothing to do"
