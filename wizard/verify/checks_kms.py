"""The KMS: reachable, unsealed, authenticated (Vault/OpenBao; the local backend is a WARN), and key
age against ``rotation.interval_days`` (transit key versions, wrapped blobs, key files).

Why apart from the key-file checks: these talk to the KMS over the network and are the KMS
tile of the dashboard; the others only read files on this host.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from wizard.verify.checks_keys import WRAPPED_SUFFIX, _read_small
from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status
from wizard.verify.mounts import quote


def _vault_client(ctx: VerifyContext) -> Any:
    from wizard.steps.kms_step import client

    return client(ctx.steps_ctx)


def check_kms(ctx: VerifyContext) -> list[Result]:
    backend = ctx.plan.kms.backend
    if backend == "local":
        return [
            Result(
                Status.WARN,
                "kms.backend is local: keys are files on this host (development only)",
                "",
                (),
                remediation="choose kms.backend vault (or OpenBao), aws, azure or gcp for anything beyond development",
            )
        ]
    if backend != "vault":
        return [
            Result(
                Status.SKIP,
                f"kms.backend {backend}: this version of verify checks Vault/OpenBao only "
                "(apply's kms step reaches the cloud KMS when it runs)",
            )
        ]
    import hvac.exceptions as hx
    import requests

    address = ctx.plan.kms.vault.address
    ev: list[Evidence] = []
    try:
        c = _vault_client(ctx)
        response = requests.get(
            f"{address.rstrip('/')}/v1/sys/health",
            timeout=ctx.timeout,
            params={"standbyok": "true", "sealedcode": "200", "uninitcode": "200"},
        )
        try:
            health = response.json()
        except (ValueError, RecursionError):  # not JSON, or nested thousands deep
            health = None
        if not isinstance(health, dict):
            return [Result(Status.FAIL, f"{address} did not answer like Vault/OpenBao (sys/health)", "", tuple(ev))]
        ev.append(
            Evidence(
                "command",
                "health",
                f"curl -s {address}/v1/sys/health",
                json.dumps({k: health.get(k) for k in ("initialized", "sealed", "version")}),
            )
        )
        if not health.get("initialized"):
            return [
                Result(
                    Status.FAIL,
                    f"Vault at {address} is not initialised",
                    "",
                    tuple(ev),
                    remediation="run 'stackseal apply'",
                )
            ]
        if health.get("sealed"):
            return [
                Result(
                    Status.FAIL,
                    f"Vault at {address} is SEALED: nothing can be unwrapped",
                    "",
                    tuple(ev),
                    remediation="unseal it ('bao operator unseal' / 'vault operator unseal', or 'stackseal apply' for a deployed OpenBao)",
                )
            ]
        if not c.token:
            return [Result(Status.FAIL, "no Vault token (kms.vault.token_file or VAULT_TOKEN)", "", tuple(ev))]
        me = c.auth.token.lookup_self()["data"]
        ev.append(
            Evidence("command", "token", "bao token lookup", f"policies={me.get('policies')} ttl={me.get('ttl')}")
        )
    except (hx.Forbidden, hx.Unauthorized):
        return [
            Result(
                Status.FAIL,
                f"wrong credentials: Vault at {address} rejects the token",
                "",
                tuple(ev),
                remediation="check kms.vault.token_file or VAULT_TOKEN",
            )
        ]
    except requests.exceptions.RequestException as err:
        return [Result(Status.FAIL, f"Vault at {address} is not reachable ({type(err).__name__})", "", tuple(ev))]
    return [Result(Status.PASS, f"Vault at {address}: reachable, unsealed, token accepted", "", tuple(ev))]


def _age_days(seconds: float) -> float:
    return max(time.time() - seconds, 0) / 86400


def check_key_age(ctx: VerifyContext) -> list[Result]:
    interval = ctx.plan.rotation.interval_days
    backend = ctx.plan.kms.backend
    ages: list[tuple[str, float, str]] = []  # (what, age days, evidence line)
    if backend == "vault":
        import hvac.exceptions as hx
        import requests

        try:
            c = _vault_client(ctx)
            info = c.secrets.transit.read_key(name=ctx.plan.kms.key_name, mount_point=ctx.plan.kms.vault.transit_mount)[
                "data"
            ]
        except (hx.VaultError, requests.exceptions.RequestException) as err:
            return [
                Result(
                    Status.SKIP,
                    f"transit key {ctx.plan.kms.key_name} cannot be read ({type(err).__name__}); see kms.status",
                )
            ]
        latest = str(info.get("latest_version"))
        created = info.get("keys", {}).get(latest)
        from datetime import datetime

        if isinstance(created, str):
            ts = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        else:
            ts = float(created or time.time())
        ages.append(
            (
                f"transit key {ctx.plan.kms.key_name} v{latest}",
                _age_days(ts),
                f"bao read {ctx.plan.kms.vault.transit_mount}/keys/{ctx.plan.kms.key_name} -> v{latest} created {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ts))}",
            )
        )
    sdir = ctx.secrets_dir
    if sdir.is_dir():
        from wizard.kms.base import WrappedBlob

        for path in sorted(sdir.glob(f"*{WRAPPED_SUFFIX}")):
            try:
                blob = WrappedBlob.from_json(json.loads(_read_small(path) or b""))
                from datetime import datetime

                when = blob.rotated or blob.created
                ts = datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
                ages.append((path.name, _age_days(ts), f"{path.name}: created {blob.created} rotated {blob.rotated}"))
            except Exception:
                continue
        for path in sorted(sdir.glob("volume-*.key")) + [
            p for p in (sdir / "minio_kms_key", sdir / "seaweedfs_security.toml") if p.exists()
        ]:
            st = os.lstat(path)
            ages.append(
                (
                    path.name,
                    _age_days(st.st_mtime),
                    f"{path.name}: last written {time.strftime('%Y-%m-%d', time.gmtime(st.st_mtime))}",
                )
            )
    if not ages:
        return [Result(Status.SKIP, "no keys found to date (not rendered yet?)")]
    ev = (Evidence("text", "key ages", f"stat -c '%y %n' {quote(sdir)}/*", "\n".join(e for _, _, e in ages)),)
    overdue = [f"{w} ({a:.0f} days)" for w, a, _ in ages if a > interval]
    oldest = max(a for _, a, _ in ages)
    if overdue:
        return [
            Result(
                Status.FAIL,
                f"{len(overdue)} keys older than rotation.interval_days={interval}: {', '.join(overdue[:5])}",
                "",
                ev,
                remediation="rotate them (RUNBOOK.md, section rotation)",
            )
        ]
    if oldest > 0.9 * interval:
        return [
            Result(
                Status.WARN,
                f"the oldest key is {oldest:.0f} days old; rotation is due within {interval - oldest:.0f} days",
                "",
                ev,
            )
        ]
    return [Result(Status.PASS, f"{len(ages)} keys, oldest {oldest:.0f} days (rotation every {interval} days)", "", ev)]
