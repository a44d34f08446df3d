"""Load a backed-up Neo4j dump into a throw-away Neo4j and count what is in it (the restore drill).

Why a one-off container of the plan's own image and not the live service: a drill must prove the
dump goes back *in* without stopping or touching the live database. So the dump is loaded with
the image's own ``neo4j-admin database load`` (Enterprise: ``database restore``) into a scratch
``/data`` directory beside the decrypted parts (``backups.dir/.restore-*``, removed with them),
with no network; then a second container of the same image serves that store on a loopback port
picked by Docker, behind a random password given as ``NEO4J_AUTH_FILE`` (a 0600 file, never on a
command line), and the drill counts nodes and relationships over Bolt. Both containers are
removed whatever happens (:meth:`ScratchNeo4j.close`), also when the load or the count fails.

The test image of our test bed behaves like the official one for exactly these calls
(docs/testbed-images.md): the drill is run on it against the real Neo4j engine and store format.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.render.material import password

#: Prefix of every container the drill starts (``docker ps -a --filter name=...`` finds leftovers).
PREFIX = "stackseal-drill-"
#: The scratch Neo4j gets a small heap: it serves two count queries.
HEAP = "512m"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) < 300 else line[:297] + "..."


def _admin_error(text: str) -> str:
    """The line of neo4j-admin's output that says why (``Failed to load ...: Not a valid Neo4j
    archive``), not its closing ``Run with '--verbose'`` hint."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("Run with")]
    reason = next((line for line in lines if line.startswith("Failed to")), None)
    return _last_line(reason or "\n".join(lines))


class ScratchNeo4j:
    """A scratch store under ``root`` loaded from a dump, served by a throw-away container."""

    def __init__(self, image: str, root: Path, edition: str = "community", accept_license: bool = False) -> None:
        self.image = image
        self.root = root
        self.edition = edition
        self.accept_license = accept_license
        self.data = root / "neo4j-data"
        self.auth_file = root / "neo4j-auth"
        self.token = secrets.token_hex(4)
        self.names: list[str] = []
        # letters and digits: the official image passes it to neo4j-admin as an argument, where a
        # leading '-' (1 in 64 token_urlsafe values) is read as an option and the container exits
        self._password = password(32)

    @classmethod
    def for_plan(cls, plan: Any, root: Path) -> ScratchNeo4j:
        from wizard.render.compose import image_for

        if shutil.which("docker") is None:
            raise OperationFailed("the restore drill loads the Neo4j dump into a scratch container: docker is missing")
        image = image_for(plan, "neo4j")
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=60)
        if found.returncode != 0:
            raise OperationFailed(f"the restore drill needs the plan's Neo4j image {image} on this host; pull it first")
        accept = plan.neo4j.edition == "enterprise" and bool(getattr(plan.neo4j, "accept_license_agreement", False))
        return cls(image, root, plan.neo4j.edition, accept)

    # -- the steps ----------------------------------------------------------------------------
    def _env(self) -> list[str]:
        env = ["-e", f"NEO4J_server_memory_heap_max__size={HEAP}"]
        if self.accept_license:
            env += ["-e", "NEO4J_ACCEPT_LICENSE_AGREEMENT=yes"]
        return env

    def load_argv(self, name: str) -> list[str]:
        """``docker run`` of neo4j-admin reading the plaintext on stdin, no network, scratch /data only."""
        if self.edition == "enterprise":
            stage = "/data/.stackseal-stage"
            command = [
                "sh",
                "-c",
                f"mkdir -p {stage} && tar -x -C {stage} -f - && neo4j-admin database restore "
                f"--from-path={stage} --overwrite-destination=true neo4j >&2; rc=$?; rm -rf {stage}; exit $rc",
            ]
        else:
            command = ["neo4j-admin", "database", "load", "neo4j", "--from-stdin", "--overwrite-destination=true"]
        return [
            "docker", "run", "--rm", "-i", "--name", name, "--network", "none", "--hostname", "localhost",
            *self._env(), "-v", f"{self.data}:/data", self.image, *command,
        ]  # fmt: skip

    def serve_argv(self, name: str) -> list[str]:
        return [
            "docker", "run", "-d", "--name", name, "-p", "127.0.0.1::7687",
            "-e", "NEO4J_AUTH_FILE=/run/secrets/neo4j_auth", *self._env(),
            "-v", f"{self.data}:/data", "-v", f"{self.auth_file}:/run/secrets/neo4j_auth:ro", self.image,
        ]  # fmt: skip

    def load(self, dump: Path, timeout: float = 3600) -> None:
        """Run neo4j-admin on the decrypted dump into the scratch /data."""
        self.data.mkdir(mode=0o700)
        name = f"{PREFIX}load-{self.token}"
        self.names.append(name)
        with open(dump, "rb") as stdin:
            result = subprocess.run(self.load_argv(name), stdin=stdin, capture_output=True, timeout=timeout)
        if result.returncode != 0:
            raise OperationFailed(
                f"drill: neo4j-admin could not load the dump into a scratch store: "
                f"{_admin_error(result.stderr.decode('utf-8', 'replace'))}"
            )

    def count(self, timeout: float = 300) -> dict[str, int]:
        """Serve the scratch store and count nodes and relationships over Bolt."""
        fd = os.open(self.auth_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"neo4j/{self._password}\n")
        name = f"{PREFIX}{self.token}"
        self.names.append(name)
        started = subprocess.run(self.serve_argv(name), capture_output=True, text=True, timeout=300)
        if started.returncode != 0:
            raise OperationFailed(f"drill: the scratch Neo4j did not start: {_last_line(started.stderr)}")
        url = self._bolt_url(name)
        return self._counts(name, url, timeout)

    def _bolt_url(self, name: str) -> str:
        port = subprocess.run(["docker", "port", name, "7687/tcp"], capture_output=True, text=True, timeout=60)
        for line in port.stdout.splitlines():
            host, _, number = line.strip().rpartition(":")
            if host == "127.0.0.1" and number.isdigit():
                return f"bolt://127.0.0.1:{number}"
        raise OperationFailed(f"drill: docker published no loopback port for the scratch Neo4j ({name})")

    def _running(self, name: str) -> bool:
        state = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True, timeout=60
        )
        return state.stdout.strip() == "true"

    def _logs(self, name: str) -> str:
        logs = subprocess.run(["docker", "logs", "--tail", "20", name], capture_output=True, text=True, timeout=60)
        return _last_line(logs.stdout + "\n" + logs.stderr)

    def _counts(self, name: str, url: str, timeout: float) -> dict[str, int]:
        from neo4j import GraphDatabase

        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self._running(name):
                raise OperationFailed(f"drill: the scratch Neo4j stopped on the loaded store: {self._logs(name)}")
            try:
                with GraphDatabase.driver(url, auth=("neo4j", self._password), connection_timeout=5) as driver:
                    with driver.session(database="neo4j") as session:
                        nodes = session.run("MATCH (n) RETURN count(n) AS c").single(strict=True)["c"]
                        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS c").single(strict=True)["c"]
                return {"nodes": int(nodes), "relationships": int(rels)}
            except Exception as err:  # not up yet (connection refused, database starting)
                last = type(err).__name__
                time.sleep(1)
        raise OperationFailed(f"drill: the scratch Neo4j did not answer within {timeout:.0f}s ({last})")

    def close(self) -> None:
        """Remove every container this drill started (idempotent; also after failures)."""
        for name in self.names:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, timeout=300)
        self.names.clear()
        try:
            self.auth_file.unlink()
        except FileNotFoundError:
            pass


def load_and_count(plan: Any, dump: Path, root: Path) -> dict[str, int]:
    """Load ``dump`` (decrypted, hash-checked) into a scratch Neo4j under ``root``; its counts."""
    scratch = ScratchNeo4j.for_plan(plan, root)
    try:
        scratch.load(dump)
        return scratch.count()
    finally:
        scratch.close()
