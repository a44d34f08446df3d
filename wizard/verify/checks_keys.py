"""Keys: no secret in compose environment, env files or the answers file; secret files' modes and
owners; the KMS reachable, unsealed, authenticated; key age against ``rotation.interval_days``;
no plaintext key on persistent disk.

Why compare values and not only names: a secret pasted into an environment value under an
innocent name is still a leak; stackseal knows every secret it generated (``secrets/``) and
every secret file the answers file points to, so it looks for those exact values. Evidence names
the secret and the place, never the value.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status
from wizard.verify.mounts import mount_of, quote

#: Public material kept next to the secrets; never counted as a secret.
PUBLIC_SUFFIXES = (".crt", ".pub", ".pem.pub")
WRAPPED_SUFFIX = ".wrapped.json"
MAX_SECRET_FILE = 1 << 20
MEMORY_FS = ("tmpfs", "ramfs")
#: literal values that are settings, not secrets (NEO4J_AUTH=none is a setting: auth is off)
_NOT_SECRET = {"''", '""', "none", "true", "false", "yes", "no", "on", "off"}
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|API_KEY|ACCESS_KEY|_KEY$|^KEY$|AUTH$)", re.I)


def _user_secret_files(ctx: VerifyContext) -> dict[str, Path]:
    plan = ctx.plan
    pointed = {
        "neo4j.auth_file": plan.neo4j.auth_file,
        "object_store.access_key_file": plan.object_store.access_key_file,
        "object_store.secret_key_file": plan.object_store.secret_key_file,
        "kms.vault.token_file": plan.kms.vault.token_file,
        "kms.vault.approle_role_id_file": plan.kms.vault.approle_role_id_file,
        "kms.vault.approle_secret_id_file": plan.kms.vault.approle_secret_id_file,
        "kms.azure.client_secret_file": plan.kms.azure.client_secret_file,
        "kms.gcp.credentials_file": plan.kms.gcp.credentials_file,
    }
    return {k: plan.resolve(v) for k, v in pointed.items() if v}


def secret_files(ctx: VerifyContext) -> dict[str, Path]:
    """name -> path of every plaintext secret stackseal knows about (wrapped blobs excluded)."""
    found: dict[str, Path] = {}
    sdir = ctx.secrets_dir
    if sdir.is_dir() and not sdir.is_symlink():
        for entry in sorted(os.scandir(sdir), key=lambda e: e.name):
            if (
                entry.name.endswith(PUBLIC_SUFFIXES)
                or entry.name.endswith(WRAPPED_SUFFIX)
                or entry.name.startswith(".")
            ):
                continue
            found[f"secrets/{entry.name}"] = Path(entry.path)
    found.update(_user_secret_files(ctx))
    return found


def _read_small(path: Path) -> bytes | None:
    """A secret file's bytes, refusing links, special files and anything large (hostile dirs)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SECRET_FILE:
            return None
        return os.read(fd, MAX_SECRET_FILE)
    finally:
        os.close(fd)


_SECRET_FIELD = re.compile(r"(secret|token|password|passphrase|key|kek|credential)", re.I)


def _secret_strings(node: object, secret_context: bool = False) -> list[str]:
    """Strings under secret-looking keys of a JSON document (names, actions, URLs are not secret)."""
    if isinstance(node, dict):
        found = []
        for k, v in node.items():
            found += _secret_strings(v, secret_context or bool(_SECRET_FIELD.search(str(k))))
        return found
    if isinstance(node, list):
        return [s for item in node for s in _secret_strings(item, secret_context)]
    return [node] if secret_context and isinstance(node, str) else []


def _values(name: str, data: bytes) -> list[str]:
    """The strings that would betray this secret (at least 8 characters each)."""
    text = data.decode("utf-8", errors="ignore").strip()
    values: list[str] = []
    doc: object = None
    strings: list[str] = []
    if text.startswith(("{", "[")):
        try:
            doc = json.loads(text)
            strings = _secret_strings(doc)
        except (ValueError, RecursionError):  # not JSON, or nested too deeply to read or walk: plain text
            doc = None
    if doc is not None:
        values += strings
    elif re.search(r'^\s*[\w.-]+\s*=\s*"', text, re.M):  # key = "value" lines (security.toml)
        for line in text.splitlines():
            m = re.match(r'^\s*([\w.-]+)\s*=\s*"([^"]+)"', line)
            if m and _SECRET_FIELD.search(m.group(1)):
                values.append(m.group(2))
    else:
        values.append(text)
        if "neo4j_auth" in name or name == "neo4j.auth_file":
            values.append(text.partition("/")[2])
    return [v for v in values if len(v) >= 8 and "\n" not in v.strip()]


def _haystacks(ctx: VerifyContext) -> dict[str, str]:
    places: dict[str, str] = {}
    candidates = [
        ctx.out_dir / n for n in ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml", ".env")
    ]
    candidates += sorted(ctx.out_dir.glob("*.env")) if ctx.out_dir.is_dir() else []
    if ctx.answers_path is not None:
        candidates.append(ctx.answers_path)
        candidates.append(ctx.answers_path.parent / ".env")
    for path in candidates:
        data = _read_small(path)
        if data is not None:
            places[str(path)] = data.decode("utf-8", errors="replace")
    for container in ctx.containers():
        env = container.attrs.get("Config", {}).get("Env") or []
        places[f"environment of container {container.name}"] = "\n".join(env)
    return places


def check_no_secret_in_config(ctx: VerifyContext) -> list[Result]:
    files = secret_files(ctx)
    values: dict[str, list[str]] = {}
    for name, path in files.items():
        data = _read_small(path)
        if data:
            values[name] = _values(name, data)
    places = _haystacks(ctx)
    hits: list[str] = []
    for place, text in places.items():
        for name, needles in values.items():
            if any(v in text for v in needles):
                hits.append(f"the value of {name} appears in {place}")
        for line in text.splitlines():
            m = re.match(r"^\s*-?\s*([A-Z][A-Z0-9_]*)\s*[:=]\s*(\S.*)$", line)
            if m and _SECRET_NAME.search(m.group(1)) and not m.group(1).endswith("_FILE"):
                value = m.group(2).strip().strip("'\"")
                if value and not value.startswith(("/", "${")) and value.lower() not in _NOT_SECRET:
                    hits.append(f"{place}: variable {m.group(1)} carries a literal value (use a *_FILE secret)")
    checked = ", ".join(sorted(places)) or "(nothing to check: no compose file, answers file or containers)"
    ev = (
        Evidence(
            "text",
            "where secrets were looked for",
            f"grep -F -f <(cat {quote(ctx.secrets_dir)}/*) {quote(ctx.out_dir / 'compose.yaml')}",
            f"{len(values)} secret values checked against: {checked}",
        ),
    )
    if hits:
        return [
            Result(
                Status.FAIL,
                "; ".join(sorted(set(hits))[:6]),
                "",
                ev + (Evidence("text", "hits", "", "\n".join(sorted(set(hits)))),),
                remediation="remove the value from that place; hand it to the container as a compose secret "
                "(a *_FILE variable) and rotate it, since it was exposed",
            )
        ]
    return [Result(Status.PASS, f"no secret value or literal secret variable in {len(places)} places", "", ev)]


def check_secret_files(ctx: VerifyContext) -> list[Result]:
    euid = os.geteuid()
    problems: list[str] = []
    lines: list[str] = []
    sdir = ctx.secrets_dir
    if sdir.is_symlink():
        problems.append(f"{sdir} is a symbolic link")
    elif sdir.is_dir():
        st = sdir.stat()
        lines.append(f"{oct(st.st_mode & 0o7777)} uid={st.st_uid} {sdir}/")
        if st.st_mode & 0o077:
            problems.append(f"{sdir} is mode {oct(st.st_mode & 0o777)} (others can list it; want 0700)")
        if st.st_uid != euid:
            problems.append(f"{sdir} is owned by uid {st.st_uid}, not {euid}")
    for name, path in secret_files(ctx).items():
        try:
            st = os.lstat(path)
        except OSError as err:
            if not name.startswith("secrets/"):
                problems.append(f"{name} {path}: {err.strerror}")
            continue
        lines.append(f"{oct(st.st_mode & 0o7777)} uid={st.st_uid} {path}")
        if stat.S_ISLNK(st.st_mode):
            problems.append(f"{path} is a symbolic link (a secret must be a regular file stackseal controls)")
        elif not stat.S_ISREG(st.st_mode):
            problems.append(f"{path} is not a regular file")
        elif st.st_mode & 0o077:
            problems.append(f"{path} is mode {oct(st.st_mode & 0o777)}: group/others can read it (want 0400 or 0600)")
        elif name.startswith("secrets/") and st.st_uid != euid:
            problems.append(f"{path} is owned by uid {st.st_uid}, not {euid}")
    ev = (
        Evidence(
            "command",
            "modes and owners",
            f"stat -c '%a %u %n' {quote(sdir)} {quote(sdir)}/*",
            "\n".join(lines) or "(no secret files)",
        ),
    )
    if problems:
        return [Result(Status.FAIL, "; ".join(problems[:5]), "", ev)]
    return [Result(Status.PASS, f"{max(len(lines) - 1, 0)} secret files, owner-only modes", "", ev)]


def check_plaintext_at_rest(ctx: VerifyContext) -> list[Result]:
    """Plaintext keys on a persistent filesystem: FAIL (WARN for the local, development backend)."""
    from wizard.kms.base import WrappedBlob

    sdir = ctx.secrets_dir
    plain: list[str] = []
    wrapped: list[str] = []
    bad_blobs: list[str] = []
    mount = mount_of(sdir) if sdir.exists() else None
    memory = mount is not None and mount.fstype in MEMORY_FS
    for name, path in secret_files(ctx).items():
        if name.startswith("secrets/") and not memory:
            plain.append(path.name)
    if sdir.is_dir():
        for blob_path in sorted(sdir.glob(f"*{WRAPPED_SUFFIX}")):
            data = _read_small(blob_path)
            try:
                WrappedBlob.from_json(json.loads(data or b""))
                wrapped.append(blob_path.name)
            except Exception:
                bad_blobs.append(blob_path.name)
    where = f"{mount.fstype} at {mount.target}" if mount else "no filesystem"
    ev = (
        Evidence("command", "filesystem of the secrets directory", f"findmnt -T {quote(sdir)}", where),
        Evidence(
            "command", "secret files", f"ls {quote(sdir)}", ", ".join(sorted(plain + wrapped + bad_blobs)) or "(none)"
        ),
    )
    if bad_blobs:
        return [Result(Status.FAIL, f"malformed wrapped key blobs: {', '.join(bad_blobs)}", "", ev)]
    if plain:
        local = ctx.plan.kms.backend == "local"
        summary = f"{len(plain)} plaintext key/secret files on persistent disk ({where}): {', '.join(plain[:8])}"
        if local:
            return [
                Result(
                    Status.WARN,
                    summary + " — kms.backend local (development only)",
                    "",
                    ev,
                    remediation="use a real KMS (kms.backend vault/aws/azure/gcp) so keys are stored wrapped; "
                    "with the local backend anyone with a copy of this disk has the keys",
                )
            ]
        return [
            Result(
                Status.FAIL,
                summary,
                "",
                ev,
                remediation="keep keys wrapped by the KMS (<out>/secrets/*.wrapped.json) and unwrap them only "
                "into a tmpfs runtime directory; delete the plaintext copies (shred) after checking the wrapped ones",
            )
        ]
    return [Result(Status.PASS, f"no plaintext key on persistent disk ({len(wrapped)} wrapped blobs)", "", ev)]
