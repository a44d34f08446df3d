"""Write rendered artifacts safely: compare, diff, refuse to clobber, write atomically, record.

Why (pyinfra/Terraform practice): a file stackseal did not write, or that the user changed since
stackseal wrote it, is never overwritten silently. Each file is classified first:

- ``create``: not on disk;
- ``unchanged``: on disk with the same bytes (nothing is written: rendering twice is a no-op);
- ``update``: on disk, differs, and its hash is the one the manifest recorded (stackseal's own
  previous output, untouched by the user);
- ``conflict``: on disk, differs, and stackseal did not write it or the user edited it since.

Any conflict makes :func:`write` refuse (exit 2) with a unified diff of each conflicting public
file, unless ``force``. Secret files never get a diff.

Why the rest (stackseal runs as root, the output directory may be hostile or shared):
- every read and write goes through :class:`wizard.fsutil.OutputDir`: no symlink inside the
  output directory is ever followed; a symlinked ``secrets/`` or file is refused with one line;
- :func:`write` holds :func:`wizard.fsutil.output_lock`, sweeps temp files a killed run left,
  and writes secrets first, then the configs that embed them, then the files that name them
  (compose, runbook), so no file ever names a secret that is not on disk yet;
- the manifest (``<out>/.stackseal-manifest.json``, mode 0600) is written *before* the files
  with both the old and the new hash of each file, then rewritten after: a render killed
  half-way never makes the next one report a false conflict;
- secret files are recorded with a keyed hash (HMAC-SHA256, per-stack key in
  ``secrets/.manifest-key``), never a plain SHA-256 that would let anyone test guesses offline;
- secret files' modes (0400) and the ``secrets/`` directory's (0700) are enforced on every run;
- a full disk is reported for the render as a whole: which files were and were not written.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wizard import kms
from wizard.errors import OperationFailed, Refused, UsageError
from wizard.fsutil import DiskFull, OutputDir, keyed_hash, output_lock, sha256_bytes
from wizard.kms.base import SecretStore
from wizard.kms.local import SECRET_DIR_MODE, LocalSecretStore
from wizard.plan import Plan
from wizard.plan.messages import one_line
from wizard.render import RenderedFile, render_files

MANIFEST = ".stackseal-manifest.json"
MANIFEST_VERSION = 2
MANIFEST_MODE = 0o600
MANIFEST_KEY = "secrets/.manifest-key"
#: Secret configs rendered *from* other secrets: written after them.
DERIVED = ("secrets/kes_config.yml", "secrets/seaweedfs_s3.json", "secrets/seaweedfs_security.toml")
#: Files that name secrets by path: written last.
NAMING = ("compose.yaml", "RUNBOOK.md")

Action = Literal["create", "update", "unchanged", "conflict"]
_HEX64 = re.compile(r"[0-9a-f]{64}")


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


@dataclass
class Manifest:
    """What stackseal last wrote: per file, its hash (public) or keyed hash (secret)."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: bytes | None = None

    def digest(self, content: bytes, secret: bool) -> dict[str, str]:
        if secret and self.key:
            return {"hmac": keyed_hash(self.key, content)}
        return {"sha256": sha256_bytes(content)}

    def accepts(self, rel: str, content: bytes) -> bool:
        """Whether ``content`` is something stackseal wrote (or was about to write) at ``rel``."""
        entry = self.entries.get(rel)
        if entry is None:
            return False
        for candidate in [entry, *entry.get("previous", [])]:
            if candidate.get("sha256") == sha256_bytes(content):
                return True
            if self.key and candidate.get("hmac") == keyed_hash(self.key, content):
                return True
        return False


def _damaged(path: Path, why: str) -> UsageError:
    return UsageError(
        f"{path}: damaged manifest ({why}); move it away and run 'stackseal render --force' to rebuild it"
    )


def _valid_digest(entry: Any) -> bool:
    return isinstance(entry, dict) and any(
        isinstance(entry.get(k), str) and _HEX64.fullmatch(entry[k]) for k in ("sha256", "hmac")
    )


def read_manifest(out_dir: Path) -> Manifest:
    """The manifest of ``out_dir`` (empty when nothing was written yet); a wrong shape is one line."""
    path = Path(out_dir) / MANIFEST
    try:
        with OutputDir(Path(out_dir)) as out:
            info = out.lstat(MANIFEST)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise UsageError(
                    f"{path}: cannot read the manifest (Is a directory); move it away and run "
                    "'stackseal render --force' to rebuild it"
                )
            raw = out.read(MANIFEST, what="manifest")
            key = out.read(MANIFEST_KEY, 4096, what="manifest key") if raw is not None else None
    except NotADirectoryError:
        return Manifest()
    if raw is None:
        return Manifest()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _damaged(path, "not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise _damaged(path, "no 'files' mapping")
    entries: dict[str, dict[str, Any]] = {}
    for rel, entry in data["files"].items():
        if not isinstance(rel, str) or not _valid_digest(entry):
            raise _damaged(path, "an entry without a hash")
        previous = entry.get("previous", [])
        if not isinstance(previous, list) or not all(_valid_digest(p) for p in previous):
            raise _damaged(path, "an entry with a bad 'previous' list")
        entries[rel] = entry
    return Manifest(entries, key.strip() if key else None)


def stale_files(files: dict[str, RenderedFile], out_dir: Path) -> list[str]:
    """Files stackseal wrote earlier, untouched since, that the current plan no longer renders.

    They are left in place (a key or a config someone may still need is never deleted by a
    render) and stay in the manifest, so rendering them again later is an update, not a conflict.
    """
    manifest = read_manifest(out_dir)
    stale = []
    with OutputDir(Path(out_dir)) as out:
        for rel in manifest.entries:
            if rel in files:
                continue
            try:
                content = out.read(rel)
            except (UsageError, OSError):
                continue
            if content is not None and manifest.accepts(rel, content):
                stale.append(rel)
    return sorted(stale)


def _manifest_bytes(
    files: dict[str, RenderedFile], manifest: Manifest, stale: list[str], previous: dict[str, list[dict]] | None = None
) -> bytes:
    entries: dict[str, dict[str, Any]] = {}
    for path, f in files.items():
        entry: dict[str, Any] = {**manifest.digest(f.content, f.secret), "mode": oct(f.mode), "secret": f.secret}
        if previous and previous.get(path):
            entry["previous"] = previous[path]
        entries[path] = entry
    for path in stale:
        old = manifest.entries[path]
        entries[path] = {k: old[k] for k in ("sha256", "hmac", "previous") if k in old} | {"stale": True}
    doc = {"version": MANIFEST_VERSION, "written_by": "stackseal", "files": dict(sorted(entries.items()))}
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """A file on disk may hold terminal escapes: a diff shows them escaped, never raw."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def _diff(path: str, old: bytes, new: bytes) -> str:
    try:
        old_text, new_text = old.decode(), new.decode()
    except UnicodeDecodeError:
        return f"(binary file {path} differs)\n"
    return _printable(
        "".join(
            difflib.unified_diff(
                old_text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                fromfile=f"{path} (on disk)",
                tofile=f"{path} (rendered)",
            )
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


def _refuse_symlinked_secrets(out: OutputDir) -> None:
    info = out.lstat("secrets")
    if info is not None and not stat.S_ISDIR(info.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise UsageError(
            f"{out.root / 'secrets'}: is {what}; stackseal never writes secrets through it, "
            "replace it by a real directory (mode 0700)"
        )


def classify(files: dict[str, RenderedFile], out_dir: Path) -> list[FileChange]:
    """Compare rendered files with what is on disk (reads only, never through a symlink)."""
    manifest = read_manifest(out_dir)
    changes = []
    with OutputDir(Path(out_dir)) as out:
        _refuse_symlinked_secrets(out)
        for rel, rendered in files.items():
            path = Path(out_dir) / rel
            info = out.lstat(rel)
            if info is None:
                changes.append(FileChange(rel, "create", None, rendered.secret))
                continue
            if stat.S_ISLNK(info.st_mode):
                raise UsageError(
                    f"{path}: is a symbolic link; stackseal never reads or writes through symlinks in the "
                    "output directory; remove it and run again"
                )
            if stat.S_ISDIR(info.st_mode):
                raise UsageError(f"{path}: is a directory where stackseal writes a file; move it away and run again")
            try:
                current = out.read(rel, what="file stackseal writes")
            except PermissionError:
                raise UsageError(
                    f"{path}: permission denied reading it; run as the user that rendered the stack"
                ) from None
            if current is None:
                changes.append(FileChange(rel, "create", None, rendered.secret))
            elif current == rendered.content:
                changes.append(FileChange(rel, "unchanged", None, rendered.secret))
            else:
                action: Action = "update" if manifest.accepts(rel, current) else "conflict"
                diff = None if rendered.secret else _diff(rel, current, rendered.content)
                changes.append(FileChange(rel, action, diff, rendered.secret))
    return changes


def preview(plan: Plan, out_dir: Path | str | None = None, store: SecretStore | None = None) -> list[FileChange]:
    """What :func:`write` would do, without writing anything (new secrets stay in memory)."""
    out = Path(out_dir) if out_dir is not None else plan.output_path
    _refuse_non_directory(out)  # an output path that is a file: one line, as in write()
    files = render_files(plan, store or kms.secret_store(plan, out, preview=True))
    return classify(files, out)


def _write_rank(rel: str) -> int:
    """Secrets, then configs derived from them, then other files, then the files naming them."""
    if rel in NAMING:
        return 3
    if rel in DERIVED:
        return 1
    return 0 if rel.startswith("secrets/") else 2


def write(
    plan: Plan, out_dir: Path | str | None = None, force: bool = False, store: SecretStore | None = None
) -> list[FileChange]:
    """Render and write every artifact into ``out_dir``; refuses on conflicts unless ``force``."""
    out = Path(out_dir) if out_dir is not None else plan.output_path
    _precheck_out_dir(out)
    if store is None and kms.envelope(plan):  # wrap before anything is created: a KMS refusal leaves nothing
        store = kms.secret_store(plan, out)
        classify(render_files(plan, store), out)
        getattr(store, "wrap_pending", lambda: None)()
    elif store is None:  # validate before anything is created: a refused plan leaves no directory behind
        classify(render_files(plan, secret_store_for(out)), out)
    else:  # a caller's store: validate with a preview (nothing persisted, no KMS call)
        classify(render_files(plan, kms.secret_store(plan, out, preview=True)), out)
    with output_lock(out), OutputDir(out, create=True) as od:
        store = store or secret_store_for(out)
        files = render_files(plan, store)  # under the lock: a concurrent run cannot generate other secrets
        # temp files a killed run left, in every directory stackseal writes to (they may hold secrets)
        od.sweep_temp(tuple(sorted({"", ".stackseal", *(rel.rpartition("/")[0] for rel in files)})))
        changes = classify(files, out)
        conflicts = [c for c in changes if c.action == "conflict"]
        if conflicts and not force:
            raise ConflictError(conflicts)
        manifest = read_manifest(out)
        od.ensure_dir("secrets", SECRET_DIR_MODE)
        if manifest.key is None:
            key = os.urandom(32).hex().encode()
            _write_all(od, [(MANIFEST_KEY, key, 0o400)], out)
            manifest.key = key
        todo = sorted((c for c in changes if c.action != "unchanged"), key=lambda c: (_write_rank(c.path), c.path))
        stale = stale_files(files, out)
        previous: dict[str, list[dict]] = {}
        for c in todo:
            if c.path in manifest.entries:
                old = manifest.entries[c.path]
                previous[c.path] = [{k: old[k] for k in ("sha256", "hmac") if k in old}]
        if todo:  # the intent: old and new hashes, so a kill from here on leaves no false conflict
            _write_all(od, [(MANIFEST, _manifest_bytes(files, manifest, stale, previous), MANIFEST_MODE)], out)
        _write_all(od, [(c.path, files[c.path].content, files[c.path].mode) for c in todo], out)
        _enforce_secret_modes(od, files)
        store.persist()  # remote backends keep their authoritative copy; local files already exist
        final = _manifest_bytes(files, manifest, stale)
        if od.read(MANIFEST, what="manifest") != final:
            _write_all(od, [(MANIFEST, final, MANIFEST_MODE)], out)
        od.chmod(MANIFEST, MANIFEST_MODE)
    return changes


def _enforce_secret_modes(od: OutputDir, files: dict[str, RenderedFile]) -> None:
    """Modes are enforced on every run, not only on a write: rendered secrets get theirs, and any
    other file in ``secrets/`` (volume keys, the manifest key) loses group and other access (0400)."""
    for name in od.listdir("secrets"):
        rel = f"secrets/{name}"
        info = od.lstat(rel)
        if info is None or not stat.S_ISREG(info.st_mode):
            continue  # a symlink or a directory someone put there is never touched
        if rel in files:
            od.chmod(rel, files[rel].mode)
        elif info.st_mode & 0o077:
            od.chmod(rel, 0o400)


def _write_all(od: OutputDir, items: list[tuple[str, bytes, int]], out: Path) -> None:
    """Write ``items`` in order; a full disk is reported for all of them at once."""
    done: list[str] = []
    for rel, content, mode in items:
        try:
            od.write(rel, content, mode, dir_mode=SECRET_DIR_MODE if rel.startswith("secrets/") else 0o755)
        except DiskFull:
            left = [r for r, _, _ in items if r not in done]
            raise OperationFailed(
                one_line(
                    f"{out}: disk full while rendering; written: {', '.join(done) or 'nothing'}; "
                    f"not written: {', '.join(left)}; free space and run 'stackseal render' again "
                    "(the manifest already knows the written files: no false conflict)",
                    limit=4000,
                )
            ) from None
        done.append(rel)


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
