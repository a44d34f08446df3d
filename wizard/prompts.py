"""The plain wizard (``stackseal wizard --plain``): the same questions, asked one by one.

Why: some terminals (serial consoles, screen readers, CI debug shells) are better served by
line-by-line prompts than by a full-screen app. This renders :mod:`wizard.questions` with
questionary and reuses :mod:`wizard.review`, so both wizards ask the same questions with the same
defaults and write byte-identical answers files for the same answers. questionary is imported
only inside :meth:`Question.to_questionary`.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard import questions as Q
from wizard.detect import Fact, Facts, detect_all, kms_test
from wizard.errors import UsageError
from wizard.plan import Plan, save_plan
from wizard.review import build_review, format_review

#: ``ask(prompt, key)`` runs one questionary prompt; ``key`` is the question id (or "save").
Ask = Callable[[Any, str], Any]


def _unsafe_ask(prompt: Any, key: str) -> Any:
    """Ask and let Ctrl-C raise KeyboardInterrupt (the caller turns it into 'No changes')."""
    return prompt.unsafe_ask()


def run_plain(
    plan: Plan,
    out: Path,
    keep: set[str],
    facts: Facts | None = None,
    *,
    echo: Callable[[str], None] = print,
    ask: Ask = _unsafe_ask,
    prompt_kwargs: dict[str, Any] | None = None,
    review_parts: bool = True,
) -> Plan | None:
    """Ask every visible question, show the review, save on confirmation.

    Returns the saved plan, or None when the user declined or pressed Ctrl-C (then nothing was
    written). ``prompt_kwargs`` go to every questionary prompt (tests pass a pipe input).
    """
    kwargs = prompt_kwargs or {}
    try:
        echo("stackseal: encrypt a Compose stack's data at rest, with keys in a KMS.")
        echo(_wrap(Q.page("project").intro))
        if facts is None:
            echo("\nDetected environment:")
            facts = detect_all(plan, on_fact=lambda fact: echo(_fact_line(fact)))
        plan = Q.apply_defaults(plan, facts, keep)
        for page in Q.PAGES:
            plan = _ask_page(plan, page, facts, echo, ask, kwargs)
        echo("\nReview — nothing has been written yet.\n")
        review = build_review(plan, out, with_files=review_parts, with_steps=review_parts)
        echo(format_review(review))
        if review.errors:  # the pages refuse these already; never save an impossible plan
            echo("These answers cannot work together (see ERROR above). No changes were made.")
            return None
        import questionary

        if not ask(questionary.confirm(f"Save these answers to {out}?", default=True, **kwargs), "save"):
            echo("No changes were made.")
            return None
    except KeyboardInterrupt:
        echo("\nNo changes were made.")
        return None
    save_plan(plan, out)
    echo(f"Saved {out}. Next: stackseal apply -c {out} --yes")
    return plan


def _wrap(text: str) -> str:
    """Wrap prose at word boundaries to the terminal (the terminal itself cuts words)."""
    width = max(40, min(shutil.get_terminal_size((100, 24)).columns - 1, 100))
    return "\n".join(textwrap.fill(part, width) for part in text.split("\n"))


def _fact_line(fact: Fact) -> str:
    mark = {True: "ok", False: "--", None: "??"}[fact.ok]
    return f"  [{mark}] {fact.title}: {fact.summary}"


def _ask_page(
    plan: Plan, page: Q.Page, facts: Facts, echo: Callable[[str], None], ask: Ask, kwargs: dict[str, Any]
) -> Plan:
    """Ask one page's visible questions (visibility re-read after every answer) until it is valid."""
    while True:
        echo(f"\n== {page.title} ==\n{_wrap(page.intro)}")
        for question in Q.questions_for(page.id):
            if not question.visible(plan):
                continue
            echo("\n" + _wrap(question.help))
            if question.kind == "choice":
                for choice in question.choices:
                    reason = question.disabled_reason(choice, plan, facts)
                    if reason:
                        echo(f"  (unavailable) {choice.label}: {reason}")
            answer = ask(question.to_questionary(plan, facts, **kwargs), question.id)
            if answer is None:
                raise KeyboardInterrupt
            if question.kind not in ("choice", "bool"):
                answer = question.parse(answer)
            try:
                plan = question.apply(plan, answer)
            except UsageError as err:  # validated at the prompt; a combination may still fail
                echo(f"  ! {err}")
        if page.id == "kms":
            _offer_kms_test(plan, echo, ask, kwargs)
        problems = Q.page_problems(plan, page.id, facts)
        if not problems:
            return plan
        for problem in problems:
            echo(f"  ! {problem}")
        echo("Please answer this section again.")


def _offer_kms_test(plan: Plan, echo: Callable[[str], None], ask: Ask, kwargs: dict[str, Any]) -> None:
    """The KMS screen's "Test connection", as a question (default no: offline is fine)."""
    import questionary

    if ask(questionary.confirm("Test the connection to the KMS now?", default=False, **kwargs), "kms-test"):
        fact = kms_test(plan, 5.0)
        mark = {True: "ok", False: "FAILED", None: "not decided"}[fact.ok]
        echo(f"  Connection {mark}: {fact.summary}")
