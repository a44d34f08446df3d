"""Rotation and backups policy."""

from __future__ import annotations

from screens.base import QuestionPage


class PolicyScreen(QuestionPage):
    PAGE_ID = "policy"
