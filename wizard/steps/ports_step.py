"""Precondition ``ports``: every host port the stack publishes is free, or already held by this stack.

Why: ``docker compose up`` fails late and cryptically ("port is already allocated") when
another program holds a port; this names the port, the answers-file key that sets it and the
fix, before anything starts. Two services on one port is the answers check's own rule
(:func:`wizard.compat.duplicate_ports`).
"""

from __future__ import annotations

import errno
import socket

from wizard.compat import duplicate_ports, host_ports
from wizard.errors import OperationFailed
from wizard.steps.base import Facts, Precondition, StepCheck
from wizard.steps.context import Context


def published_ports(ctx: Context) -> list[tuple[int, str]]:
    """(host port, answers-file key that sets it) for every port the rendered stack publishes."""
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
    from wizard.detect.docker import PROJECT_LABEL

    held: set[int] = set()
    for container in ctx.docker().containers.list(filters={"label": f"{PROJECT_LABEL}={ctx.plan.project}"}):
        for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
            for binding in bindings or []:
                if str(binding.get("HostPort", "")).isdigit():
                    held.add(int(binding["HostPort"]))
    return held


class PortsPrecondition(Precondition):
    id = "ports"
    title = "Host ports"

    def read_facts(self, ctx: Context) -> Facts:
        ports = published_ports(ctx)
        busy = sorted({port for port, _ in ports if port_in_use(port)})
        return {
            "ports": [[port, key] for port, key in ports],
            "busy": busy,
            "held_by_project": sorted(ports_held_by_project(ctx)) if busy else [],
        }

    def decide(self, facts: Facts) -> StepCheck:
        ports = [(int(port), str(key)) for port, key in facts["ports"]]
        for key, message in duplicate_ports(ports):
            raise OperationFailed(f"{key}: {message}")
        foreign = [(p, k) for p, k in ports if p in facts["busy"] and p not in facts["held_by_project"]]
        if foreign:
            port, key = foreign[0]
            raise OperationFailed(
                f"port 127.0.0.1:{port} ({key}) is already in use by another program; "
                f"stop that program or choose another port in {key}"
            )
        listed = ", ".join(str(p) for p, _ in ports)
        return StepCheck("=", f"ports {listed} free or held by this stack")
