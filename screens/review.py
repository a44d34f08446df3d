"""Review: the files that will be written (tree + diff against what exists), the step plan
(exactly what ``stackseal plan`` prints) and the warnings — before anything changes.

Why a worker: render's preview and the steps' checks read the disk and ask Docker, which may take
a moment; the screen stays responsive and fills in when :func:`wizard.review.build_review` is done.
Nothing is written until "Save".
"""

from __future__ import annotations

from pathlib import PurePosixPath

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, LoadingIndicator, Static, TabbedContent, TabPane, Tree
from textual.widgets.tree import TreeNode

from screens.base import WizardScreen
from wizard.marks import FILE_LEGEND, FILE_MARK
from wizard.plan import Plan
from wizard.review import FileRow, Review, build_review

ACTION_STYLE = {"create": "green", "update": "yellow", "unchanged": "dim", "conflict": "bold red"}


class ReviewScreen(WizardScreen):
    """Review — nothing has been written yet.

    Files: the answers file and every file 'apply' will write (+ create, ~ update, = unchanged,
    ! conflict with a file you edited). Move through the tree to see each diff; secret files are
    listed, never shown. Steps: exactly what 'stackseal plan' prints. Warnings: every combination
    warning and error; errors must be fixed (Back) before saving.

    Save answers writes the answers file only. Save and apply also runs the steps now.
    """

    TITLE_TEXT = "Review"
    NEXT_LABEL = "Save answers"

    review: Review | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Nothing has been written yet. Check what will happen, then save.", id="review-summary")
        yield LoadingIndicator(id="review-loading")
        with TabbedContent(id="review-tabs"):
            with TabPane("Files", id="tab-files"):
                yield Tree("files", id="file-tree")
                yield Static("", id="file-diff")
            with TabPane("Steps", id="tab-steps"):
                yield Static("", id="steps-text")
            with TabPane("Warnings", id="tab-warnings"):
                yield Static("", id="warnings-text")

    def compose_buttons(self) -> ComposeResult:
        yield Button("Save and apply", id="apply", compact=True)

    def on_mount(self) -> None:
        self.query_one("#review-tabs").display = False
        self._build(self.wizard.plan)

    @work(thread=True, exclusive=True, group="review", exit_on_error=False)
    def _build(self, plan: Plan) -> None:
        try:
            review = build_review(plan, self.wizard.out)
        except Exception as err:  # a bug must not leave the screen loading forever
            self.app.call_from_thread(self._failed, f"{type(err).__name__}: {err}")
            return
        self.app.call_from_thread(self._show, review)

    def _failed(self, message: str) -> None:
        if not self.is_mounted:
            return
        self.query_one("#review-loading").display = False
        self.query_one("#review-summary", Static).update(
            Text(f"The review could not be computed: {message}", style="bold red")
        )
        self.query_one("#next", Button).disabled = True
        self.query_one("#apply", Button).disabled = True

    def _show(self, review: Review) -> None:
        if not self.is_mounted:
            return
        self.review = review
        self.query_one("#review-loading").display = False
        self.query_one("#review-tabs").display = True
        self._fill_files(review)
        steps = review.steps_text if review.steps_text is not None else f"Step plan not available: {review.steps_error}"
        self.query_one("#steps-text", Static).update(Text(steps))
        lines = Text()
        for error in review.errors:
            lines.append(f"ERROR    {error}\n", style="bold red")
        for warning in review.warnings:
            lines.append(f"WARNING  {warning}\n", style="yellow")
        if not (review.errors or review.warnings):
            lines.append("No warnings.")
        self.query_one("#warnings-text", Static).update(lines)
        counts: dict[str, int] = {}
        for row in review.files:
            counts[row.action] = counts.get(row.action, 0) + 1
        files = ", ".join(f"{n} {a}" for a, n in counts.items()) or "not available"
        summary = (
            f"Nothing has been written yet. Answers: {review.answers.action} {review.answers.path} · "
            f"files: {files} · {len(review.errors)} error(s), {len(review.warnings)} warning(s)"
        )
        self.query_one("#review-summary", Static).update(summary)
        blocked = bool(review.errors)
        self.query_one("#next", Button).disabled = blocked
        # Apply stays possible when the step plan could not be computed (e.g. Docker is down): the
        # Steps tab says why, and Execute stops at that step with the same message.
        self.query_one("#apply", Button).disabled = blocked
        if blocked:
            self.query_one("#problems", Static).update("✘ Fix the errors listed under Warnings (Back) before saving.")

    def _fill_files(self, review: Review) -> None:
        tree: Tree[FileRow] = self.query_one("#file-tree", Tree)
        tree.clear()
        tree.root.expand()
        answers = review.answers
        tree.root.add_leaf(self._label(PurePosixPath(answers.path).name + "  (answers file)", answers), data=answers)
        out_node = tree.root.add(f"{self.wizard.plan.output_dir}/", expand=True)
        if review.files_error:
            out_node.add_leaf(Text(f"not available: {review.files_error}", style="red"))
        dirs: dict[str, TreeNode[FileRow]] = {"": out_node}
        for row in sorted(review.files, key=lambda r: r.path):
            parts = PurePosixPath(row.path).parts
            parent = out_node
            for depth in range(1, len(parts)):
                key = "/".join(parts[:depth])
                if key not in dirs:
                    dirs[key] = parent.add(parts[depth - 1] + "/", expand=True)
                parent = dirs[key]
            parent.add_leaf(self._label(parts[-1], row), data=row)
        tree.root.set_label(Text(f"Files ({FILE_LEGEND})"))
        self._show_diff(answers)

    @staticmethod
    def _label(name: str, row: FileRow) -> Text:
        text = Text(f"{FILE_MARK.get(row.action, '?')} {name}", style=ACTION_STYLE.get(row.action, ""))
        if row.secret:
            text.append("  (secret)", style="dim")
        return text

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, FileRow):
            self._show_diff(event.node.data)

    def _show_diff(self, row: FileRow) -> None:
        diff = self.query_one("#file-diff", Static)
        if row.secret:
            diff.update(Text(f"{row.path}: secret file — generated once, never shown.", style="dim"))
        elif row.diff:
            diff.update(Syntax(row.diff, "diff", theme="ansi_dark", word_wrap=True))
        else:
            diff.update(
                Text(f"{row.path}: {row.action}" + (" (new file)" if row.action == "create" else ""), style="dim")
            )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            event.stop()
            self.wizard.save_and_apply()
            return
        super().on_button_pressed(event)
