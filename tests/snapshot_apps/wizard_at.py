"""The wizard opened at one screen with a fixed set of detected facts.

Why fixed facts: a snapshot must not change with the machine it runs on (whether Docker is up,
which tools are installed). The facts are plain data describing a typical Linux host; the screens
render them exactly as they would render real detection results.
"""

from __future__ import annotations

from pathlib import Path

from screens.app import FLOW, StacksealApp
from wizard.detect import PROBES, Fact, Facts
from wizard.plan import default_plan

FIXED = {
    "os": (True, "Linux 6.1.0 (x86_64)", {"system": "Linux"}),
    "root": (True, "running as root", {"root": True}),
    "tool.cryptsetup": (True, "found at /usr/sbin/cryptsetup (LUKS volumes)", {}),
    "tool.gocryptfs": (True, "found at /usr/bin/gocryptfs (gocryptfs volumes)", {}),
    "tool.fscrypt": (False, "not on PATH (needed for fscrypt volumes)", {}),
    "tool.docker": (True, "found at /usr/bin/docker (Docker CLI)", {}),
    "fuse": (True, "/dev/fuse and fusermount3 present", {}),
    "device_mapper": (False, "this kernel has no device-mapper (LUKS volumes cannot be opened)", {}),
    "fscrypt_kernel": (True, "ext4 encryption supported by this kernel", {}),
    "disk_encryption": (False, "/srv is not on an encrypted device (sda1)", {}),
    "docker": (True, "Docker 20.10.24 (API 1.41)", {"version": "20.10.24"}),
    "compose": (True, "Compose v2.40.3", {"version": "2.40.3"}),
    "stack": (False, "no Compose project is running", {}),
    "neo4j": (False, "nothing listens on 127.0.0.1:7687 (a new stack will be created)", {}),
    "object_store": (False, "http://127.0.0.1:9000: connection refused (a new store will be created)", {}),
    "vault": (False, "http://127.0.0.1:8200: connection refused", {}),
}


def fixed_facts() -> Facts:
    titles = {p.key: p.title for p in PROBES}
    return Facts(Fact(key, titles[key], ok, summary, data) for key, (ok, summary, data) in FIXED.items())


def screen_index(name: str) -> int:
    return next(i for i, cls in enumerate(FLOW) if cls.__name__ == name)


def make_app(base: Path, screen: str = "WelcomeScreen", out: Path | None = None) -> StacksealApp:
    """The wizard at ``screen``; answers go to ``out`` (default ``base/stackseal.yaml``)."""
    plan = default_plan()
    plan.set_base_dir(base)
    return StacksealApp(
        plan, out or base / "stackseal.yaml", facts=fixed_facts(), detect=False, start_at=screen_index(screen)
    )
