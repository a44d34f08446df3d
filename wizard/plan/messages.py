"""Error text for the answers file: short, escaped excerpts and one-line messages.

Why a module of its own: every message stackseal prints may quote a value from a hostile answers
file. A value can be 20 MB long, hold terminal escape sequences (``\\x1b]...``), newlines that
fake a second message line, or a password. So a value only ever reaches a message through
:func:`excerpt` (repr-style escaping, truncated), and :func:`one_line` is the last filter every
message of the loader passes through.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import msgspec

from wizard.errors import UsageError

#: Longest excerpt of a value quoted in a message (characters of the original value).
EXCERPT_CHARS = 60
#: Longest message the loader raises (a key path plus an excerpt fit easily).
MESSAGE_CHARS = 400


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``repr``-style, escaped and truncated text of ``value`` for a message.

    Control and non-printable characters come out as ``\\x1b``, ``\\n``, ``\\u202e``: never raw.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return repr(value[:limit])[:-1] + f"...' ({len(value)} characters)"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit number"
    if isinstance(value, float):
        return repr(value)
    return f"{type_name(value)}"


def one_line(message: str, limit: int = MESSAGE_CHARS) -> str:
    """Escape control characters and bound the length: a message is one printable line."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in message)
    if len(text) > limit:
        text = text[: limit - 15] + "... (truncated)"
    return text


def type_name(value: Any) -> str:
    """A user's word for a YAML value's type."""
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def hint(word: Any, choices: typing.Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the nearest spelling, or nothing."""
    if not isinstance(word, str) or len(word) > 64:
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def msgspec_error(err: msgspec.ValidationError) -> UsageError:
    """Turn ``Expected `int`, got `str` - at `$.volumes.size_mb``` into ``volumes.size_mb: ...``."""
    match = _MSGSPEC_PATH.match(str(err))
    message = match.group("msg") if match else str(err)
    path = (match.group("path") or "").lstrip(".") if match else ""
    path = re.sub(r"\[(\d+)\]", r"[\1]", path)
    message = message.replace("`", "")
    if message.startswith("Expected"):
        message = "expected" + message[len("Expected") :]
    field = re.match(r"^([a-z_]+(?:\.[\w-]+)?): (.*)$", message, re.S)
    if field:  # a __post_init__ check names its own field
        path = f"{path}.{field.group(1)}" if path else field.group(1)
        message = field.group(2)
    return UsageError(one_line(f"{path or 'answers file'}: {message}"))
