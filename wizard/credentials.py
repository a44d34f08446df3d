"""Reading one credential (a token, an AppRole id) from a file the answers point to.

Why one reader: every place that sends a credential somewhere (the KMS screen's connection
test, the ``kms-key`` step) must refuse the same hostile contents the same way. A value with a
newline or a control character ends up in an HTTP header, and the HTTP library's error for it
quotes the whole value — a token on screen. A FIFO or a device would block or flood the read.
Messages name the file, never its content.
"""

from __future__ import annotations

import os
import stat

from wizard.errors import OperationFailed
from wizard.plan import Plan

#: No credential stackseal reads is longer; a larger file is not a credential file.
MAX_CREDENTIAL_BYTES = 16 * 1024


class BadCredential(OperationFailed):
    """A credential file's content cannot be a credential; the message names the file only."""


def read_credential(plan: Plan, path: str) -> str:
    """The one-word credential in ``path`` (relative to the answers file).

    Raises OSError when the file cannot be read (the caller says which key names it) and
    :class:`BadCredential` when its content is not one printable word on one line.
    """
    resolved = plan.resolve(path)
    info = os.stat(resolved)
    if not stat.S_ISREG(info.st_mode):
        raise BadCredential(f"{path}: not a regular file; it must be a file holding the credential alone")
    with open(resolved, "rb") as handle:
        raw = handle.read(MAX_CREDENTIAL_BYTES + 1)
    if len(raw) > MAX_CREDENTIAL_BYTES:
        raise BadCredential(f"{path}: larger than {MAX_CREDENTIAL_BYTES} bytes; it must hold the credential alone")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadCredential(f"{path}: not text; it must hold the credential alone") from None
    if not value:
        raise BadCredential(f"{path}: empty; it must hold the credential")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise BadCredential(
            f"{path}: must hold one credential on one line (found spaces, line breaks or control characters)"
        )
    return value
