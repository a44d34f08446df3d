"""Facts about the services the answers point to: Neo4j, the object store, Vault/OpenBao.

Each probe reaches only the address in the answers, with its own timeout; credentials are read
from the files the answers name and never shown.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from wizard.detect.facts import Fact, short
from wizard.plan import Plan


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def tcp_open(host: str, port: int, timeout: float) -> bool | None:
    """True if something accepts TCP on host:port, False if refused, None on timeout."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except TimeoutError:
        return None
    except OSError:
        return False


def neo4j_edition(bolt_url: str, user: str, password: str, timeout: float) -> tuple[str, str]:
    """(edition, version) of the Neo4j at ``bolt_url`` via ``CALL dbms.components()``."""
    from neo4j import GraphDatabase  # heavy: imported only when credentials are at hand

    with GraphDatabase.driver(
        bolt_url, auth=(user, password), connection_timeout=timeout, max_transaction_retry_time=0
    ) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition RETURN versions, edition"
        )
        record = records[0]
        return str(record["edition"]), str(record["versions"][0])


def probe_neo4j(plan: Plan, timeout: float) -> Fact:
    url = plan.neo4j.bolt_url
    host, port = host_port(url, 7687)
    reachable = tcp_open(host, port, timeout)
    if reachable is None:
        return Fact("neo4j", "Neo4j", None, f"{host}:{port} gave no answer within {timeout:g}s")
    if not reachable:
        return Fact("neo4j", "Neo4j", False, f"nothing listens on {host}:{port} (a new stack will be created)")
    auth_file = plan.neo4j.auth_file
    if not auth_file:
        return Fact(
            "neo4j",
            "Neo4j",
            True,
            f"Bolt answers on {host}:{port}; edition unknown (set neo4j.auth_file to detect it)",
            {"bolt": True},
        )
    try:
        user, _, password = plan.resolve(auth_file).read_text(encoding="utf-8").strip().partition("/")
    except OSError as err:
        return Fact(
            "neo4j",
            "Neo4j",
            True,
            f"Bolt answers; cannot read auth file: {short(err.strerror or err)}",
            {"bolt": True},
        )
    try:
        edition, version = neo4j_edition(url, user, password, timeout)
    except Exception as err:  # driver errors: auth failure, protocol, timeout
        return Fact("neo4j", "Neo4j", True, f"Bolt answers; edition query failed: {type(err).__name__}", {"bolt": True})
    return Fact(
        "neo4j",
        "Neo4j",
        True,
        f"Neo4j {version} {edition} at {host}:{port}",
        {"bolt": True, "edition": edition, "version": version},
    )


def _http_get(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; HTTP error statuses are returned, not raised (they carry information)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read(65536)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers or {}), err.read(65536) if err.fp else b""


def net_error(err: BaseException, timeout: float) -> tuple[bool | None, str]:
    reason = getattr(err, "reason", err)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return None, f"no answer within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return False, "connection refused"
    return False, short(reason if isinstance(reason, BaseException) else str(reason))


def probe_object_store(plan: Plan, timeout: float) -> Fact:
    url = plan.object_store.endpoint.rstrip("/") + "/"
    try:
        status, headers, _ = _http_get(url, timeout)
    except (OSError, ValueError) as err:
        ok, why = net_error(err, timeout)
        suffix = " (a new store will be created)" if ok is False else ""
        return Fact("object_store", "Object store", ok, f"{plan.object_store.endpoint}: {why}{suffix}")
    server = headers.get("Server", "")
    kind = "minio" if "minio" in server.lower() else "seaweedfs" if "seaweed" in server.lower() else None
    name = {"minio": "MinIO", "seaweedfs": "SeaweedFS"}.get(kind or "", server or "an HTTP server")
    return Fact(
        "object_store",
        "Object store",
        True,
        f"{name} answers at {plan.object_store.endpoint} (HTTP {status})",
        {"kind": kind, "server": server, "status": status},
    )


def vault_health(address: str, timeout: float) -> dict[str, Any]:
    """``/v1/sys/health`` of a Vault/OpenBao (every status code carries the seal state)."""
    status, _, body = _http_get(address.rstrip("/") + "/v1/sys/health", timeout)
    try:
        data = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise OSError(f"HTTP {status} from {address} is not a Vault health answer") from None
    if not isinstance(data, dict) or "sealed" not in data:
        raise OSError(f"HTTP {status} from {address} is not a Vault health answer")
    data["_status"] = status
    return data


def probe_vault(plan: Plan, timeout: float) -> Fact:
    address = plan.kms.vault.address
    try:
        health = vault_health(address, timeout)
    except (OSError, ValueError) as err:
        ok, why = net_error(err, timeout)
        return Fact("vault", "Vault / OpenBao", ok, f"{address}: {why}")
    version = health.get("version", "?")
    if not health.get("initialized", False):
        state = "not initialised"
    elif health.get("sealed"):
        state = "sealed"
    else:
        state = "unsealed"
    data = {"version": version, "sealed": bool(health.get("sealed")), "initialized": bool(health.get("initialized"))}
    return Fact("vault", "Vault / OpenBao", True, f"{version} at {address}, {state}", data)
