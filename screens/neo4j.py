"""Neo4j path: edition and how to reach it.

The honest part (no edition encrypts at rest by itself; Enterprise adds online backups) is in
the question's help in :mod:`wizard.questions`, shown here and in ``--plain`` alike.
"""

from __future__ import annotations

from screens.base import QuestionPage


class Neo4jScreen(QuestionPage):
    PAGE_ID = "neo4j"
