"""Volume encryption: only backends this host can run are selectable; the others say why.

The reasons come from detection (:func:`wizard.detect.volume_backend_unavailable`).
"""

from __future__ import annotations

from screens.base import QuestionPage


class VolumesScreen(QuestionPage):
    PAGE_ID = "volumes"
