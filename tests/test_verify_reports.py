"""``stackseal verify`` outputs: JSON against docs/verify.schema.json, JUnit XML through two
parsers, the audit report (md/html, escaped), the Prometheus textfile through the official
parser; exit codes and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from wizard.verify import refs, report
from wizard.verify.model import Evidence, Finding, Status
from wizard.verify.runner import Run

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def stackseal(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "stackseal"), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    """The dev-laptop example pointed at nothing that runs (every check answers fast)."""
    data = yaml.safe_load((REPO / "examples" / "dev-laptop.yaml").read_text())
    data["volumes"]["root"] = str(tmp_path / "volumes")
    data["neo4j"]["bolt_url"] = "bolt://127.0.0.1:9"
    data["object_store"]["endpoint"] = "http://127.0.0.1:7"
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def hostile_run() -> Run:
    evil = Evidence(
        "command", "<b>label</b>", "echo '<script>alert(1)</script>' | grep x", "a|b\n</pre><script>x</script>"
    )
    return Run(
        "p<&>",
        "2026-12-01T05:00:00Z",
        "2026-12-01T05:00:01Z",
        False,
        [
            Finding(
                "store.bucket_encryption",
                "object-store",
                "Default encryption",
                Status.FAIL,
                "bucket cmf has NO default | encryption",
                "cmf",
                (evil,),
                "mc encrypt set sse-s3 s/cmf",
                refs.AT_REST,
                0.25,
            ),
            Finding("kms.status", "kms", "KMS", Status.WARN, "local", "", (), "use a KMS", refs.KEYS, 0.01),
            Finding("host.fde", "host", "Host", Status.SKIP, "not host-fde", "", (), "", refs.AT_REST, 0.0),
            Finding("keys.files", "keys", "Files", Status.PASS, 'ok "quoted" \\ back', "", (), "", refs.KEYS, 0.0),
        ],
    )


def test_json_output_matches_the_documented_schema(answers: Path) -> None:
    import jsonschema

    schema = json.loads((REPO / "docs" / "verify.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    result = stackseal("verify", "-c", str(answers), "--json")
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema)
    assert doc["summary"]["exit_code"] == 1 and doc["summary"]["FAIL"] >= 1
    ids = {f["check_id"] for f in doc["findings"]}
    assert {"store.access", "volumes.encrypted", "keys.at_rest", "canary.neo4j"} <= ids
    jsonschema.validate(report.to_json(hostile_run()), schema)
    broken = report.to_json(hostile_run())
    broken["findings"][0]["status"] = "OK"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_unreachable_store_is_reported_as_unreachable_not_drift(answers: Path, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "stack" / "secrets"
    secrets_dir.mkdir(parents=True)
    for name in ("s3_access_key", "s3_secret_key"):
        (secrets_dir / name).write_text("x" * 20)
    doc = json.loads(stackseal("verify", "-c", str(answers), "--json", "--only", "store.access").stdout)
    (access,) = doc["findings"]
    assert access["status"] == "FAIL" and "not reachable" in access["summary"]


def test_junit_written_and_parsed_by_two_parsers(answers: Path, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    result = stackseal("verify", "-c", str(answers), "--junit", str(junit))
    assert result.returncode == 1
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and int(root.get("failures")) >= 1
    cases = root.findall(".//testcase")
    assert int(root.get("tests")) == len(cases) > 10
    assert any(c.find("failure") is not None for c in cases) and any(c.find("skipped") is not None for c in cases)
    junitparser = pytest.importorskip("junitparser")
    xml = junitparser.JUnitXml.fromfile(str(junit))
    suites = list(xml)
    assert {s.name for s in suites} >= {"object-store", "keys"}
    failures = [c for s in suites for c in s if any(isinstance(r, junitparser.Failure) for r in c.result)]
    assert failures and all(c.classname.startswith("stackseal.") for c in failures)
    # hostile text stays well-formed XML
    ET.fromstring(report.to_junit(hostile_run()))


def test_audit_reports_carry_evidence_references_and_escape_hostile_text(answers: Path, tmp_path: Path) -> None:
    md, html = tmp_path / "audit.md", tmp_path / "audit.html"
    assert stackseal("verify", "-c", str(answers), "--report", str(md)).returncode == 1
    assert stackseal("verify", "-c", str(answers), "--report", str(html)).returncode == 1
    text = md.read_text()
    for ref in (
        "HIPAA 164.312(a)(2)(iv)",
        "PCI DSS v4.0 3.5.1",
        "NIST SP 800-53 SC-28",
        "NIST SP 800-53 SC-12",
        "NIST SP 800-53 SC-13",
        "FedRAMP SC-28",
        "GDPR Art. 32",
    ):
        assert ref in text, ref
    assert "volumes.encrypted" in text and "remediation:" in text
    page = report.to_report(hostile_run(), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "bucket cmf has NO default" in page and "mc encrypt set sse-s3 s/cmf" in page
    assert html.read_text().startswith("<!doctype html>")
    mdtext = report.to_report(hostile_run(), "md")
    assert "bucket cmf has NO default \\| encryption" in mdtext  # a table cell stays one cell


def test_prometheus_textfile_parses_and_is_written_atomically(answers: Path, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    prom = tmp_path / "stackseal.prom"
    prom.write_text("old content")
    assert stackseal("verify", "-c", str(answers), "--prometheus", str(prom)).returncode == 1
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert families["stackseal_verify_success"].samples[0].value == 0
    status = families["stackseal_verify_check_status"].samples
    current = [s for s in status if s.value == 1]
    assert len(current) == len(status) // 4
    assert any(s.labels["check"] == "volumes.encrypted" and s.labels["status"] == "fail" for s in current)
    assert not list(tmp_path.glob(".stackseal.prom.*"))  # no temp file left behind
    hostile = report.to_prometheus(hostile_run(), 0)
    parsed = list(text_string_to_metric_families(hostile))
    labels = [s.labels for f in parsed for s in f.samples if f.name == "stackseal_verify_check_status"]
    assert labels[0]["project"] == "p<&>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--report", "out.txt"], "must end in .md or .html"),
        (["--junit", "/nonexistent-dir/x.xml"], "does not exist"),
        (["--only", "no.such"], "no such check"),
    ],
)
def test_bad_input_exits_2_in_one_line(answers: Path, args: list[str], message: str) -> None:
    result = stackseal("verify", "-c", str(answers), *args)
    assert result.returncode == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_missing_answers_file_exits_2(tmp_path: Path) -> None:
    result = stackseal("verify", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "no such answers file" in result.stderr
    result = stackseal("dashboard", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2


def test_exit_0_when_nothing_fails(answers: Path) -> None:
    result = stackseal("verify", "-c", str(answers), "--only", "kms.status", "--only", "host.fde")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" in result.stdout and "OK:" in result.stdout


def test_table_renders_hostile_text_as_text() -> None:
    from rich.console import Console

    run = hostile_run()
    run.findings.append(
        Finding(
            "neo4j.storage",
            "neo4j",
            "t",
            Status.FAIL,
            "/data [/data] [bold]x[/bold]",
            "[/data]",
            (),
            "fix",
            refs.AT_REST,
        )
    )
    console = Console(record=True, width=200)
    console.print(report.table(run))
    text = console.export_text()
    assert "[/data] [bold]x[/bold]" in text and "neo4j.storage[[/data]]" in text
