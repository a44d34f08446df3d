"""The marks every listing of changes uses, in one place.

Why: ``stackseal render``, ``stackseal plan``, the review (CLI and TUI) and the plan's JSON all
show what would change; a user who learns "+ creates, ~ changes, = nothing to do, ! your edit
would be overwritten" in one of them must read the same in all of them.
"""

from __future__ import annotations

#: a file's action (render, the review, the TUI's file tree) -> its mark
FILE_MARK = {"create": "+", "update": "~", "unchanged": "=", "conflict": "!"}

#: the legend shown above a list of files
FILE_LEGEND = ", ".join(f"{mark} {action}" for action, mark in FILE_MARK.items())

#: a step's action mark (:data:`wizard.steps.base.Action`) -> the verb ``stackseal plan --json`` reports
STEP_VERB = {"+": "create", "~": "change", "=": "no change"}

#: a step's action mark -> its counter in the plan's summary ("2 to create, 1 to change, 6 already done")
STEP_COUNT = {"+": "create", "~": "change", "=": "unchanged"}
