"""Facts about this host and any stack already running (DESIGN.md section 1, "detect").

Why this shape:
- Each fact comes from one small *probe* with its own timeout, so the wizard can run every probe
  in a background worker and show each result the moment it arrives: detection never blocks
  the UI, and one slow service (a firewalled Vault) never delays the others.
- Probes use only the standard library (raw HTTP over the Docker socket, ``urllib``, TCP
  connects). The Neo4j driver is imported inside the one probe that needs it, and only when
  credentials are at hand: importing the wizard stays fast.
- A probe never raises: a failure is itself a fact ("not reachable: connection refused"), and a
  timeout is reported as unknown (``ok=None``), never as "absent".
- Facts feed the questions' defaults and decide which choices are offered (a volume backend this
  host cannot run is shown disabled with the reason, see :func:`volume_backend_unavailable`).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.plan import Plan

#: Seconds one network probe may take before its fact is reported as unknown.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class Fact:
    """One thing detection found out.

    ``ok`` is True (present / reachable), False (absent / unreachable) or None (could not be
    decided, e.g. timed out). ``summary`` is the one line shown to the user; ``data`` holds
    machine-readable details (versions, edition, sealed status) that defaults rely on.
    """

    key: str
    title: str
    ok: bool | None
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


class Facts:
    """The facts found so far, by key. Thread-safe: probes add facts from worker threads."""

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._facts: dict[str, Fact] = {}
        self._lock = threading.Lock()
        for fact in facts:
            self.add(fact)

    def add(self, fact: Fact) -> None:
        with self._lock:
            self._facts[fact.key] = fact

    def get(self, key: str) -> Fact | None:
        with self._lock:
            return self._facts.get(key)

    def ok(self, key: str) -> bool | None:
        """True/False when the fact is known, None when it is unknown or not detected yet."""
        fact = self.get(key)
        return None if fact is None else fact.ok

    def data(self, key: str, name: str, default: Any = None) -> Any:
        fact = self.get(key)
        return default if fact is None else fact.data.get(name, default)

    def all(self) -> list[Fact]:
        with self._lock:
            return list(self._facts.values())

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._facts

    def __len__(self) -> int:
        with self._lock:
            return len(self._facts)


@dataclass(frozen=True)
class Probe:
    """A named detection function; ``run`` never raises (see :meth:`run`)."""

    key: str
    title: str
    fn: Callable[[Plan, float], Fact]

    def run(self, plan: Plan, timeout: float = DEFAULT_TIMEOUT) -> Fact:
        try:
            return self.fn(plan, timeout)
        except Exception as err:  # a probe bug must not stop the wizard; say what happened
            return Fact(self.key, self.title, None, f"check failed: {type(err).__name__}: {_short(err)}")


def _short(err: BaseException | str, limit: int = 90) -> str:
    text = str(err).strip()
    if text:
        text = text.splitlines()[0]
    elif isinstance(err, BaseException):
        text = type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# host facts (local files and PATH: instant)
# ---------------------------------------------------------------------------------------------


def probe_os(plan: Plan, timeout: float) -> Fact:
    system = platform.system()
    release = platform.release()
    data = {"system": system, "release": release, "machine": platform.machine()}
    return Fact("os", "Operating system", True, f"{system} {release} ({platform.machine()})", data)


def probe_root(plan: Plan, timeout: float) -> Fact:
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    text = "running as root" if is_root else "not root: volume setup will need sudo"
    return Fact("root", "Privileges", is_root, text, {"root": is_root})


TOOLS = {
    "cryptsetup": "LUKS volumes",
    "gocryptfs": "gocryptfs volumes",
    "fscrypt": "fscrypt volumes",
    "docker": "Docker CLI",
}


def _tool_probe(name: str, purpose: str) -> Callable[[Plan, float], Fact]:
    def probe(plan: Plan, timeout: float) -> Fact:
        path = shutil.which(name)
        if path:
            return Fact(f"tool.{name}", f"{name}", True, f"found at {path} ({purpose})", {"path": path})
        return Fact(f"tool.{name}", f"{name}", False, f"not on PATH (needed for {purpose})")

    return probe


def probe_fuse(plan: Plan, timeout: float) -> Fact:
    dev = Path("/dev/fuse").exists()
    fusermount = shutil.which("fusermount3") or shutil.which("fusermount")
    allow_other = False
    try:
        allow_other = any(
            line.strip() == "user_allow_other" for line in Path("/etc/fuse.conf").read_text().splitlines()
        )
    except OSError:
        pass
    data = {"dev": dev, "fusermount": fusermount, "user_allow_other": allow_other}
    if not dev:
        return Fact("fuse", "FUSE", False, "/dev/fuse is missing (gocryptfs cannot mount)", data)
    if not fusermount:
        return Fact("fuse", "FUSE", False, "fusermount is not installed (apt-get install fuse3)", data)
    note = "" if allow_other else "; user_allow_other is off in /etc/fuse.conf (fine as root)"
    return Fact("fuse", "FUSE", True, f"/dev/fuse and {Path(fusermount).name} present{note}", data)


def probe_device_mapper(plan: Plan, timeout: float) -> Fact:
    """The kernel's own word (/proc/misc, /sys/class/misc), not /dev/mapper/control.

    Why: cryptsetup and dmsetup create /dev/mapper/control with mknod even when the kernel has
    no device-mapper driver, so the node's existence proves nothing.
    """
    try:
        misc = Path("/proc/misc").read_text()
    except OSError:
        misc = None
    if misc is not None:
        present = any(line.split()[-1:] == ["device-mapper"] for line in misc.splitlines())
    else:
        present = Path("/sys/class/misc/device-mapper").exists()
    if present:
        return Fact("device_mapper", "Device-mapper", True, "available (LUKS volumes can be opened)")
    return Fact(
        "device_mapper", "Device-mapper", False, "this kernel has no device-mapper (LUKS volumes cannot be opened)"
    )


def probe_fscrypt_kernel(plan: Plan, timeout: float) -> Fact:
    if Path("/sys/fs/ext4/features/encryption").exists():
        return Fact("fscrypt_kernel", "Kernel fscrypt", True, "ext4 encryption supported by this kernel")
    return Fact("fscrypt_kernel", "Kernel fscrypt", False, "this kernel does not offer ext4 encryption")


# ---------------------------------------------------------------------------------------------
# Docker and Compose (Docker API over its UNIX socket: no SDK import, hard timeout)
# ---------------------------------------------------------------------------------------------


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def docker_socket() -> str | None:
    """The Docker daemon's UNIX socket path (``DOCKER_HOST=unix://...`` or the default)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


def docker_get(path: str, timeout: float) -> Any:
    """GET a Docker Engine API path and decode its JSON (raises OSError on failure)."""
    sock_path = docker_socket()
    if sock_path is None:
        raise OSError("DOCKER_HOST is not a unix:// socket; only local engines are detected")
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"Docker API {path} answered HTTP {response.status}")
        return json.loads(body)
    finally:
        conn.close()


def probe_docker(plan: Plan, timeout: float) -> Fact:
    try:
        info = docker_get("/version", timeout)
    except FileNotFoundError:
        return Fact("docker", "Docker engine", False, f"no daemon socket at {docker_socket()} (is dockerd running?)")
    except TimeoutError:
        return Fact("docker", "Docker engine", None, f"no answer within {timeout:g}s")
    except (OSError, ValueError) as err:
        return Fact("docker", "Docker engine", False, f"not reachable: {_short(err)}")
    version = info.get("Version", "?")
    api = info.get("ApiVersion", "?")
    return Fact("docker", "Docker engine", True, f"Docker {version} (API {api})", {"version": version, "api": api})


def _compose_binaries() -> list[list[str]]:
    candidates = []
    for plugin_dir in (
        Path.home() / ".docker/cli-plugins",
        Path("/usr/local/lib/docker/cli-plugins"),
        Path("/usr/lib/docker/cli-plugins"),
    ):
        plugin = plugin_dir / "docker-compose"
        if plugin.exists():
            candidates.append([str(plugin)])
    standalone = shutil.which("docker-compose")
    if standalone:
        candidates.append([standalone])
    return candidates


def probe_compose(plan: Plan, timeout: float) -> Fact:
    for cmd in _compose_binaries():
        try:
            out = subprocess.run(
                [*cmd, "version", "--short"], capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return Fact("compose", "Docker Compose", None, f"{cmd[0]} gave no answer within {timeout:g}s")
        except OSError:
            continue
        version = out.stdout.strip().lstrip("v")
        if out.returncode == 0 and version:
            major = version.split(".", 1)[0]
            if major.isdigit() and int(major) >= 2:
                return Fact(
                    "compose",
                    "Docker Compose",
                    True,
                    f"Compose v{version} ({cmd[0]})",
                    {"version": version, "path": cmd[0]},
                )
            return Fact(
                "compose", "Docker Compose", False, f"Compose v{version} is too old: v2 is needed", {"version": version}
            )
    return Fact("compose", "Docker Compose", False, "Compose v2 not found (install the docker-compose plugin)")


def probe_running_stack(plan: Plan, timeout: float) -> Fact:
    label = "com.docker.compose.project"
    try:
        containers = docker_get("/containers/json", timeout)
    except TimeoutError:
        return Fact("stack", "Running stack", None, f"Docker gave no answer within {timeout:g}s")
    except (OSError, ValueError):
        return Fact("stack", "Running stack", None, "unknown (Docker not reachable)")
    projects: dict[str, list[str]] = {}
    for container in containers:
        labels = container.get("Labels") or {}
        if label in labels:
            projects.setdefault(labels[label], []).append(labels.get("com.docker.compose.service", "?"))
    data = {"projects": {name: sorted(services) for name, services in projects.items()}}
    if not projects:
        return Fact("stack", "Running stack", False, "no Compose project is running", data)
    listing = "; ".join(f"{name}: {', '.join(sorted(services))}" for name, services in sorted(projects.items()))
    return Fact("stack", "Running stack", True, listing, data)


# ---------------------------------------------------------------------------------------------
# services the answers point to (Neo4j, object store, Vault/OpenBao)
# ---------------------------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
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
    host, port = _host_port(url, 7687)
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
            f"Bolt answers; cannot read auth file: {_short(err.strerror or err)}",
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


def _net_error(err: BaseException, timeout: float) -> tuple[bool | None, str]:
    reason = getattr(err, "reason", err)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return None, f"no answer within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return False, "connection refused"
    return False, _short(reason if isinstance(reason, BaseException) else str(reason))


def probe_object_store(plan: Plan, timeout: float) -> Fact:
    url = plan.object_store.endpoint.rstrip("/") + "/"
    try:
        status, headers, _ = _http_get(url, timeout)
    except (OSError, ValueError) as err:
        ok, why = _net_error(err, timeout)
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
    except ValueError:
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
        ok, why = _net_error(err, timeout)
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


#: The answers each service probe reads: when one changes, the wizard probes again.
PROBE_INPUTS: dict[str, tuple[str, ...]] = {
    "neo4j": ("neo4j.bolt_url", "neo4j.auth_file"),
    "object_store": ("object_store.endpoint",),
    "vault": ("kms.vault.address",),
}


def probe_inputs(key: str, plan: Plan) -> tuple[Any, ...]:
    """The values of the answers probe ``key`` depends on (to discard a stale result)."""
    from wizard.plan import get_path

    return tuple(get_path(plan, dotted) for dotted in PROBE_INPUTS.get(key, ()))


#: Every probe, in the order the Welcome screen lists them.
PROBES: list[Probe] = [
    Probe("os", "Operating system", probe_os),
    Probe("root", "Privileges", probe_root),
    *[Probe(f"tool.{name}", name, _tool_probe(name, purpose)) for name, purpose in TOOLS.items()],
    Probe("fuse", "FUSE", probe_fuse),
    Probe("device_mapper", "Device-mapper", probe_device_mapper),
    Probe("fscrypt_kernel", "Kernel fscrypt", probe_fscrypt_kernel),
    Probe("docker", "Docker engine", probe_docker),
    Probe("compose", "Docker Compose", probe_compose),
    Probe("stack", "Running stack", probe_running_stack),
    Probe("neo4j", "Neo4j", probe_neo4j),
    Probe("object_store", "Object store", probe_object_store),
    Probe("vault", "Vault / OpenBao", probe_vault),
]


def detect_all(
    plan: Plan,
    on_fact: Callable[[Fact], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    probes: list[Probe] | None = None,
) -> Facts:
    """Run every probe concurrently; ``on_fact`` sees each fact as it arrives (plain mode, tests).

    The wall time is bounded by the slowest probe's own timeout, not by their sum.
    """
    facts = Facts()
    chosen = PROBES if probes is None else probes
    with ThreadPoolExecutor(max_workers=min(8, len(chosen)) or 1, thread_name_prefix="detect") as pool:
        futures = [pool.submit(probe.run, plan, timeout) for probe in chosen]
        for future in futures:
            fact = future.result()
            facts.add(fact)
            if on_fact:
                on_fact(fact)
    return facts


# ---------------------------------------------------------------------------------------------
# what the facts mean for the questions
# ---------------------------------------------------------------------------------------------


def volume_backend_unavailable(backend: str, facts: Facts) -> str | None:
    """Why ``backend`` cannot run on this host, or None if it can (or is not known yet)."""

    def missing(key: str) -> bool:
        return facts.ok(key) is False

    if backend in ("luks-file", "luks-device"):
        if missing("tool.cryptsetup"):
            return "cryptsetup is not installed (apt-get install cryptsetup-bin)"
        if missing("device_mapper"):
            return "this kernel has no device-mapper, so LUKS volumes cannot be opened"
        if missing("root"):
            return "opening LUKS volumes needs root"
    if backend == "gocryptfs":
        if missing("tool.gocryptfs"):
            return "gocryptfs is not installed (apt-get install gocryptfs fuse3)"
        if missing("fuse"):
            fact = facts.get("fuse")
            return fact.summary if fact else "FUSE is not available"
    if backend == "fscrypt":
        if missing("tool.fscrypt"):
            return "fscrypt is not installed (apt-get install fscrypt)"
        if missing("fscrypt_kernel"):
            return "this kernel does not offer ext4 encryption"
        if missing("root"):
            return "fscrypt volumes are loop-mounted ext4 images: needs root"
    return None


def kms_test(plan: Plan, timeout: float = DEFAULT_TIMEOUT) -> Fact:
    """The KMS screen's "test connection": each backend's own test (wizard/kms/<backend>.py), never a secret."""
    from wizard.kms import get_backend  # the connection test lives with its backend

    result = get_backend(plan).connection_test(timeout)
    return Fact("kms_test", "KMS", result.ok, result.detail)


class _BadCredential(ValueError):
    """A credential file's content cannot be a token; the message names the file, never the content."""


def _read_secret(plan: Plan, path: str) -> str:
    """One credential from a file, refused (without echoing it) unless it is one printable word.

    Why: a value with a newline or a control character ends up in an HTTP header, and the HTTP
    library's error for it quotes the whole value — a token on screen.
    """
    try:
        value = plan.resolve(path).read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise _BadCredential(f"{path}: not text; it must hold the credential alone") from None
    if not value:
        raise _BadCredential(f"{path}: empty; it must hold the credential")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise _BadCredential(
            f"{path}: must hold one credential on one line (found spaces, line breaks or control characters)"
        )
    return value


def _vault_request(
    address: str,
    path: str,
    timeout: float,
    token: str | None = None,
    body: dict | None = None,
    namespace: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Vault-Token"] = token
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        address.rstrip("/") + path, data=data, headers=headers, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        try:
            return err.code, json.loads(err.read() or b"{}")
        except ValueError:
            return err.code, {}


def _vault_test(plan: Plan, timeout: float) -> Fact:
    v = plan.kms.vault
    if v.deploy:
        return Fact("kms_test", "KMS", True, "OpenBao will run inside the stack: nothing to reach yet")
    try:
        health = vault_health(v.address, timeout)
    except (OSError, ValueError) as err:
        ok, why = _net_error(err, timeout)
        return Fact("kms_test", "KMS", ok, f"{v.address}: {why}")
    if health.get("sealed"):
        return Fact("kms_test", "KMS", False, f"{v.address} is sealed: unseal it first")
    try:
        if v.token_file:
            token = _read_secret(plan, v.token_file)
            how = "token"
        elif v.approle_role_id_file and v.approle_secret_id_file:
            status, answer = _vault_request(
                v.address,
                "/v1/auth/approle/login",
                timeout,
                namespace=v.namespace,
                body={
                    "role_id": _read_secret(plan, v.approle_role_id_file),
                    "secret_id": _read_secret(plan, v.approle_secret_id_file),
                },
            )
            if status != 200:
                return Fact("kms_test", "KMS", False, f"AppRole login refused (HTTP {status})")
            token = answer["auth"]["client_token"]
            how = "AppRole"
        elif os.environ.get("VAULT_TOKEN"):
            token, how = os.environ["VAULT_TOKEN"], "VAULT_TOKEN"
        else:
            return Fact(
                "kms_test", "KMS", None, f"{v.address} is up and unsealed; no token given, so access was not tested"
            )
    except _BadCredential as err:
        return Fact("kms_test", "KMS", False, str(err))
    except OSError as err:
        return Fact("kms_test", "KMS", False, f"cannot read a credentials file: {_short(err.strerror or err)}")
    except (ValueError, KeyError, TypeError) as err:  # a malformed answer; its text may quote what we sent
        return Fact("kms_test", "KMS", False, f"{v.address}: unexpected answer to the login ({type(err).__name__})")
    try:
        return _vault_token_test(v, token, how, timeout)
    except (OSError, ValueError, http.client.HTTPException) as err:  # never str(err): it may quote a header (the token)
        ok, why = _net_error(err, timeout) if isinstance(err, OSError) else (False, type(err).__name__)
        return Fact("kms_test", "KMS", ok, f"{v.address}: {why}")


def _vault_token_test(v: Any, token: str, how: str, timeout: float) -> Fact:
    """What a token may do: lookup-self, then whether the transit mount exists."""
    status, answer = _vault_request(
        v.address, "/v1/auth/token/lookup-self", timeout, token=token, namespace=v.namespace
    )
    if status != 200:
        return Fact("kms_test", "KMS", False, f"{how} refused by {v.address} (HTTP {status})")
    policies = ", ".join(answer.get("data", {}).get("policies", []) or [])
    status, mounts = _vault_request(v.address, "/v1/sys/mounts", timeout, token=token, namespace=v.namespace)
    transit = f"{v.transit_mount}/"
    if status == 200:
        found = transit in (mounts.get("data", mounts) or {})
        mount_text = f"transit mount '{v.transit_mount}' {'present' if found else 'missing: apply will enable it'}"
    else:
        mount_text = "mounts not readable with this token (apply needs transit access)"
    return Fact("kms_test", "KMS", True, f"{how} accepted (policies: {policies or 'none'}); {mount_text}")


def _aws_test(plan: Plan, timeout: float) -> Fact:
    aws = plan.kms.aws
    try:
        import boto3  # optional: only needed for the AWS backend
        from botocore.config import Config
    except ImportError:
        return Fact("kms_test", "KMS", None, "boto3 is not installed (pip install boto3); connection not tested")
    try:
        session = boto3.session.Session(profile_name=aws.profile, region_name=aws.region)
        client = session.client(
            "kms",
            endpoint_url=aws.endpoint_url,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
        )
        key = aws.key_id or f"alias/{plan.kms.key_name}"  # stackseal never creates AWS keys: it must exist
        meta = client.describe_key(KeyId=key)["KeyMetadata"]
        ok = meta["KeyState"] == "Enabled"
        return Fact("kms_test", "KMS", ok, f"key {key} ({meta['KeyId']}) is {meta['KeyState']} in {aws.region}")
    except Exception as err:  # botocore raises many types; the class name and first line say enough
        if type(err).__name__ == "NotFoundException":
            return Fact(
                "kms_test",
                "KMS",
                False,
                f"credentials accepted, but key {aws.key_id or 'alias/' + plan.kms.key_name} "
                f"does not exist in {aws.region}: create it or set its key id",
            )
        return Fact("kms_test", "KMS", False, f"AWS KMS: {type(err).__name__}: {_short(err)}")


def _endpoint_test(backend: str, url: str | None, cred_file: str | None, plan: Plan, timeout: float) -> Fact:
    """Azure/GCP: their SDKs are not dependencies; check what can be checked and say so."""
    name = {"azure": "Azure Key Vault", "gcp": "Google Cloud KMS"}[backend]
    if not url:
        return Fact("kms_test", "KMS", False, f"{name}: the vault URL is not set")
    if cred_file and not plan.resolve(cred_file).is_file():
        return Fact("kms_test", "KMS", False, f"{name}: credentials file {cred_file} does not exist")
    host, port = _host_port(url, 443)
    reachable = tcp_open(host, port, timeout)
    if reachable:
        return Fact("kms_test", "KMS", None, f"{name} endpoint {host} reachable; credentials are checked at apply")
    return Fact(
        "kms_test",
        "KMS",
        None if reachable is None else False,
        f"{name} endpoint {host} not reachable from here; you can continue offline and apply elsewhere",
    )
