"""What the wizard shows before anything changes: files, steps, warnings.

Why a core module: the Textual Review screen and the ``--plain`` prompts must show the same
review, so it is computed here once and only rendered by each. Every part is read-only (render's
``preview`` and the steps' ``check_all`` look, they never write). When a part cannot be computed
the review says so with the reason; it never invents what would happen.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard import compat
from wizard.errors import StacksealError
from wizard.marks import FILE_MARK
from wizard.plan import Plan, dump_plan


@dataclass(frozen=True)
class FileRow:
    """One file the wizard or render would write, and how it differs from what is there."""

    path: str
    action: str  # create | update | unchanged | conflict
    diff: str | None  # unified diff (never for secret files)
    secret: bool = False


@dataclass
class Review:
    """The whole review; ``files_error`` / ``steps_error`` explain a part that is missing."""

    answers: FileRow
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    files_error: str | None = None
    steps_text: str | None = None
    steps_error: str | None = None


def answers_change(plan: Plan, out: Path) -> FileRow:
    """How saving the answers file at ``out`` would change it (created, updated, unchanged)."""
    new = dump_plan(plan)
    try:
        old = out.read_text(encoding="utf-8")
    except FileNotFoundError:  # show the whole new file: it is what the user is about to save
        diff = "".join(difflib.unified_diff([], new.splitlines(True), "/dev/null", f"{out.name} (after saving)"))
        return FileRow(str(out), "create", diff)
    except (OSError, UnicodeDecodeError) as err:
        return FileRow(str(out), "conflict", f"cannot read the existing file: {err}")
    if old == new:
        return FileRow(str(out), "unchanged", None)
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"{out.name} (now)", f"{out.name} (after saving)"
        )
    )
    return FileRow(str(out), "update", diff)


def preview_files(plan: Plan) -> tuple[list[FileRow], str | None]:
    """Render's preview of the output directory, or (empty, reason) if it cannot be computed.

    This is what ``writer.preview`` does (render in memory, classify against the disk), kept in
    two calls so that a file to be *created* can be shown in full too: its "diff against what
    exists" is its whole content. Secret files are never shown.
    """
    from wizard.kms import secret_store
    from wizard.render import render_files
    from wizard.render.writer import classify

    out = plan.output_path
    try:
        files = render_files(plan, secret_store(plan, out, preview=True))
        changes = classify(files, out)
    except StacksealError as err:
        return [], str(err)
    except Exception as err:  # an unexpected renderer failure is shown, not hidden
        return [], f"render failed: {type(err).__name__}: {err}"
    rows = []
    for c in changes:
        diff = None if c.secret else c.diff
        if c.action == "create" and not c.secret:
            text = files[c.path].content.decode("utf-8", errors="replace")
            diff = "".join(difflib.unified_diff([], text.splitlines(True), "/dev/null", c.path))
        rows.append(FileRow(c.path, c.action, diff, c.secret))
    return rows, None


def step_plan(plan: Plan) -> tuple[str | None, str | None]:
    """(what ``stackseal plan`` prints, None) or (None, why it could not be computed)."""
    from wizard.steps.context import Context
    from wizard.steps.runner import check_all, format_plan

    ctx: Any = None
    try:
        ctx = Context.for_plan(plan)
        return format_plan(check_all(ctx)), None
    except StacksealError as err:
        return None, str(err)
    except Exception as err:
        return None, f"checking the steps failed: {type(err).__name__}: {err}"
    finally:
        if ctx is not None and hasattr(ctx, "close"):
            ctx.close()


def build_review(plan: Plan, answers_out: Path, with_files: bool = True, with_steps: bool = True) -> Review:
    """Everything the review shows. Reads only; may take a few seconds (steps look at Docker)."""
    problems = compat.check_plan(plan)
    review = Review(
        answers=answers_change(plan, answers_out),
        warnings=[str(p) for p in problems if p.level == "warning"],
        errors=[str(p) for p in problems if p.level == "error"],
    )
    if with_files:
        review.files, review.files_error = preview_files(plan)
    if with_steps:
        review.steps_text, review.steps_error = step_plan(plan)
    return review


def format_review(review: Review) -> str:
    """The review as plain text (what ``--plain`` prints before asking to save)."""
    lines = [
        f"Answers file: {FILE_MARK.get(review.answers.action, '?')} {review.answers.path} ({review.answers.action})"
    ]
    if review.answers.diff:
        lines.append(review.answers.diff.rstrip())
    lines.append("")
    lines.append("Files that apply will write:")
    if review.files_error:
        lines.append(f"  (not shown: {review.files_error})")
    for row in review.files:
        note = " (secret: content never shown)" if row.secret else ""
        lines.append(f"  {FILE_MARK.get(row.action, '?')} {row.path} ({row.action}){note}")
    lines.append("")
    lines.append("Steps (what 'stackseal plan' prints):")
    lines.append(review.steps_text if review.steps_text is not None else f"  (not shown: {review.steps_error})")
    if review.errors or review.warnings:
        lines.append("")
    lines += [f"ERROR   {e}" for e in review.errors]
    lines += [f"WARNING {w}" for w in review.warnings]
    return "\n".join(lines)
