"""The shape of a question: its choices, its page, how typed text becomes an answer, and how it
is rendered as a questionary prompt. The declarations themselves are in
:mod:`wizard.questions.stack` and :mod:`wizard.questions.keys`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from wizard import compat
from wizard.detect import Facts
from wizard.errors import UsageError
from wizard.plan import Plan, get_path, set_path

Kind = Literal["choice", "text", "int", "bool", "list"]


@dataclass(frozen=True)
class Choice:
    """One option: its value in the answers file, a short label and its one-line consequence."""

    value: Any
    label: str
    consequence: str
    #: Why this host cannot run it (detection), or None.
    unavailable: Callable[[Facts], str | None] | None = None


@dataclass(frozen=True)
class Page:
    """A group of questions shown together (one Textual screen, one section of --plain)."""

    id: str
    title: str
    intro: str


@dataclass(frozen=True)
class Question:
    """One question; ``id`` is the answers-file key it sets."""

    id: str
    page: str
    title: str
    help: str
    kind: Kind = "choice"
    choices: tuple[Choice, ...] = ()
    #: Default derived from detected facts (None = keep the answers file's default).
    default: Callable[[Facts], Any] | None = None
    #: Shown only when this returns True for the answers so far.
    visible_if: Callable[[Plan], bool] | None = None
    #: Empty text means "not set" (None) instead of an error.
    optional: bool = False
    placeholder: str = ""
    #: Extra validation beyond the answers-file schema: returns an error message or None.
    check: Callable[[Any], str | None] | None = None

    # -- state -------------------------------------------------------------------------------
    def visible(self, plan: Plan) -> bool:
        return self.visible_if is None or bool(self.visible_if(plan))

    def value(self, plan: Plan) -> Any:
        return get_path(plan, self.id)

    def choice_for(self, value: Any) -> Choice | None:
        return next((c for c in self.choices if c.value == value), None)

    def disabled_reason(self, choice: Choice, plan: Plan, facts: Facts) -> str | None:
        """Why ``choice`` cannot be chosen here and now, or None if it can."""
        if choice.unavailable is not None:
            reason = choice.unavailable(facts)
            if reason:
                return reason
        try:
            candidate = set_path(plan, self.id, choice.value)
        except UsageError as err:
            return str(err).split(": ", 1)[-1]
        for problem in compat.errors(candidate):
            if problem.path == self.id:
                return problem.message
        return None

    # -- text <-> value --------------------------------------------------------------------
    def format(self, value: Any) -> str:
        """How a value is shown in a text field."""
        if value is None:
            return ""
        if self.kind == "list":
            return ", ".join(str(v) for v in value)
        if self.kind == "bool":
            return "yes" if value else "no"
        return str(value)

    def parse(self, text: str) -> Any:
        """Turn what the user typed into the answers-file value (UsageError names the key)."""
        text = text.strip()
        if self.kind == "choice":
            for choice in self.choices:
                if text == str(choice.value):
                    return choice.value
            raise UsageError(f"{self.id}: '{text}' is not one of {', '.join(str(c.value) for c in self.choices)}")
        if text == "" and self.optional:
            return None
        if text == "":
            raise UsageError(f"{self.id}: a value is needed ({self.title})")
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise UsageError(f"{self.id}: '{text}' is not a whole number") from None
        if self.kind == "list":
            return [part.strip() for part in text.replace(" ", ",").split(",") if part.strip()]
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("y", "yes", "true", "1", "on"):
                return True
            if lowered in ("n", "no", "false", "0", "off"):
                return False
            raise UsageError(f"{self.id}: answer yes or no")
        return text

    def apply(self, plan: Plan, value: Any) -> Plan:
        """A new plan with this answer set; UsageError (one line naming the key) if invalid."""
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise UsageError(f"{self.id}: {problem}")
        if self.kind == "choice":
            choice = self.choice_for(value)
            if choice is None:
                raise UsageError(f"{self.id}: {value!r} is not one of {', '.join(str(c.value) for c in self.choices)}")
        return set_path(plan, self.id, value)

    def validate_text(self, plan: Plan, text: str) -> str | None:
        """The error for typed ``text`` (None if fine): what text fields show inline."""
        try:
            self.apply(plan, self.parse(text))
        except UsageError as err:
            return str(err)
        return None

    # -- renderings ---------------------------------------------------------------------------
    def choice_title(self, choice: Choice, reason: str | None = None) -> str:
        """One line: label, consequence, and why it is disabled when it is."""
        if reason:
            return f"{choice.label} — unavailable: {reason}"
        return f"{choice.label} — {choice.consequence}"

    def to_questionary(self, plan: Plan, facts: Facts, **prompt_kwargs: Any) -> Any:
        """This question as a questionary prompt (questionary is imported here only)."""
        import questionary

        message = f"{self.title}"
        current = self.value(plan)
        if self.kind == "choice":
            choices = []
            default_choice = None
            for choice in self.choices:
                reason = self.disabled_reason(choice, plan, facts)
                item = questionary.Choice(
                    title=self.choice_title(choice, reason) if not reason else choice.label,
                    value=choice.value,
                    disabled=reason,
                )
                choices.append(item)
                if choice.value == current and not reason:
                    default_choice = item
            if default_choice is None:
                default_choice = next((c for c in choices if not c.disabled), None)
            return questionary.select(
                message, choices=choices, default=default_choice, instruction="(arrows, Enter)", **prompt_kwargs
            )
        if self.kind == "bool":
            return questionary.confirm(message, default=bool(current), **prompt_kwargs)

        def validate(text: str) -> bool | str:
            error = self.validate_text(plan, text)
            return True if error is None else error

        return questionary.text(message, default=self.format(current), validate=validate, **prompt_kwargs)
