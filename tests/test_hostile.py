"""The hostile corpus: every file in tests/hostile/ is an attack on ``stackseal render``.

Each file is an answers file (placeholders ``{tmp}``) whose header says what must happen:

- ``# expect: FRAGMENT``: the one error line contains FRAGMENT (exit 2);
- ``# setup: NAME``: a function below prepares the hostile filesystem (symlinks, FIFOs, huge files);
- ``# args: ...``: extra CLI arguments (``-c /dev/zero`` replaces the answers file);
- ``# secret: TEXT``: TEXT must never appear in the output (a password, a host file's content).

For every case: exit 2, exactly one line on stderr, no traceback, no raw control character, and
nothing on disk changed (the tree under the test directory is compared before and after,
symlink targets and modes included; the victims symlinks point at are untouched).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from pathlib import Path

import pytest

from wizard.cli import main

HOSTILE = Path(__file__).resolve().parent / "hostile"
CASES = sorted(HOSTILE.glob("*.yaml"))


def _header(text: str) -> dict[str, str]:
    meta = {}
    for line in text.splitlines():
        match = re.match(r"# (expect|setup|args|secret): (.*)$", line)
        if match:
            meta[match.group(1)] = match.group(2)
    return meta


def _victim(tmp: Path) -> Path:
    victim = tmp / "victim"
    victim.mkdir()
    victim.chmod(0o755)
    (victim / "data").write_text("neo4j/VictimFileContent42\n")
    (victim / "data").chmod(0o644)
    return victim


# -- setups: each returns the answers file path to pass as -c (default: the case file) -----------


def _secrets_dir_symlink(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / "secrets").symlink_to(tmp / "victim")


def _secret_file_symlink(tmp: Path, out: Path) -> None:
    (out / "secrets").mkdir(parents=True, mode=0o700)
    (out / "secrets" / "neo4j_auth").symlink_to(tmp / "victim" / "data")


def _compose_symlink(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / "compose.yaml").symlink_to(tmp / "victim" / "data")


def _vault_dir_symlink(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / "vault").symlink_to(tmp / "victim")


def _manifest_symlink(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / ".stackseal-manifest.json").symlink_to(tmp / "victim" / "data")


def _manifest_list(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / ".stackseal-manifest.json").write_text('{"version": 1, "files": []}')


def _manifest_bad_entry(tmp: Path, out: Path) -> None:
    out.mkdir()
    (out / ".stackseal-manifest.json").write_text('{"version": 1, "files": {"compose.yaml": "abc"}}')


def _fifo(tmp: Path, out: Path) -> None:
    os.mkfifo(tmp / "fifo")


def _fifo_config(tmp: Path, out: Path) -> Path:
    os.mkfifo(tmp / "answers.fifo")
    return tmp / "answers.fifo"


def _huge_file(tmp: Path, out: Path) -> None:
    with open(tmp / "huge", "wb") as handle:
        handle.truncate(2 * 1024 * 1024)


def _huge_config(tmp: Path, out: Path) -> Path:
    path = tmp / "huge.yaml"
    path.write_text("version: 1\n" + "# padding\n" * 200_000)
    return path


def _value_20mb(tmp: Path, out: Path) -> Path:
    path = tmp / "big.yaml"
    path.write_text("version: 1\nproject: " + "a" * (20 * 1024 * 1024) + "\n")
    return path


def _bad_gcp_json(tmp: Path, out: Path) -> None:
    (tmp / "gcp.json").write_text('{"type": "service_account", NOTJSONSECRET')


SETUPS = {name[1:]: fn for name, fn in globals().items() if name.startswith("_") and callable(fn)}


def _tree(root: Path) -> dict[str, tuple]:
    """Everything observable about a directory tree, without reading FIFOs or following links."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                state[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode) and info.st_size < 1 << 20:
                state[rel] = ("file", oct(info.st_mode), path.read_bytes())
            else:
                state[rel] = ("other", oct(info.st_mode), info.st_size)
    return state


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_covers_every_class() -> None:
    names = {p.stem for p in CASES}
    for prefix in (
        "symlinked-secrets-dir",
        "symlinked-secret-file",
        "symlinked-rendered-file-read",
        "symlinked-rendered-dir-write",
        "inject-vault-policy",
        "inject-runbook-shell",
        "inject-compose",
        "alias-bomb",
        "deep-nesting",
        "dev-zero-config",
        "fifo-config",
        "dev-zero-secret-file",
        "fifo-secret-file",
        "huge-config",
        "huge-secret-file",
        "dotdot-",
        "inject-compose-project-newline",
        "unbounded-",
        "neo4j-image-unchecked",
        "url-credentials-",
        "non-scalar-key",
        "migrate-null",
        "port-out-of-range",
        "gcp-credentials-malformed",
        "manifest-wrong-shape",
        "escape-in-",
        "value-20mb",
        "merge-key",
        "etc-passwd-as-",
    ):
        assert any(n.startswith(prefix) for n in names), prefix
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_hostile_answers_are_refused_with_one_line_and_change_nothing(tmp_path: Path, case: Path) -> None:
    text = case.read_text()
    meta = _header(text)
    assert "expect" in meta, f"{case.name} has no '# expect:' line"
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    answers = tmp_path / "stackseal.yaml"
    answers.write_text(text.replace("{tmp}", str(tmp_path)))
    config = answers
    setup = meta.get("setup")
    if setup and setup != "none":
        config = SETUPS[setup](tmp_path, out) or answers
    extra = meta.get("args", "").split()
    if "-c" in extra:
        config = Path(extra[extra.index("-c") + 1])
        del extra[extra.index("-c") : extra.index("-c") + 2]
    before = _tree(tmp_path)
    victim_before = _tree(victim)

    code, stdout, stderr = _run(["render", "-c", str(config), "-o", str(out), *extra])

    assert code == 2, (stdout, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackseal: error: "), stderr
    assert meta["expect"].replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert len(lines[0]) < 600, "a message holds only a short excerpt of a value"
    for output in (stdout, stderr):
        assert "Traceback" not in output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e]", output), repr(output)
    if "secret" in meta:
        assert meta["secret"] not in stdout + stderr
    assert "VictimFileContent42" not in stdout + stderr
    assert _tree(victim) == victim_before, "a file outside the output directory was changed"
    assert _tree(tmp_path) == before, "a refused render changed the disk"
