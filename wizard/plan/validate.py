"""The validation layer: every answers-file string that reaches a file, a command, a policy or a message.

Why one module: stackseal runs as root and copies answers into compose files (YAML), Vault
policies (HCL), the runbook's shell blocks and error messages. The safest escaping is a value
that needs none, so each kind of value is checked here once, by a strict full-match pattern
(``re.fullmatch``: ``$`` would accept a trailing newline), and the renderers only add escaping as
a second line of defence (:mod:`wizard.render.templates`). Each check raises ``ValueError`` with
``"<field>: <message>"``; the loader turns that into a one-line exit-2 error naming the key.
Values are quoted only through :func:`wizard.plan.messages.excerpt`.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from wizard.plan.messages import excerpt, type_name

#: Longest string any answer may hold (paths and URLs included).
MAX_TEXT = 1024
#: Deepest nesting of mappings and lists in an answers document (the schema needs 3).
MAX_DEPTH = 8
#: Most items in one list or mapping (buckets, images).
MAX_ITEMS = 64

#: Compose project names (lowercase, digits, '-', '_'), also used in Vault policy names.
PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
#: KMS key names, KES key names, transit key names.
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: S3 bucket names (the AWS rules; '..' and IP-like names are refused separately).
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: A Vault mount path or namespace: segments of letters, digits, '_' and '-'; no globs, no '..'.
VAULT_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}(?:/[A-Za-z0-9][A-Za-z0-9_-]{0,63}){0,7}")
#: Vault's own top-level paths: a mount named so would point policies at the server itself.
VAULT_RESERVED = ("sys", "auth", "identity", "cubbyhole", "token")
#: Cloud identifiers (AWS region/profile/key id, Azure tenant/client id, GCP project/location/key ring).
AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,4}")
AWS_PROFILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=,@-]{0,63}")
AWS_KEY_ID = re.compile(
    r"(?:alias/[A-Za-z0-9/_-]{1,250}|arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/[A-Za-z0-9/_-]{1,250}|[A-Za-z0-9-]{1,64})"
)
AZURE_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
GCP_PROJECT = re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
GCP_LOCATION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
GCP_KEY_RING = re.compile(r"[A-Za-z0-9_-]{1,63}")
#: A container image reference: [registry[:port]/]path[:tag][@sha256:digest] (Docker's grammar).
IMAGE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*){0,7}"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
#: Characters a path may hold: the set shells never interpret (shlex's "safe" set, plus '~').
PATH_CHARS = re.compile(r"[A-Za-z0-9_.@%+=:,/~-]{1,1024}")
#: URL: scheme://host[:port][/path]; nothing else (no user info, query, fragment, spaces).
URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+]{1,9})://"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[^/]*))?(?P<path>/[A-Za-z0-9._~%/-]{0,256})?"
)

#: Bounds of every number (inclusive): one table, also shown in the docs.
NUMBER_BOUNDS: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "size_mb": (64, 16 * 1024 * 1024),
    "interval_days": (1, 3650),
    "keep": (1, 1000),
}


def identifier(value: str, pattern: re.Pattern[str], field: str, what: str) -> None:
    """Refuse ``value`` unless the whole of it matches ``pattern`` (no trailing newline)."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field}: {excerpt(value)} {what}")


def number(value: int, field: str, bounds: str) -> None:
    low, high = NUMBER_BOUNDS[bounds]
    if not low <= value <= high:
        raise ValueError(f"{field}: {excerpt(value)} must be between {low} and {high}")


def vault_path(value: str, field: str) -> None:
    """A Vault mount or namespace: plain segments, and never one of Vault's own top-level paths."""
    identifier(value, VAULT_PATH, field, "must be path segments of letters, digits, '_' or '-' (e.g. transit)")
    if value.split("/", 1)[0].lower() in VAULT_RESERVED:
        raise ValueError(f"{field}: {excerpt(value)} is a path Vault reserves for itself; choose another mount name")


def image(ref: str, field: str) -> None:
    """A container image reference, checked the same way for ``images.*`` and ``*.image``."""
    if not isinstance(ref, str) or not IMAGE.fullmatch(ref):
        raise ValueError(
            f"{field}: {excerpt(ref)} is not an image reference (e.g. registry.example.com/neo4j:5.26); "
            "remove the key to use the default image"
        )


def bucket(name: str, field: str = "buckets") -> None:
    if not BUCKET.fullmatch(name) or ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        raise ValueError(
            f"{field}: {excerpt(name)} is not a valid S3 bucket name "
            "(3-63 chars of a-z, 0-9, '.', '-', starting and ending with a letter or digit)"
        )


def path(value: str, field: str, *, absolute: bool = False, under: str | None = None) -> str:
    """A host path: shell-safe characters, no ``..`` component; returns it normalised.

    ``absolute`` demands a leading ``/``; ``under`` names the root it must stay inside.
    """
    if not isinstance(value, str) or not PATH_CHARS.fullmatch(value):
        raise ValueError(
            f"{field}: {excerpt(value)} may only hold letters, digits and _ . @ % + = : , / ~ - "
            "(no spaces, quotes or shell characters); move the file to such a path"
        )
    if ".." in value.split("/"):
        raise ValueError(f"{field}: {excerpt(value)} contains '..'; give the path without it")
    if absolute and not value.startswith("/"):
        raise ValueError(f"{field}: {excerpt(value)} is relative; give an absolute host path")
    normal = posixpath.normpath(value)
    if under is not None:
        root = posixpath.normpath(under)
        if normal != root and not normal.startswith(root.rstrip("/") + "/"):
            raise ValueError(f"{field}: {excerpt(value)} leaves {root}; give a path under it")
    return normal


def refuse_url_credentials(url: str, field: str, instead: str) -> None:
    """Refuse any ``user[:password]@`` in a URL, with or without a scheme; never repeat the URL.

    Why so strict (any '@'): URLs are not secrets here. They are echoed in the runbook, the
    compose file, plan output and messages, so credentials inside one would leak everywhere;
    they belong in the ``*_file`` keys, whose content stackseal never prints.
    """
    if isinstance(url, str) and "@" in url:
        raise ValueError(
            f"{field}: credentials in the URL (user:password@) are not allowed, they would be "
            f"copied into the runbook, logs and messages; remove them and use {instead}"
        )


def url(value: str, field: str, schemes: tuple[str, ...], instead: str, example: str) -> int | None:
    """Check a service URL; returns its explicit port (or ``None``). Credentials are checked first."""
    refuse_url_credentials(value, field, instead)
    match = URL.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group("scheme") not in schemes:
        # the value is not echoed beyond its scheme: a mangled URL may still hold a password
        scheme = value.split("://", 1)[0] if isinstance(value, str) and "://" in value else ""
        shown = f" (scheme {excerpt(scheme, 12)})" if scheme and scheme not in schemes else ""
        raise ValueError(f"{field}: not a valid URL{shown}; expected {example}")
    port = match.group("port")
    if port is None:
        return None
    if not port.isdigit() or len(port) > 5 or not 1 <= int(port) <= 65535:
        shown = f"{excerpt(value)} has an invalid port {excerpt(port)}" if port.isdigit() else "has an invalid port"
        raise ValueError(f"{field}: {shown}")
    return int(port)


def tree(data: Any, where: str = "", depth: int = 0) -> None:
    """Bounds on the whole document before any field is looked at: depth, sizes, text keys.

    Raises :class:`ValueError` naming the key; the loader turns it into a UsageError.
    """
    label = where or "answers file"
    if depth > MAX_DEPTH:
        raise ValueError(f"{label}: nested more than {MAX_DEPTH} levels deep; the answers file is flat")
    if isinstance(data, dict):
        if len(data) > MAX_ITEMS:
            raise ValueError(f"{label}: {len(data)} keys; at most {MAX_ITEMS}")
        for key, value in data.items():
            if not isinstance(key, str):
                raise ValueError(f"{label}: key {excerpt(key)} is {type_name(key)}; keys must be plain words")
            if len(key) > 64 or not key.isprintable():
                raise ValueError(f"{label}: key {excerpt(key)} is not a key of the answers file")
            tree(value, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(data, list | tuple):
        if len(data) > MAX_ITEMS:
            raise ValueError(f"{label}: {len(data)} items; at most {MAX_ITEMS}")
        for item in data:
            tree(item, label, depth + 1)
    elif isinstance(data, str):
        if len(data) > MAX_TEXT:
            raise ValueError(f"{label}: {excerpt(data, 20)} is too long; at most {MAX_TEXT} characters")
    elif isinstance(data, int) and not isinstance(data, bool) and data.bit_length() > 63:
        raise ValueError(f"{label}: {excerpt(data)} is out of range")
