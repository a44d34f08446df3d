"""What a provisioning step is.

Why this shape (pyinfra's operations, Terraform's plan): a step first *reads the current facts*
and says what it would change (``check``), and only then *does what is missing* (``apply``).
Running a step twice changes nothing the second time. The runner calls ``check`` again right
before each ``apply`` so a step never acts on facts gathered before earlier steps ran (pyinfra's
stale-facts pitfall). A step that cannot detect whether its work is already done says so with
``idempotent=False`` and the plan shows it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from wizard.steps.context import Context
    from wizard.steps.events import Emit

#: '+' creates something, '~' changes something that exists, '=' nothing to do.
Action = Literal["+", "~", "="]


@dataclass(frozen=True)
class StepCheck:
    """What a step would do now, read from the current facts.

    ``summary`` is one line ("create 5 encrypted volumes", or for '=' the reason nothing is
    needed: "all 5 volumes unlocked"). ``details`` are the per-item lines shown under it.
    ``destroys`` lists what applying would destroy; the runner refuses such a step unless the
    user passed the explicit flag, and shows the list either way.
    """

    action: Action
    summary: str
    details: tuple[str, ...] = ()
    idempotent: bool = True
    destroys: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> bool:
        return self.action != "="


class Step(ABC):
    """One provisioning job. Subclasses set ``id`` and ``title`` and implement both phases."""

    id: str = ""
    title: str = ""

    @abstractmethod
    def check(self, ctx: Context) -> StepCheck:
        """Read the facts (never change anything) and say what ``apply`` would do."""

    @abstractmethod
    def apply(self, ctx: Context, emit: Emit) -> str:
        """Do what is missing; return one line saying what changed. Raise StacksealError on failure.

        Must leave the previous state usable when it fails, and never delete user data.
        """

    def __repr__(self) -> str:
        return f"<Step {self.id}>"
