"""What a provisioning step is.

Why this shape (pyinfra's operations, Terraform's plan): a step first *reads the current facts*
and says what it would change (``check``), and only then *does what is missing* (``apply``).
Running a step twice changes nothing the second time. The runner calls ``check`` again right
before each ``apply`` so a step never acts on facts gathered before earlier steps ran (pyinfra's
stale-facts pitfall). A step that cannot detect whether its work is already done says so with
``idempotent=False`` and the plan shows it. What the host must offer before any step acts
(tools, the Docker engine, free ports) is a :class:`Precondition`: it only looks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

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


#: What a stage read about the world: plain JSON-able data (numbers, strings, lists, dicts), so a
#: decision can be tested from a case file (``tests/step_cases/<id>/*.json``) with no host at all.
Facts = dict[str, Any]


class Stage:
    """One line of the plan: a :class:`Precondition` (only looks) or a :class:`Step` (also acts).

    ``check`` is split in two, like pyinfra's operations and their JSON tests: ``read_facts``
    does all the looking (files, Docker, the store, the KMS) and nothing else, and ``decide``
    turns those facts into the :class:`StepCheck` without touching anything. Every rule of a
    stage therefore lives in ``decide`` and is tested as data. A stage that cannot separate the
    two (or a test's throw-away stage) overrides ``check`` itself.
    """

    id: str = ""
    title: str = ""

    def read_facts(self, ctx: Context) -> Facts:
        """Read what ``decide`` needs (never change anything)."""
        raise NotImplementedError(f"{type(self).__name__} reads no facts: it overrides check()")

    def decide(self, facts: Facts) -> StepCheck:
        """What to do, from the facts alone (pure: no I/O)."""
        raise NotImplementedError(f"{type(self).__name__} decides nothing: it overrides check()")

    def check(self, ctx: Context) -> StepCheck:
        """Read the facts and say what ``apply`` would do."""
        return self.decide(self.read_facts(ctx))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


class Precondition(Stage):
    """Something the host must offer before any step acts (tools, the Docker engine, free ports).

    It has no ``apply``: ``decide`` says '=' with what it found, or raises
    :class:`~wizard.errors.OperationFailed` naming what is missing and how to get it. The plan
    lists it like a step so the operator sees what was checked.
    """


class Step(Stage, ABC):
    """One provisioning job: ``check`` says what is missing, ``apply`` does it."""

    @abstractmethod
    def apply(self, ctx: Context, emit: Emit) -> str:
        """Do what is missing; return one line saying what changed. Raise StacksealError on failure.

        Must leave the previous state usable when it fails, and never delete user data.
        """
