"""The Jinja2 environment for text artifacts (runbook, HCL policies, OpenBao config).

Why StrictUndefined: a misspelt variable must fail the render loudly, not leave a blank where a
path or a key name belongs in a runbook someone follows during an outage. Template errors are
turned into one line naming the template and line.

Why explicit filters instead of HTML autoescape (the outputs are Markdown, shell and HCL): every
value is validated upstream (:mod:`wizard.plan.validate`), and the templates still escape per
target as a second line of defence: ``| hcl`` for anything inside an HCL string (refuses quotes,
backslashes, globs and interpolation, which would widen a policy), ``| shq`` for anything on a
shell command line (POSIX single-quoting; a no-op for the plain values validation lets through).
``finalize`` refuses any value carrying a control character, so an escape sequence can never
reach a rendered file.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

import wizard
from wizard.errors import OperationFailed, UsageError
from wizard.plan.messages import excerpt

TEMPLATES_DIR = Path(wizard.__file__).resolve().parent.parent / "templates"

#: What may appear inside a quoted HCL policy path: no quote, backslash, glob ('*', '+'), '${' or '%{'.
_HCL_SAFE = re.compile(r"[A-Za-z0-9_.:/-]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hcl(value: Any) -> str:
    """A value for the inside of an HCL string, or a refusal (there is no safe quoting of a glob)."""
    text = str(value)
    if not _HCL_SAFE.fullmatch(text) or ".." in text.split("/"):
        raise UsageError(f"{excerpt(text)} cannot be written safely into a Vault policy; use letters, digits, '_', '-'")
    return text


def shq(value: Any) -> str:
    """POSIX shell quoting (``shlex.quote``): a value on a runbook command line stays one word."""
    return shlex.quote(str(value))


def _finalize(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise UsageError(f"{excerpt(value)} holds a control character and cannot be written into a rendered file")
    return value


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown / HCL / shell, not HTML: the filters above escape per target
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        finalize=_finalize,
    )
    env.filters["hcl"] = hcl
    env.filters["shq"] = shq
    return env


def render_template(name: str, **context: Any) -> bytes:
    """Render ``templates/<name>``; errors become one line with the template and line number."""
    try:
        return environment().get_template(name).render(**context).encode()
    except jinja2.TemplateNotFound:
        raise OperationFailed(f"template {name} not found in {TEMPLATES_DIR}; reinstall stackseal") from None
    except jinja2.TemplateSyntaxError as err:
        raise OperationFailed(f"template {err.name or name} line {err.lineno}: {err.message}") from None
    except jinja2.UndefinedError as err:
        raise OperationFailed(f"template {name}: {err.message}") from None
