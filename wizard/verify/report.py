"""Render a verification :class:`~wizard.verify.runner.Run`: JSON, JUnit XML, audit report
(Markdown or HTML), Prometheus node_exporter textfile, and the rich table.

Why each: JSON for scripts (schema in docs/verify.schema.json), JUnit for CI systems that show
test results, the audit report for an auditor (every finding's evidence and the controls it
serves), the textfile for alerting (node_exporter's textfile collector reads ``*.prom``; written
atomically so it never reads half a file).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from wizard import __version__
from wizard.verify import refs
from wizard.verify.model import Finding, Status
from wizard.verify.runner import Run

SCHEMA_VERSION = 1
STATUS_STYLE = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "SKIP": "dim"}


def to_json(run: Run) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "stackseal_version": __version__,
        "project": run.project,
        "started": run.started,
        "finished": run.finished,
        "deep": run.deep,
        "summary": {**run.counts(), "exit_code": run.exit_code},
        "findings": [f.to_json() for f in run.findings],
    }


def dumps_json(run: Run) -> str:
    return json.dumps(to_json(run), indent=2) + "\n"


def to_junit(run: Run) -> bytes:
    """One <testsuite> per store, one <testcase> per finding; FAIL = <failure>, SKIP = <skipped>."""
    root = ET.Element("testsuites", name=f"stackseal verify {run.project}")
    by_store: dict[str, list[Finding]] = {}
    for f in run.findings:
        by_store.setdefault(f.store, []).append(f)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for store, findings in by_store.items():
        fails = sum(f.status is Status.FAIL for f in findings)
        skips = sum(f.status is Status.SKIP for f in findings)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=store,
            tests=str(len(findings)),
            failures=str(fails),
            errors="0",
            skipped=str(skips),
            timestamp=run.started,
            time=f"{sum(f.seconds for f in findings):.3f}",
        )
        for f in findings:
            case = ET.SubElement(suite, "testcase", classname=f"stackseal.{store}", name=f.key, time=f"{f.seconds:.3f}")
            body = _evidence_text(f)
            if f.status is Status.FAIL:
                node = ET.SubElement(case, "failure", message=f.summary, type="FAIL")
                node.text = body + (f"\nremediation: {f.remediation}" if f.remediation else "")
            elif f.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=f.summary)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = f"{f.status.value}: {f.summary}\n{body}"
        totals["tests"] += len(findings)
        totals["failures"] += fails
        totals["skipped"] += skips
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _evidence_text(f: Finding) -> str:
    lines = []
    for e in f.evidence:
        lines.append(f"[{e.kind}] {e.label}")
        if e.command:
            lines.append(f"  $ {e.command}")
        if e.output:
            lines.extend(f"  {ln}" for ln in e.output.splitlines())
    return "\n".join(lines)


# ---- audit report -------------------------------------------------------------------------------


def _report_context(run: Run) -> dict[str, Any]:
    controls: dict[str, dict[str, Any]] = {}
    for ref in refs.ALL:
        related = [f for f in run.findings if ref in f.references]
        controls[ref.label()] = {
            "ref": ref,
            "pass": sum(f.status is Status.PASS for f in related),
            "fail": sum(f.status is Status.FAIL for f in related),
            "warn": sum(f.status is Status.WARN for f in related),
        }
    return {"run": run, "counts": run.counts(), "controls": controls, "version": __version__, "Status": Status}


MD_TEMPLATE = """\
# Encryption-at-rest verification: {{ run.project }}

Run by stackseal {{ version }} from {{ run.started }} to {{ run.finished }}{% if run.deep %} (deep: every object checked){% endif %}.
Result: **{{ "FAIL" if run.failed else "PASS" }}** — {{ counts.PASS }} passed, {{ counts.FAIL }} failed, {{ counts.WARN }} warnings, {{ counts.SKIP }} skipped.

Every finding below carries its evidence: the command that shows the same thing (re-run it) and what stackseal saw.

## Compliance summary

| control | title | pass | fail | warn |
|---|---|---|---|---|
{% for label, c in controls.items() -%}
| {{ label }} | {{ c.ref.title }} | {{ c.pass }} | {{ c.fail }} | {{ c.warn }} |
{% endfor %}
## Findings

| status | check | store | finding |
|---|---|---|---|
{% for f in run.findings -%}
| {{ f.status.value }} | `{{ f.key }}` | {{ f.store }} | {{ f.summary | mdcell }} |
{% endfor %}
{% for f in run.findings %}
### {{ f.status.value }} · {{ f.title }}{% if f.subject %} · {{ f.subject }}{% endif %}

- check: `{{ f.check_id }}` · store: {{ f.store }} · {{ "%.2f" | format(f.seconds) }} s
- finding: {{ f.summary }}
{% if f.remediation %}- remediation: {{ f.remediation }}
{% endif %}- references: {{ f.references | ref_labels }}
{% for e in f.evidence %}
{{ e.label }} ({{ e.kind }}):

```
{% if e.command %}$ {{ e.command }}
{% endif %}{{ e.output }}
```
{% endfor %}{% endfor %}
"""

HTML_TEMPLATE = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stackseal verification: {{ run.project }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
.PASS{color:#1a7f37}.FAIL{color:#cf222e;font-weight:bold}.WARN{color:#9a6700}.SKIP{color:#6e7781}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto}
</style></head><body>
<h1>Encryption-at-rest verification: {{ run.project }}</h1>
<p>Run by stackseal {{ version }} from {{ run.started }} to {{ run.finished }}{% if run.deep %} (deep){% endif %}.
Result: <strong class="{{ 'FAIL' if run.failed else 'PASS' }}">{{ "FAIL" if run.failed else "PASS" }}</strong> —
{{ counts.PASS }} passed, {{ counts.FAIL }} failed, {{ counts.WARN }} warnings, {{ counts.SKIP }} skipped.</p>
<h2>Compliance summary</h2>
<table><tr><th>control</th><th>title</th><th>pass</th><th>fail</th><th>warn</th></tr>
{% for label, c in controls.items() %}<tr><td>{{ label }}</td><td>{{ c.ref.title }}</td><td>{{ c.pass }}</td><td>{{ c.fail }}</td><td>{{ c.warn }}</td></tr>
{% endfor %}</table>
<h2>Findings</h2>
{% for f in run.findings %}<section id="{{ f.key }}">
<h3><span class="{{ f.status.value }}">{{ f.status.value }}</span> · {{ f.title }}{% if f.subject %} · {{ f.subject }}{% endif %}</h3>
<p><code>{{ f.check_id }}</code> · {{ f.store }} · {{ f.summary }}</p>
{% if f.remediation %}<p><strong>Remediation:</strong> {{ f.remediation }}</p>{% endif %}
<p><strong>References:</strong> {% for r in f.references %}{{ r.framework }} {{ r.control }}{% if not loop.last %}; {% endif %}{% endfor %}</p>
{% for e in f.evidence %}<p>{{ e.label }} ({{ e.kind }})</p><pre>{% if e.command %}$ {{ e.command }}
{% endif %}{{ e.output }}</pre>
{% endfor %}</section>
{% endfor %}</body></html>
"""


def to_report(run: Run, fmt: str) -> str:
    """The audit report as Markdown (``md``) or HTML (``html``, autoescaped: evidence is hostile text)."""
    import jinja2

    env = jinja2.Environment(autoescape=fmt == "html", undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters["mdcell"] = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    env.filters["ref_labels"] = lambda references: "; ".join(r.label() for r in references)
    template = env.from_string(HTML_TEMPLATE if fmt == "html" else MD_TEMPLATE)
    return template.render(**_report_context(run))


# ---- prometheus ---------------------------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_prometheus(run: Run, timestamp: float) -> str:
    """node_exporter textfile format: one gauge per finding and status (1 = current status)."""
    project = _label(run.project)
    lines = [
        "# HELP stackseal_verify_check_status Status of one stackseal verification finding (1 for its current status).",
        "# TYPE stackseal_verify_check_status gauge",
    ]
    for f in run.findings:
        base = (
            f'project="{project}",check="{_label(f.check_id)}",store="{_label(f.store)}",subject="{_label(f.subject)}"'
        )
        for status in Status:
            lines.append(
                f'stackseal_verify_check_status{{{base},status="{status.value.lower()}"}} {int(f.status is status)}'
            )
    lines += [
        "# HELP stackseal_verify_findings Number of findings per status in the last run.",
        "# TYPE stackseal_verify_findings gauge",
    ]
    for name, n in run.counts().items():
        lines.append(f'stackseal_verify_findings{{project="{project}",status="{name.lower()}"}} {n}')
    lines += [
        "# HELP stackseal_verify_last_run_timestamp_seconds When the last verification run finished (Unix time).",
        "# TYPE stackseal_verify_last_run_timestamp_seconds gauge",
        f'stackseal_verify_last_run_timestamp_seconds{{project="{project}"}} {timestamp:.0f}',
        "# HELP stackseal_verify_success 1 when the last run had no FAIL.",
        "# TYPE stackseal_verify_success gauge",
        f'stackseal_verify_success{{project="{project}"}} {int(not run.failed)}',
    ]
    return "\n".join(lines) + "\n"


# ---- rich table ---------------------------------------------------------------------------------


def table(run: Run) -> Any:
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"stackseal verify · {run.project}", show_lines=False, expand=False)
    t.add_column("status", no_wrap=True)
    t.add_column("check", no_wrap=True)
    t.add_column("store", no_wrap=True)
    t.add_column("finding")
    for f in run.findings:
        # Text, never markup: summaries hold paths and names like "[/data]" or hostile bucket names
        t.add_row(Text(f.status.value, style=STATUS_STYLE[f.status.value]), Text(f.key), Text(f.store), Text(f.summary))
    return t


def remediation_lines(run: Run) -> list[str]:
    """One line per (status, check, remediation), naming the subjects it applies to."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for f in run.findings:
        if f.status in (Status.FAIL, Status.WARN) and f.remediation:
            groups.setdefault((f.status.value, f.check_id, f.remediation), []).append(f.subject)
    lines = []
    for (status, check_id, remediation), subjects in groups.items():
        named = [s for s in subjects if s]
        which = f" ({', '.join(named)})" if named else ""
        lines.append(f"{status} {check_id}{which}: {remediation}")
    return lines
