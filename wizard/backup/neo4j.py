"""Neo4j's own tools, run through Docker Compose: dump/load (Community), backup/restore (Enterprise).

Why ``neo4j-admin`` in a one-off container of the plan's own ``neo4j`` service: it sees exactly the
volumes and image the database runs with, so the dump is Neo4j's own format of Neo4j's own
store, and nothing has to be installed on the host. Community can only dump a stopped DBMS, so
``create`` stops the service, streams ``database dump --to-stdout`` out of ``docker compose run
-T`` straight into age, and starts the service again whatever happens (the downtime is announced
first). Enterprise runs the online ``database backup`` in the running container into its
(encrypted) ``/backups`` volume, streams that directory out as tar and removes it.

Restores go the other way: the verified plaintext is fed on stdin to ``database load
--from-stdin --overwrite-destination=true`` (Community) or unpacked into ``/backups`` and passed
to ``database restore`` (Enterprise), with the service stopped.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from wizard.errors import OperationFailed

SERVICE = "neo4j"
DATABASE = "neo4j"
#: Where the Enterprise backup is staged inside the container (the encrypted neo4j-backups volume).
STAGE = "/backups/.stackseal-stage"


class Compose:
    """The plan's compose project (``docker compose -p PROJECT -f FILE``) and the Neo4j service in it."""

    def __init__(self, argv: list[str], edition: str) -> None:
        self.argv = argv
        self.edition = edition

    @classmethod
    def for_plan(cls, plan: Any) -> Compose:
        from wizard.steps.context import Context

        ctx = Context.for_plan(plan)
        if not ctx.compose_file().exists():
            raise OperationFailed(
                f"{ctx.compose_file()}: no rendered compose file; run 'stackseal apply -c FILE' first"
            )
        return cls(ctx.compose_cmd(), plan.neo4j.edition)

    # -- argv (kept separate so they can be read and tested) ----------------------------------
    def run_argv(self, *command: str) -> list[str]:
        return [*self.argv, "run", "--rm", "--no-deps", "-T", SERVICE, *command]

    def exec_argv(self, *command: str) -> list[str]:
        return [*self.argv, "exec", "-T", SERVICE, *command]

    def dump_argv(self) -> list[str]:
        return self.run_argv("neo4j-admin", "database", "dump", DATABASE, "--to-stdout")

    def load_argv(self) -> list[str]:
        return self.run_argv(
            "neo4j-admin", "database", "load", DATABASE, "--from-stdin", "--overwrite-destination=true"
        )

    def backup_argv(self) -> list[str]:
        return self.exec_argv(
            "sh",
            "-c",
            f"rm -rf {STAGE} && mkdir -p {STAGE} && neo4j-admin database backup {DATABASE} --to-path={STAGE} >&2",
        )

    def stage_out_argv(self) -> list[str]:
        return self.exec_argv("tar", "-C", STAGE, "-cf", "-", ".")

    def restore_argv(self) -> list[str]:
        script = (
            f"rm -rf {STAGE} && mkdir -p {STAGE} && tar -x -C {STAGE} -f - && "
            f"neo4j-admin database restore --from-path={STAGE} --overwrite-destination=true {DATABASE} >&2; "
            f"rc=$?; rm -rf {STAGE}; exit $rc"
        )
        return self.run_argv("sh", "-c", script)

    # -- running ------------------------------------------------------------------------------
    def _simple(self, *args: str, what: str) -> None:
        result = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise OperationFailed(f"{what} failed: {_last_line(result.stderr)}")

    def stop(self) -> None:
        self._simple("stop", SERVICE, what=f"docker compose stop {SERVICE}")

    def start(self) -> None:
        """Start it again and wait until it is healthy (``start`` alone returns while Bolt still refuses)."""
        self._simple(
            "up",
            "-d",
            "--no-deps",
            "--wait",
            "--wait-timeout",
            "300",
            SERVICE,
            what=f"docker compose up --wait {SERVICE}",
        )

    def is_running(self) -> bool:
        result = subprocess.run(
            [*self.argv, "ps", "--status", "running", "-q", SERVICE], capture_output=True, text=True, timeout=60
        )
        return result.returncode == 0 and bool(result.stdout.strip())

    @contextmanager
    def stopped(self, warn: Callable[[str], None]) -> Iterator[None]:
        """Stop Neo4j for an offline operation and start it again afterwards, whatever happens."""
        was_running = self.is_running()
        if was_running:
            warn(f"Neo4j ({self.edition}) is stopped while neo4j-admin works: the database is DOWN until it restarts")
            self.stop()
        try:
            yield
        finally:
            if was_running:
                self.start()

    @contextmanager
    def producing(self, argv: list[str], what: str) -> Iterator[IO[bytes]]:
        """Run ``argv`` and hand out its stdout; a non-zero exit after the stream is an error."""
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            assert proc.stdout is not None
            try:
                yield proc.stdout
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                proc.stdout.close()
            if proc.wait() != 0:
                err.seek(0)
                raise OperationFailed(f"{what} failed: {_last_line(err.read().decode('utf-8', 'replace'))}")

    def consume(self, argv: list[str], source: IO[bytes], what: str, progress: Callable[[int], None]) -> None:
        """Run ``argv`` with ``source`` on its stdin (copied in 1 MiB chunks with progress)."""
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=err, stderr=err)
            assert proc.stdin is not None
            done = 0
            try:
                while chunk := source.read(1 << 20):
                    proc.stdin.write(chunk)
                    done += len(chunk)
                    progress(done)
                proc.stdin.close()
            except BrokenPipeError:
                pass
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if proc.wait() != 0:
                err.seek(0)
                raise OperationFailed(f"{what} failed: {_last_line(err.read().decode('utf-8', 'replace'))}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    return line if len(line) < 300 else line[:297] + "..."


def auth_of(plan: Any) -> tuple[str, str] | None:
    """(user, password) for Bolt from the plan's auth file or generated secret; None if unknown."""
    candidates: list[Path] = []
    if plan.neo4j.auth_file:
        candidates.append(plan.resolve(plan.neo4j.auth_file))
    try:
        from wizard import kms

        plaintext_dir = getattr(kms, "plaintext_dir", None)
        if plaintext_dir is not None:
            candidates.append(Path(plaintext_dir(plan)) / "neo4j_auth")
    except Exception:
        pass
    candidates.append(plan.output_path / "secrets" / "neo4j_auth")
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        user, _, password = text.partition("/")
        if user and password:
            return user, password
    return None


def counts(plan: Any, timeout: float = 10.0) -> dict[str, int] | None:
    """Node and relationship counts over Bolt, or None when Neo4j cannot be reached."""
    auth = auth_of(plan)
    if auth is None:
        return None
    try:
        from neo4j import GraphDatabase

        with GraphDatabase.driver(plan.neo4j.bolt_url, auth=auth, connection_timeout=timeout) as driver:
            with driver.session(database=DATABASE) as session:
                nodes = session.run("MATCH (n) RETURN count(n) AS c").single(strict=True)["c"]
                rels = session.run("MATCH ()-[r]->() RETURN count(r) AS c").single(strict=True)["c"]
        return {"nodes": int(nodes), "relationships": int(rels)}
    except Exception:
        return None
