"""The small rules the declarations share: when a question shows, which choices this host can
run, and the defaults derived from detected facts.

Why apart from the declarations: a default is a *rule about facts* (adopt the one running
project, propose a volume backend only when detection saw everything it needs), and each rule
reads its facts from the one place that defines them (:mod:`wizard.detect`, the backends'
declared requirements, the answers file's own name pattern).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wizard.detect import Facts, volume_backend_ready, volume_backend_unavailable
from wizard.plan import _PROJECT_RE as PROJECT_NAME  # the answers file's own rule, not a copy
from wizard.plan import Plan, get_path

#: Volume backends a default may propose, best first (each only when all its requirements are met).
PROPOSED_VOLUME_BACKENDS = ("gocryptfs", "fscrypt", "luks-file")


def is_(key: str, *values: Any) -> Callable[[Plan], bool]:
    return lambda plan: get_path(plan, key) in values


def all_(*preds: Callable[[Plan], bool]) -> Callable[[Plan], bool]:
    return lambda plan: all(p(plan) for p in preds)


def vol(backend: str) -> Callable[[Facts], str | None]:
    return lambda facts: volume_backend_unavailable(backend, facts)


def default_project(facts: Facts) -> str | None:
    """Adopt the one Compose project running here (several: let the user choose)."""
    projects = facts.data("stack", "projects") or {}
    if len(projects) == 1:
        name = next(iter(projects))
        return name if PROJECT_NAME.match(name) else None
    return None


def default_edition(facts: Facts) -> str | None:
    edition = facts.data("neo4j", "edition")
    return edition if edition in ("community", "enterprise") else None


def default_store(facts: Facts) -> str | None:
    return facts.data("object_store", "kind")


def default_kms(facts: Facts) -> str | None:
    fact = facts.get("vault")
    if fact is not None and fact.ok and not fact.data.get("sealed", True):
        return "vault"
    return None


def default_volume_backend(facts: Facts) -> str | None:
    """The first backend this host can run; ``host-fde`` only when detection saw the disk
    under ``volumes.root`` encrypted; otherwise no default (the user chooses, and a backend
    this host cannot run stays refused with its reason)."""
    for backend in PROPOSED_VOLUME_BACKENDS:
        if volume_backend_ready(backend, facts):
            return backend
    if facts.ok("disk_encryption") is True:
        return "host-fde"
    return None


def absolute(value: Any) -> str | None:
    return None if value is None or str(value).startswith("/") else "must be an absolute path (starting with /)"
