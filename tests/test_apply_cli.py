"""``stackseal plan`` / ``apply`` on bad situations: one clear line, the right exit code, nothing lost."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from testbed.require import missing

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def stackseal(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    full_env.update(env or {})
    return subprocess.run(
        [str(VENV_BIN / "stackseal"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=full_env,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def answers(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((REPO / "examples" / "dev-laptop.yaml").read_text())
    data["project"] = "sscli"
    data["volumes"]["root"] = str(tmp_path / "volumes")
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "stackseal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_answers_file_is_usage_error(tmp_path: Path) -> None:
    result = stackseal("plan", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "no such answers file" in one_line_error(result)


def test_impossible_combination_is_refused_before_anything(tmp_path: Path) -> None:
    path = answers(tmp_path, object_store__sse="sse-kms")
    result = stackseal("apply", "-c", str(path), "--yes")
    assert result.returncode == 2
    assert one_line_error(result).startswith("stackseal: error: object_store.sse:")
    assert not (tmp_path / "stack").exists()


def test_docker_not_running_is_one_line_with_how_to_start_it(tmp_path: Path) -> None:
    path = answers(tmp_path)
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    for command in (["plan", "-c", str(path)], ["apply", "-c", str(path), "--yes"]):
        result = stackseal(*command, env=env)
        assert result.returncode == 1
        line = one_line_error(result)
        assert "Docker engine not reachable" in line and "start it with" in line
    assert not (tmp_path / "stack").exists() and not (tmp_path / "volumes").exists()


def test_missing_tool_names_the_install_command(tmp_path: Path) -> None:
    path = answers(tmp_path)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = stackseal("plan", "-c", str(path), env={"PATH": str(empty)})
    assert result.returncode == 1
    line = one_line_error(result)
    assert "volumes.backend gocryptfs needs: gocryptfs (install: apt-get install gocryptfs fuse3)" in line


def test_port_in_use_is_named_with_its_answers_key(tmp_path: Path, docker) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        path = answers(tmp_path, neo4j__bolt_url=f"bolt://127.0.0.1:{port}", project="ssport")
        result = stackseal("plan", "-c", str(path))
    assert result.returncode == 1
    assert (
        f"port 127.0.0.1:{port} (neo4j.bolt_url) is already in use by another program; "
        "stop that program or choose another port in neo4j.bolt_url"
    ) in one_line_error(result)


def test_plan_json_check_and_confirmation(tmp_path: Path, docker) -> None:
    from testbed.containers import free_port

    path = answers(
        tmp_path,
        neo4j__bolt_url=f"bolt://127.0.0.1:{free_port()}",
        neo4j__http_port=free_port(),
        object_store__endpoint=f"http://127.0.0.1:{free_port()}",
        project="ssjson",
    )
    result = stackseal("plan", "-c", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["changes"] is True
    assert [s["id"] for s in data["steps"]] == [
        "render",
        "host-tools",
        "docker-engine",
        "volumes",
        "adopt",
        "ports",
        "compose-up",
        "buckets",
    ]
    assert stackseal("plan", "-c", str(path), "--check").returncode == 3
    refused = stackseal("apply", "-c", str(path))  # no --yes, stdin is not a terminal
    assert refused.returncode == 2
    assert "re-run with --yes" in one_line_error(refused)
    assert not (tmp_path / "stack").exists()


def test_disk_full_on_output_directory_fails_cleanly(tmp_path: Path, docker) -> None:
    if os.geteuid() != 0:  # under CI=true a missing capability fails, never skips silently
        missing("root (mounting a tiny tmpfs)", "run the tests as root (make test)")
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(full)], check=True)
    try:
        from testbed.containers import free_port

        path = answers(
            tmp_path,
            output_dir=str(full / "stack"),
            volumes__backend="none",
            project="ssfull",
            neo4j__bolt_url=f"bolt://127.0.0.1:{free_port()}",
            neo4j__http_port=free_port(),
            object_store__endpoint=f"http://127.0.0.1:{free_port()}",
        )
        result = stackseal("apply", "-c", str(path), "--yes")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "disk full" in one_line_error(result)
        leftovers = [p.name for p in full.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []
        for written in (full / "stack").rglob("*"):  # whatever was written is whole, never half
            if written.is_file() and written.name == "journal.json":
                json.loads(written.read_text())
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
