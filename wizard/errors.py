"""Error types that map to the CLI contract's exit codes.

Why: every failure a user can cause must end as one clear line with a fixed exit code
(README "Using it"), never as a traceback. Code raises these; ``wizard.cli`` turns them
into ``stackseal: error: ...`` and the exit code.
"""

from __future__ import annotations


class StacksealError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user (never contains a secret)."""

    exit_code = 1


class UsageError(StacksealError):
    """Bad input or usage: a wrong answers file, an impossible combination, a bad flag. Exit 2."""

    exit_code = 2


class OperationFailed(StacksealError):
    """An operation failed cleanly (a step, a check, an unreachable service). Exit 1."""

    exit_code = 1


class Refused(UsageError):
    """stackseal refuses to do something unsafe without an explicit flag (e.g. overwrite). Exit 2."""
