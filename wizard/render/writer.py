"""Write rendered artifacts safely: compare, diff, refuse to clobber, write atomically, record.

Why (pyinfra/Terraform practice): a file stackseal did not write, or that the user changed since
stackseal wrote it, is never overwritten silently. Each file is classified first:

- ``create``: not on disk;
- ``unchanged``: on disk with the same bytes (nothing is written: rendering twice is a no-op);
- ``update``: on disk, differs, and its hash is the one the manifest recorded (stackseal's own
  previous output, untouched by the user);
- ``conflict``: on disk, differs, and stackseal did not write it or the user edited it since.

Any conflict makes :func:`write` refuse (exit 2) with a unified diff of each conflicting public
file, unless ``force``. Secret files never get a diff. Every write is atomic (temp + rename);
``<out_dir>/.stackseal-manifest.json`` records each written file's hash. Generated secrets are
never regenerated (the secret store returns what exists); the ``secrets/`` directory is 0700.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wizard.errors import Refused, UsageError
from wizard.fsutil import atomic_write, sha256_bytes
from wizard.kms import secret_store as kms_store
from wizard.kms.base import SecretStore
from wizard.kms.local import SECRET_DIR_MODE, LocalSecretStore
from wizard.plan import Plan
from wizard.render import RenderedFile, render_files

MANIFEST = ".stackseal-manifest.json"
MANIFEST_VERSION = 1

Action = Literal["create", "update", "unchanged", "conflict"]


@dataclass(frozen=True)
class FileChange:
    """What writing one rendered file would do (``diff`` is never set for secret files)."""

    path: str
    action: Action
    diff: str | None
    secret: bool


def secret_store_for(out_dir: Path) -> LocalSecretStore:
    """The store render uses for ``out_dir`` (the local backend: ``<out_dir>/secrets``)."""
    return LocalSecretStore(Path(out_dir) / "secrets")


def read_manifest(out_dir: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of what stackseal last wrote into ``out_dir``."""
    path = Path(out_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # nothing written yet (or out_dir is a file: precheck says so)
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(
            f"{path}: damaged manifest; move it away and run 'stackseal render --force' to rebuild it"
        ) from None
    except OSError as err:  # a directory in its place, unreadable: one line, not a traceback
        raise UsageError(
            f"{path}: cannot read the manifest ({err.strerror}); move it away and run "
            "'stackseal render --force' to rebuild it"
        ) from None
    files = data.get("files", {}) if isinstance(data, dict) else {}
    return {k: v["sha256"] for k, v in files.items() if isinstance(v, dict) and "sha256" in v}


def stale_files(files: dict[str, RenderedFile], out_dir: Path) -> list[str]:
    """Files stackseal wrote earlier, untouched since, that the current plan no longer renders.

    They are left in place (a key or a config someone may still need is never deleted by a
    render) and stay in the manifest, so rendering them again later is an update, not a conflict.
    """
    stale = []
    for rel, digest in read_manifest(out_dir).items():
        if rel in files:
            continue
        try:
            if sha256_bytes((Path(out_dir) / rel).read_bytes()) == digest:
                stale.append(rel)
        except OSError:
            continue
    return sorted(stale)


def _manifest_bytes(files: dict[str, RenderedFile], stale: dict[str, str] | None = None) -> bytes:
    entries = {
        path: {"sha256": sha256_bytes(f.content), "mode": oct(f.mode), "secret": f.secret} for path, f in files.items()
    }
    for path, digest in (stale or {}).items():
        entries[path] = {"sha256": digest, "stale": True}
    doc = {"version": MANIFEST_VERSION, "written_by": "stackseal", "files": dict(sorted(entries.items()))}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _diff(path: str, old: bytes, new: bytes) -> str:
    try:
        old_text, new_text = old.decode(), new.decode()
    except UnicodeDecodeError:
        return f"(binary file {path} differs)\n"
    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{path} (on disk)",
            tofile=f"{path} (rendered)",
        )
    )


_HINT = "choose another output directory (-o DIR) or fix its permissions"


def _refuse_non_directory(out_dir: Path) -> Path:
    """Refuse an output path that is (or lies under) a file; return its nearest existing ancestor.

    Why separate: :func:`preview` (``plan``, ``render --dry-run``, the review screen) needs this
    one-line refusal too, but must not demand write permission just to look.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a directory; choose another output directory (-o DIR)")
    probe = out_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"{out_dir}: {probe} is not a directory; {_HINT}")
    return probe


def _precheck_out_dir(out_dir: Path) -> None:
    """Refuse an output directory we cannot use, without touching anything."""
    probe = _refuse_non_directory(out_dir)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"{out_dir}: not writable ({probe} is not writable); {_HINT}")


def _check_out_dir(out_dir: Path) -> None:
    """Create the output directory and prove a file can be made there, before any real write."""
    hint = _HINT
    try:  # root passes os.access everywhere: really try (read-only mounts, /proc, full disks)
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".stackseal-probe-", dir=out_dir)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise UsageError(f"{out_dir}: not writable ({err.strerror}); {hint}") from None


def classify(files: dict[str, RenderedFile], out_dir: Path) -> list[FileChange]:
    """Compare rendered files with what is on disk (reads only)."""
    manifest = read_manifest(out_dir)
    changes = []
    for rel, rendered in files.items():
        path = out_dir / rel
        try:
            current = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            changes.append(FileChange(rel, "create", None, rendered.secret))
            continue
        except PermissionError:
            raise UsageError(f"{path}: permission denied reading it; run as the user that rendered the stack") from None
        except IsADirectoryError:
            raise UsageError(
                f"{path}: is a directory where stackseal writes a file; move it away and run again"
            ) from None
        if current == rendered.content:
            changes.append(FileChange(rel, "unchanged", None, rendered.secret))
        elif manifest.get(rel) == sha256_bytes(current):
            diff = None if rendered.secret else _diff(rel, current, rendered.content)
            changes.append(FileChange(rel, "update", diff, rendered.secret))
        else:
            diff = None if rendered.secret else _diff(rel, current, rendered.content)
            changes.append(FileChange(rel, "conflict", diff, rendered.secret))
    return changes


def preview(plan: Plan, out_dir: Path | str | None = None, store: SecretStore | None = None) -> list[FileChange]:
    """What :func:`write` would do, without writing anything (new secrets stay in memory)."""
    out = Path(out_dir) if out_dir is not None else plan.output_path
    _refuse_non_directory(out)  # an output path that is a file: one line, as in write()
    files = render_files(plan, store or kms_store(plan, out, preview=True))
    return classify(files, out)


def write(
    plan: Plan, out_dir: Path | str | None = None, force: bool = False, store: SecretStore | None = None
) -> list[FileChange]:
    """Render and write every artifact into ``out_dir``; refuses on conflicts unless ``force``."""
    out = Path(out_dir) if out_dir is not None else plan.output_path
    _precheck_out_dir(out)
    store = store or kms_store(plan, out)
    files = render_files(plan, store)  # pure: refusals happen before anything is created
    changes = classify(files, out)
    conflicts = [c for c in changes if c.action == "conflict"]
    if conflicts and not force:
        raise ConflictError(conflicts)
    getattr(store, "wrap_pending", lambda: None)()  # a KMS that refuses to wrap leaves the disk untouched
    _check_out_dir(out)
    store.persist()
    for change in changes:
        if change.action == "unchanged":
            continue
        rendered = files[change.path]
        target = out / change.path
        if change.path.startswith("secrets/"):
            _secrets_dir(out)
        atomic_write(target, rendered.content, mode=rendered.mode)
    previous = read_manifest(out)
    manifest = _manifest_bytes(files, {rel: previous[rel] for rel in stale_files(files, out)})
    manifest_path = out / MANIFEST
    if not manifest_path.exists() or manifest_path.read_bytes() != manifest:
        atomic_write(manifest_path, manifest, mode=0o644)
    return changes


def _secrets_dir(out: Path) -> None:
    directory = out / "secrets"
    directory.mkdir(parents=True, exist_ok=True, mode=SECRET_DIR_MODE)
    os.chmod(directory, SECRET_DIR_MODE)


class ConflictError(Refused):
    """Files on disk that stackseal did not write or that were edited since (exit 2)."""

    def __init__(self, conflicts: list[FileChange]) -> None:
        self.conflicts = conflicts
        names = ", ".join(c.path for c in conflicts)
        super().__init__(
            f"{len(conflicts)} file(s) were changed by someone else or not written by stackseal: {names}; "
            "review the diff above, then run again with --force to overwrite"
        )

    def diffs(self) -> str:
        parts = []
        for c in self.conflicts:
            parts.append(
                c.diff if c.diff is not None else f"(secret file {c.path} differs: no diff is shown for secrets)\n"
            )
        return "".join(parts)
