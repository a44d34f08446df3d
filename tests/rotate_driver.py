"""Runs one volume-key rotation in its own process, so tests can SIGKILL it at any instant.

Usage (tests only): ``python tests/rotate_driver.py JSON`` with backend, project, secrets and
state directories and the volume specs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wizard.layout import VolumeSpec
from wizard.rotate.keystore import FileVolumeKeys
from wizard.rotate.volume_keys import rotate_volume_keys
from wizard.volumes.base import VolumeBackend


def backend_for(name: str, project: str) -> VolumeBackend:
    if name == "gocryptfs":
        from wizard.volumes.gocryptfs import GocryptfsBackend

        return GocryptfsBackend()
    if name == "fscrypt":
        from wizard.volumes.fscrypt import FscryptBackend

        return FscryptBackend(project)
    from wizard.volumes.luks_file import LuksFileBackend

    return LuksFileBackend(project, 64)


def specs_from(config: dict) -> list[VolumeSpec]:
    return [
        VolumeSpec(s["name"], "svc", "/data", "test", Path(s["mount_point"]), Path(s["backing"]))
        for s in config["specs"]
    ]


def main() -> int:
    config = json.loads(sys.argv[1])
    summary = rotate_volume_keys(
        None,  # type: ignore[arg-type]  # backend and specs are given
        FileVolumeKeys(Path(config["secrets"])),
        Path(config["state"]),
        lambda _event: None,
        backend=backend_for(config["backend"], config["project"]),
        specs=specs_from(config),
    )
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
