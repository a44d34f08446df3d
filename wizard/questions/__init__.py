"""Every question of the wizard, declared once, as data.

Why: the Textual screens (``screens/``) and the plain prompts (``stackseal wizard --plain``)
render the same declarations, so a question's wording, its trade-off explanation, its choices
and their consequences, its default and its validation exist in exactly one place. This follows
harlequin's ``options.py``: one declaration, rendered several ways; the questionary rendering
(:meth:`Question.to_questionary`) imports questionary lazily, and the Textual rendering lives in
``screens/widgets/`` because the core package must never import Textual.

Each question's ``id`` is a dotted key of the answers file (:func:`wizard.plan.get_path` /
:func:`wizard.plan.set_path`), so answering a question *is* setting that key, validated by the
same code that validates a hand-written ``stackseal.yaml``.

A choice is offered disabled, with the reason beside it, when this host cannot run it
(detection) or when it cannot work with the answers given so far (:mod:`wizard.compat`):
never offer what cannot work without saying why.
"""

from __future__ import annotations

from wizard import compat
from wizard.detect import Facts
from wizard.plan import Plan
from wizard.questions.keys import KEY_QUESTIONS
from wizard.questions.model import Choice, Kind, Page, Question
from wizard.questions.stack import STACK_QUESTIONS

PAGES: tuple[Page, ...] = (
    Page(
        "project",
        "Project",
        "stackseal writes a Docker Compose stack (Neo4j, an S3 object store, optional OpenBao) whose data is "
        "encrypted at rest, and starts it. Nothing changes until you review and confirm: cancelling at any "
        "point leaves no files.",
    ),
    Page(
        "neo4j",
        "Neo4j",
        "No Neo4j edition encrypts its store by itself, Enterprise included: what protects the graph at rest "
        "is the encrypted volume under /data and /logs (next pages). The edition decides licensing and backups.",
    ),
    Page(
        "object_store",
        "Object store",
        "Objects are encrypted by the store itself (server-side encryption): with the store's own key "
        "(SSE-S3), with keys from your KMS (SSE-KMS) or with keys your clients send (SSE-C). The store's "
        "volume is encrypted too.",
    ),
    Page(
        "kms",
        "Key management",
        "The KMS holds the key that wraps every key stackseal keeps: volume keys, credentials and object "
        "keys are stored only wrapped (secrets/<name>.wrapped.json), and unwrapped into a tmpfs runtime "
        "directory only while the stack is unlocked ('stackseal unlock' / 'lock'). Render and apply need the "
        "KMS; 'Test connection' checks the answers now.",
    ),
    Page(
        "volumes",
        "Volume encryption",
        "The host directories behind the Docker volumes (Neo4j store, transaction logs, logs, object data) are "
        "encrypted on the host, each with its own key, stored wrapped by the KMS and unwrapped into tmpfs only "
        "while the stack is unlocked. Only backends this host can run are selectable; the others say why.",
    ),
    Page(
        "policy",
        "Rotation and backups",
        "How often keys should rotate and where backups will go. The runbook uses both; they can be changed "
        "later in stackseal.yaml.",
    ),
)


QUESTIONS: tuple[Question, ...] = STACK_QUESTIONS + KEY_QUESTIONS

_BY_ID = {q.id: q for q in QUESTIONS}


def question(qid: str) -> Question:
    return _BY_ID[qid]


def page(page_id: str) -> Page:
    return next(p for p in PAGES if p.id == page_id)


def questions_for(page_id: str) -> list[Question]:
    return [q for q in QUESTIONS if q.page == page_id]


def visible_questions(plan: Plan, page_id: str | None = None) -> list[Question]:
    return [q for q in QUESTIONS if (page_id is None or q.page == page_id) and q.visible(plan)]


def apply_defaults(plan: Plan, facts: Facts, keep: set[str] | frozenset[str] = frozenset()) -> Plan:
    """Set every fact-derived default, except for questions in ``keep`` (answered or pre-filled).

    A default that this host cannot run (a disabled choice) is never set.
    """
    for q in QUESTIONS:
        if q.default is None or q.id in keep:
            continue
        value = q.default(facts)
        if value is None or value == q.value(plan):
            continue
        choice = q.choice_for(value)
        if q.kind == "choice" and (choice is None or q.disabled_reason(choice, plan, facts)):
            continue
        plan = q.apply(plan, value)
    return plan


def page_problems(plan: Plan, page_id: str, facts: Facts) -> list[str]:
    """What stops the user from leaving ``page_id`` (impossible combinations, disabled choices)."""
    ids = {q.id for q in visible_questions(plan, page_id)}
    prefixes = tuple(q.id for q in questions_for(page_id))
    problems = []
    for q in visible_questions(plan, page_id):
        if q.kind == "choice":
            choice = q.choice_for(q.value(plan))
            reason = q.disabled_reason(choice, plan, facts) if choice is not None else None
            if choice is not None and reason:
                problems.append(f"{q.title}: {choice.label} is unavailable: {reason}")
    for problem in compat.errors(plan):
        if problem.path in ids or problem.path.startswith(prefixes) or problem.path.split(".")[0] == page_id:
            message = f"{problem.path}: {problem.message}"
            if message not in problems:
                problems.append(message)
    return problems


__all__ = [
    "PAGES",
    "QUESTIONS",
    "Choice",
    "Kind",
    "Page",
    "Question",
    "apply_defaults",
    "page",
    "page_problems",
    "question",
    "questions_for",
    "visible_questions",
]
