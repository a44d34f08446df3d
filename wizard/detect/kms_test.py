"""The KMS screen's "Test connection": each backend's own test (``wizard/kms/<backend>.py``).

Why a delegation: the connection test belongs with the backend that knows its SDK, its
credentials and its error wording (the same code ``apply``'s ``kms-key`` step runs); detection
only turns its answer into a :class:`~wizard.detect.facts.Fact`. Never a secret in the summary.
"""

from __future__ import annotations

from wizard.detect.facts import DEFAULT_TIMEOUT, Fact
from wizard.plan import Plan


def kms_test(plan: Plan, timeout: float = DEFAULT_TIMEOUT) -> Fact:
    """Can stackseal reach the chosen KMS with these answers (key present, credential accepted)?"""
    from wizard.kms import get_backend

    result = get_backend(plan).connection_test(timeout)
    return Fact("kms_test", "KMS", result.ok, result.detail)
