"""Facts about this host and any stack already running.

Why this shape:
- Each fact comes from one small *probe* with its own timeout, so the wizard can run every probe
  in a background worker and show each result the moment it arrives: detection never blocks
  the UI, and one slow service (a firewalled Vault) never delays the others.
- Probes use only the standard library (raw HTTP over the Docker socket, ``urllib``, TCP
  connects). The Neo4j driver is imported inside the one probe that needs it, and only when
  credentials are at hand: importing the wizard stays fast.
- A probe never raises: a failure is itself a fact ("not reachable: connection refused"), and a
  timeout is reported as unknown (``ok=None``), never as "absent".
- Facts feed the questions' defaults and decide which choices are offered (a volume backend this
  host cannot run is shown disabled with the reason, see :func:`volume_backend_unavailable`).

Modules: :mod:`~wizard.detect.facts` (the types), :mod:`~wizard.detect.host`,
:mod:`~wizard.detect.docker`, :mod:`~wizard.detect.services` (the probes) and
:mod:`~wizard.detect.kms_test` (the KMS screen's connection test). This module lists the probes,
runs them, and says what the facts mean for the questions.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wizard.detect.docker import docker_get, docker_socket, probe_compose, probe_docker, probe_running_stack
from wizard.detect.facts import DEFAULT_TIMEOUT, Fact, Facts, Probe
from wizard.detect.host import (
    TOOLS,
    probe_device_mapper,
    probe_disk_encryption,
    probe_fscrypt_kernel,
    probe_fuse,
    probe_os,
    probe_root,
    tool_probe,
)
from wizard.detect.kms_test import kms_test
from wizard.detect.services import neo4j_edition, probe_neo4j, probe_object_store, probe_vault, tcp_open, vault_health
from wizard.plan import Plan

#: The answers each service probe reads: when one changes, the wizard probes again.
PROBE_INPUTS: dict[str, tuple[str, ...]] = {
    "neo4j": ("neo4j.bolt_url", "neo4j.auth_file"),
    "object_store": ("object_store.endpoint",),
    "vault": ("kms.vault.address",),
    "disk_encryption": ("volumes.root",),
}


def probe_inputs(key: str, plan: Plan) -> tuple[Any, ...]:
    """The values of the answers probe ``key`` depends on (to discard a stale result)."""
    from wizard.plan import get_path

    return tuple(get_path(plan, dotted) for dotted in PROBE_INPUTS.get(key, ()))


#: Every probe, in the order the Welcome screen lists them.
PROBES: list[Probe] = [
    Probe("os", "Operating system", probe_os),
    Probe("root", "Privileges", probe_root),
    *[Probe(f"tool.{name}", name, tool_probe(name, purpose)) for name, purpose in TOOLS.items()],
    Probe("fuse", "FUSE", probe_fuse),
    Probe("device_mapper", "Device-mapper", probe_device_mapper),
    Probe("fscrypt_kernel", "Kernel fscrypt", probe_fscrypt_kernel),
    Probe("disk_encryption", "Disk encryption", probe_disk_encryption),
    Probe("docker", "Docker engine", probe_docker),
    Probe("compose", "Docker Compose", probe_compose),
    Probe("stack", "Running stack", probe_running_stack),
    Probe("neo4j", "Neo4j", probe_neo4j),
    Probe("object_store", "Object store", probe_object_store),
    Probe("vault", "Vault / OpenBao", probe_vault),
]


def detect_all(
    plan: Plan,
    on_fact: Callable[[Fact], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    probes: list[Probe] | None = None,
) -> Facts:
    """Run every probe concurrently; ``on_fact`` sees each fact as it arrives (plain mode, tests).

    The wall time is bounded by the slowest probe's own timeout, not by their sum.
    """
    facts = Facts()
    chosen = PROBES if probes is None else probes
    with ThreadPoolExecutor(max_workers=min(8, len(chosen)) or 1, thread_name_prefix="detect") as pool:
        futures = [pool.submit(probe.run, plan, timeout) for probe in chosen]
        for future in futures:
            fact = future.result()
            facts.add(fact)
            if on_fact:
                on_fact(fact)
    return facts


# ---------------------------------------------------------------------------------------------
# what the facts mean for the questions
# ---------------------------------------------------------------------------------------------


def volume_backend_unavailable(backend: str, facts: Facts) -> str | None:
    """Why ``backend`` cannot run on this host, or None if it can (or is not known yet).

    The requirements are the backend's own declaration (:func:`wizard.volumes.backend_requirements`).
    """
    from wizard.volumes import backend_requirements

    for requirement in backend_requirements(backend):
        if facts.ok(requirement.fact) is False:
            fact = facts.get(requirement.fact)
            return requirement.missing or (fact.summary if fact else f"{requirement.fact} is not available")
    return None


def volume_backend_ready(backend: str, facts: Facts) -> bool:
    """True only when detection saw every requirement of ``backend`` met (unknown is not ready)."""
    from wizard.volumes import backend_requirements

    return all(facts.ok(requirement.fact) is True for requirement in backend_requirements(backend))


__all__ = [
    "DEFAULT_TIMEOUT",
    "PROBES",
    "PROBE_INPUTS",
    "TOOLS",
    "Fact",
    "Facts",
    "Probe",
    "detect_all",
    "docker_get",
    "docker_socket",
    "kms_test",
    "neo4j_edition",
    "probe_inputs",
    "tcp_open",
    "vault_health",
    "volume_backend_ready",
    "volume_backend_unavailable",
]
