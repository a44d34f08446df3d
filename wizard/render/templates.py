"""The Jinja2 environment for text artifacts (runbook, HCL policies, OpenBao config).

Why StrictUndefined: a misspelt variable must fail the render loudly, not leave a blank where a
path or a key name belongs in a runbook someone follows during an outage. Template errors are
turned into one line naming the template and line.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

import wizard
from wizard.errors import OperationFailed

TEMPLATES_DIR = Path(wizard.__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown / HCL, not HTML
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )


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
