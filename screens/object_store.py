"""Object store and SSE mode (MinIO unmaintained, SeaweedFS maintained, SSE-C needs TLS).

Impossible pairs (SSE-KMS on SeaweedFS) are disabled with the reason from :mod:`wizard.compat`.
"""

from __future__ import annotations

from screens.base import QuestionPage


class ObjectStoreScreen(QuestionPage):
    PAGE_ID = "object_store"
