"""What every check may look at, made once per run and shared between the check threads.

Why lazy and locked: checks run concurrently; the first one that needs the Docker client, the
S3 client or the Neo4j driver makes it, the others reuse it (and its failure: a store that
refuses the credentials is one FAIL in ``store.access`` and a SKIP naming that check elsewhere,
not ten copies of the same error). Nothing here changes anything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.plan import Plan
from wizard.steps.context import Context
from wizard.steps.events import Emit, ProgressMeter, discard


@dataclass
class Access:
    """A client, or why there is none (``reason``) and whether that is a FAIL of its own."""

    client: Any = None
    reason: str = ""
    wrong_credentials: bool = False


@dataclass
class VerifyContext:
    plan: Plan
    deep: bool = False
    #: objects stat'ed per bucket when not ``deep``
    sample: int = 50
    #: receives the long checks' progress events (object counts, bytes scanned), from their threads
    progress: Emit | None = None
    timeout: float = 10.0
    #: the answers file itself (checked for secrets); None when the plan came from elsewhere
    answers_path: Path | None = None
    #: set by the runner when a check ran out of time: long loops (scans, object listings) stop
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def steps_ctx(self) -> Context:
        return self._once("steps_ctx", lambda: Context.for_plan(self.plan))

    @property
    def out_dir(self) -> Path:
        return self.plan.output_path

    @property
    def secrets_dir(self) -> Path:
        return self.out_dir / "secrets"

    @property
    def plaintext_dir(self) -> Path:
        """Where the stack's secrets are readable (the tmpfs runtime directory with a KMS)."""
        from wizard.kms import plaintext_dir

        return plaintext_dir(self.plan)

    def meter(self, check_id: str) -> ProgressMeter:
        """Progress of a long check as the provisioning steps report theirs (items, bytes, rate, ETA)."""
        return ProgressMeter(check_id, self.progress or discard)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    # -- docker ---------------------------------------------------------------------------------
    def docker(self) -> Access:
        def make() -> Access:
            try:
                return Access(self.steps_ctx.docker())
            except Exception as err:  # OperationFailed with the one line, or the SDK missing
                return Access(None, str(err))

        return self._once("docker", make)

    def containers(self) -> list[Any]:
        """The compose project's containers (running or not); [] without Docker."""

        def make() -> list[Any]:
            docker = self.docker().client
            if docker is None:
                return []
            return docker.containers.list(
                all=True, filters={"label": f"com.docker.compose.project={self.plan.project}"}
            )

        return self._once("containers", make)

    def service_container(self, service: str) -> Any | None:
        for c in self.containers():
            if c.labels.get("com.docker.compose.service") == service:
                return c
        return None

    def docker_root(self) -> str:
        def make() -> str:
            docker = self.docker().client
            if docker is None:
                return "/var/lib/docker"
            return str(docker.info().get("DockerRootDir") or "/var/lib/docker")

        return self._once("docker_root", make)

    # -- object store ---------------------------------------------------------------------------
    def s3(self) -> Access:
        """The minio SDK client after one ``list_buckets``; wrong credentials named as such."""

        def make() -> Access:
            from wizard.steps.buckets_step import s3_client

            store = self.plan.object_store
            try:
                client = s3_client(self.steps_ctx)
            except Exception as err:
                return Access(None, str(err))
            if client is None:
                return Access(
                    None,
                    f"no object store credentials (object_store.access_key_file / secret_key_file, or "
                    f"{self.plaintext_dir}/s3_access_key and s3_secret_key); run 'stackseal render' (and 'stackseal unlock')",
                )
            return self._probe_s3(client, store.endpoint)

        return self._once("s3", make)

    @staticmethod
    def _probe_s3(client: Any, endpoint: str) -> Access:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            client.list_buckets()
        except S3Error as err:
            if err.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken"):
                return Access(None, f"object store at {endpoint} refuses the credentials ({err.code})", True)
            return Access(None, f"object store at {endpoint}: {err.code}: {err.message}")
        except (HTTPError, OSError) as err:
            return Access(None, f"object store at {endpoint} is not reachable ({type(err).__name__})")
        return Access(client)

    # -- neo4j ----------------------------------------------------------------------------------
    def neo4j_auth(self) -> tuple[str, str] | None | str:
        """(user, password), None for auth disabled, or a string saying why it cannot be read."""
        path = (
            self.plan.resolve(self.plan.neo4j.auth_file)
            if self.plan.neo4j.auth_file
            else self.plaintext_dir / "neo4j_auth"
        )
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            return f"cannot read the Neo4j auth file {path} ({err.strerror})"
        if text == "none":
            return None
        user, sep, password = text.partition("/")
        if not sep:
            return f"the Neo4j auth file {path} is not in the form neo4j/PASSWORD"
        return user, password

    def neo4j(self) -> Access:
        def make() -> Access:
            from neo4j import GraphDatabase
            from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

            auth = self.neo4j_auth()
            if isinstance(auth, str):
                return Access(None, auth)
            url = self.plan.neo4j.bolt_url
            try:
                driver = GraphDatabase.driver(
                    url, auth=auth, connection_timeout=self.timeout, max_transaction_retry_time=0
                )
                driver.verify_connectivity()
            except AuthError:
                return Access(None, f"wrong credentials: Neo4j at {url} refuses them (authentication failure)", True)
            except (ServiceUnavailable, OSError) as err:
                return Access(None, f"Neo4j at {url} is not reachable ({type(err).__name__})")
            except Neo4jError as err:
                return Access(None, f"Neo4j at {url}: {err.code}")
            except ValueError as err:
                return Access(None, f"Neo4j at {url}: {err}")
            return Access(driver)

        return self._once("neo4j", make)

    def close(self) -> None:
        neo = self._cache.get("neo4j")
        if neo is not None and neo.client is not None:
            neo.client.close()
        ctx = self._cache.get("steps_ctx")
        if ctx is not None:
            ctx.close()
