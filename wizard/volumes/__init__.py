"""Encrypted storage behind the stack's Docker volumes, one backend per technique.

``get_backend(plan)`` returns the :class:`~wizard.volumes.base.VolumeBackend` for
``volumes.backend``; the provisioning steps only talk to that interface.
"""

from __future__ import annotations

from wizard.errors import UsageError
from wizard.plan import Plan
from wizard.volumes.base import Requirement, VolumeBackend, VolumeState


def get_backend(plan: Plan) -> VolumeBackend:
    """The backend object for the plan's ``volumes.backend``."""
    name = plan.volumes.backend
    if name == "gocryptfs":
        from wizard.volumes.gocryptfs import GocryptfsBackend

        return GocryptfsBackend()
    if name == "luks-file":
        from wizard.volumes.luks_file import LuksFileBackend

        return LuksFileBackend(plan.project, plan.volumes.size_mb, plan.volumes.filesystem)
    if name == "fscrypt":
        from wizard.volumes.fscrypt import FscryptBackend

        return FscryptBackend(plan.project)
    if name in ("host-fde", "none"):
        from wizard.volumes.plain import PlainBackend

        return PlainBackend(name)
    raise UsageError(
        f"volumes.backend: '{name}' cannot be provisioned by apply yet; "
        "choose gocryptfs, luks-file, fscrypt, host-fde or none (see docs/provisioning.md)"
    )


def backend_requirements(name: str) -> tuple[Requirement, ...]:
    """What ``volumes.backend: name`` needs from the host, as declared on its backend class.

    Read without a plan (detection runs before there are answers). ``luks-device`` opens its
    device with dm-crypt exactly like ``luks-file`` until its own backend declares more.
    """
    if name == "gocryptfs":
        from wizard.volumes.gocryptfs import GocryptfsBackend

        return GocryptfsBackend.requires
    if name in ("luks-file", "luks-device"):
        from wizard.volumes.luks_file import LuksFileBackend

        return LuksFileBackend.requires
    if name == "fscrypt":
        from wizard.volumes.fscrypt import FscryptBackend

        return FscryptBackend.requires
    return ()


__all__ = ["Requirement", "VolumeBackend", "VolumeState", "backend_requirements", "get_backend"]
