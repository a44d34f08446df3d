"""Step ``buckets``: every bucket exists with default encryption, on the running object store.

Why here and not in the compose file: bucket default encryption is S3 state (PutBucketEncryption)
that lives in the store, so it is read and set through the S3 API (the minio SDK), the same way
whether the store is MinIO or SeaweedFS. SSE-S3 and SSE-KMS become the bucket default; SSE-C
cannot be a default (the client sends the key with every request), so for SSE-C the step only
creates the buckets and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from wizard.errors import OperationFailed
from wizard.kms import plaintext_dir
from wizard.steps.base import Action, Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, ProgressMeter, StepLog


def _credential(ctx: Context, user_file: str | None, name: str) -> str | None:
    path = ctx.plan.resolve(user_file) if user_file else plaintext_dir(ctx.plan) / name
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise OperationFailed(
            f"{path}: permission denied reading the object store credentials; run as the user that owns it"
        ) from None


def s3_client(ctx: Context) -> Any | None:
    """A minio SDK client for the plan's endpoint; None while the credentials are not written yet."""
    from minio import Minio

    store = ctx.plan.object_store
    access = _credential(ctx, store.access_key_file, "s3_access_key")
    secret = _credential(ctx, store.secret_key_file, "s3_secret_key")
    if not access or not secret:
        return None
    url = urlparse(store.endpoint)
    http_client = None
    ca = plaintext_dir(ctx.plan) / "store_ca.crt"
    if url.scheme == "https" and ca.exists():
        import urllib3

        http_client = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(ca),
            timeout=urllib3.Timeout(10, 30),
            retries=urllib3.Retry(total=2, backoff_factor=0.5),
        )
    elif url.scheme == "http":
        import urllib3

        http_client = urllib3.PoolManager(
            timeout=urllib3.Timeout(10, 30), retries=urllib3.Retry(total=2, backoff_factor=0.5)
        )
    return Minio(
        url.netloc, access_key=access, secret_key=secret, secure=url.scheme == "https", http_client=http_client
    )


def wanted_rule(ctx: Context) -> Any | None:
    """The bucket default-encryption rule for the plan's SSE mode (None for SSE-C)."""
    from minio.sseconfig import Rule

    store = ctx.plan.object_store
    if store.sse == "sse-s3":
        return Rule.new_sse_s3_rule()
    if store.sse == "sse-kms":
        return Rule.new_sse_kms_rule(store.key_name)
    return None


def _rule_matches(config: Any, rule: Any) -> bool:
    if config is None or rule is None:
        return config is None and rule is None
    have = config.rule
    return have.sse_algorithm == rule.sse_algorithm and (have.kms_master_key_id or None) == (
        rule.kms_master_key_id or None
    )


def bucket_states(ctx: Context, client: Any) -> list[tuple[str, str]]:
    """(bucket, what is missing: '' | 'create' | 'encryption') for each bucket of the plan."""
    rule = wanted_rule(ctx)
    states = []
    for bucket in ctx.plan.object_store.buckets:
        if not client.bucket_exists(bucket):
            states.append((bucket, "create"))
        elif rule is not None and not _rule_matches(client.get_bucket_encryption(bucket), rule):
            states.append((bucket, "encryption"))
        else:
            states.append((bucket, ""))
    return states


class StoreUnreachable(OperationFailed):
    """Nothing answers at the endpoint (on a first apply: the store is not started yet)."""


def _reach(ctx: Context, func: Any, *args: Any) -> Any:
    """Call the store; connection and credential problems become one line."""
    from minio.error import S3Error
    from urllib3.exceptions import HTTPError

    try:
        return func(*args)
    except S3Error as err:
        if err.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise OperationFailed(
                f"object store at {ctx.plan.object_store.endpoint} refuses the credentials ({err.code}); "
                "check object_store.access_key_file / secret_key_file"
            ) from None
        raise OperationFailed(f"object store at {ctx.plan.object_store.endpoint}: {err.code}: {err.message}") from None
    except (HTTPError, OSError) as err:
        raise StoreUnreachable(
            f"object store at {ctx.plan.object_store.endpoint} is not reachable ({type(err).__name__}); "
            "is the stack running? ('docker compose ps')"
        ) from None


class BucketsStep(Step):
    id = "buckets"
    title = "Buckets with default encryption"

    def read_facts(self, ctx: Context) -> Facts:
        """The buckets' state on the store; an unreachable store is a fact (first apply), while a
        store that answers with an error (credentials refused, anything else) is reported as is."""
        store = ctx.plan.object_store
        facts: Facts = {"sse": store.sse, "buckets": list(store.buckets), "credentials": False, "reachable": None}
        client = s3_client(ctx)
        if client is None:
            return facts
        facts["credentials"] = True
        try:
            facts["states"] = [[bucket, what] for bucket, what in _reach(ctx, bucket_states, ctx, client)]
            facts["reachable"] = True
        except StoreUnreachable:
            facts["reachable"] = False
        return facts

    def decide(self, facts: Facts) -> StepCheck:
        sse, buckets = facts["sse"], facts["buckets"]
        note = " (SSE-C: no bucket default; the client sends the key per object)" if sse == "sse-c" else ""
        if not facts["credentials"] or not facts["reachable"]:
            return StepCheck("+", f"create {len(buckets)} buckets with {sse} once the store runs{note}")
        states = facts["states"]
        todo = [(b, what) for b, what in states if what]
        if not todo:
            return StepCheck("=", f"all {len(states)} buckets exist with {sse} default encryption{note}")
        details = tuple(
            f"{'+' if what == 'create' else '~'} {b}: {'create and encrypt' if what == 'create' else 'set default encryption'}"
            for b, what in todo
        )
        action: Action = "+" if all(what == "create" for _, what in todo) else "~"
        return StepCheck(action, f"{len(todo)} of {len(states)} buckets to create or encrypt ({sse}){note}", details)

    def apply(self, ctx: Context, emit: Emit) -> str:
        from minio.sseconfig import SSEConfig

        client = s3_client(ctx)
        if client is None:
            raise OperationFailed(
                f"object store credentials not found in {plaintext_dir(ctx.plan)} (s3_access_key, s3_secret_key); "
                "run the render step first ('stackseal render')"
            )
        states = _reach(ctx, bucket_states, ctx, client)
        rule = wanted_rule(ctx)
        meter = ProgressMeter(self.id, emit, items_total=len(states))
        changed = 0
        for bucket, what in states:
            if what == "create":
                _reach(ctx, client.make_bucket, bucket)
                emit(StepLog(self.id, f"created bucket {bucket}"))
            if what and rule is not None:
                _reach(ctx, client.set_bucket_encryption, bucket, SSEConfig(rule))
                emit(StepLog(self.id, f"bucket {bucket}: default encryption {ctx.plan.object_store.sse}"))
            changed += bool(what)
            meter.advance(1, what=bucket)
        return f"{changed} buckets created or encrypted ({ctx.plan.object_store.sse})"
