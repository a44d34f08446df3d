"""Reading, migrating, validating and writing the answers file.

Why the YAML loader is bounded: the answers file may come from anywhere and stackseal runs as
root. A 500-byte alias bomb ("billion laughs") expands into gigabytes, deep nesting ends in a
RecursionError, and a key that is a list crashes the constructor. So the loader works on the
event stream before anything is built: aliases are refused where they appear (nothing is ever
expanded), nesting is bounded while composing, merge keys (``<<``) and non-scalar keys are refused
by name, and the file itself is read through :func:`wizard.fsutil.read_regular_file` (a regular
file of bounded size: never a FIFO, a device or /dev/zero). Every failure is one line (exit 2).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from wizard.errors import UsageError
from wizard.fsutil import atomic_write, read_regular_file
from wizard.plan import validate
from wizard.plan.messages import excerpt, hint, msgspec_error, one_line, type_name
from wizard.plan.model import CURRENT_VERSION, Plan

#: Largest answers file read (a real one is about 2 KB).
MAX_ANSWERS_BYTES = 256 * 1024
#: Most YAML nodes in one answers file.
MAX_NODES = 2000


def _migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (pre-release drafts) called the volume backend ``volume_encryption``."""
    data = dict(data)
    if "volume_encryption" in data:
        volumes = data.get("volumes")
        if volumes is None:
            volumes = {}
        if not isinstance(volumes, dict):
            raise UsageError(f"volumes: expected a mapping of keys, got {type_name(volumes)}")
        data["volumes"] = {**volumes, "backend": data.pop("volume_encryption")}
    data["version"] = 1
    return data


#: ``MIGRATIONS[n]`` turns a version-n document into a version-(n+1) document.
MIGRATIONS: dict[int, typing.Callable[[dict[str, Any]], dict[str, Any]]] = {0: _migrate_0_to_1}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a parsed answers document up to :data:`CURRENT_VERSION`."""
    version = data.get("version")
    if version is None:
        raise UsageError(f"version: missing; add 'version: {CURRENT_VERSION}' at the top of the answers file")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(f"version: expected a whole number, got {excerpt(version)}")
    if version > CURRENT_VERSION:
        raise UsageError(
            f"version: {excerpt(version)} was written by a newer stackseal (this one reads up to {CURRENT_VERSION}); "
            "upgrade stackseal"
        )
    while version < CURRENT_VERSION:
        if version not in MIGRATIONS:
            raise UsageError(
                f"version: {excerpt(version)} is too old to migrate; recreate the answers file with 'stackseal wizard'"
            )
        data = MIGRATIONS[version](data)
        version = data["version"]
    return data


def _struct_type(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct inside ``annotation`` (plain or Optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _struct_type(arg)
            if found:
                return found
    return None


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return None


def _check_keys(data: Any, struct: type[msgspec.Struct], path: str) -> None:
    """Reject unknown keys and out-of-range enum values with a 'did you mean' hint.

    msgspec would reject them too, but its messages name neither the alternatives nor the
    nearest spelling; users fix typos faster with both.
    """
    if not isinstance(data, dict):
        where = path or "answers file"
        raise UsageError(f"{where}: expected a mapping of keys, got {type_name(data)}")
    hints = typing.get_type_hints(struct, include_extras=False)
    fields = list(struct.__struct_fields__)
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise UsageError(f"{key_path}: unknown key{hint(key, fields)}; allowed here: {', '.join(fields)}")
        annotation = hints[key]
        choices = _literal_choices(annotation)
        if choices is not None and (type(value) not in (str, int) or value not in choices):
            allowed = ", ".join(str(c) for c in choices)
            raise UsageError(
                f"{key_path}: {excerpt(value)} is not one of {allowed}{hint(value, [str(c) for c in choices])}"
            )
        nested = _struct_type(annotation)
        if nested is not None and value is not None:
            _check_keys(value, nested, key_path)


def plan_from_dict(data: Any, base_dir: Path | None = None) -> Plan:
    """Validate a parsed answers document and return the :class:`Plan` (raises UsageError)."""
    try:
        return _plan_from_dict(data, base_dir)
    except UsageError as err:  # the last filter: a message is one printable, bounded line
        raise UsageError(one_line(str(err))) from None


def _plan_from_dict(data: Any, base_dir: Path | None) -> Plan:
    if not isinstance(data, dict):
        raise UsageError(f"answers file: expected a mapping of keys at the top level, got {type_name(data)}")
    try:
        validate.tree(data)
    except ValueError as err:
        raise UsageError(str(err)) from None
    data = migrate(data)
    _check_keys(data, Plan, "")
    try:
        plan = msgspec.convert(data, Plan, strict=True)
    except msgspec.ValidationError as err:
        raise msgspec_error(err) from None
    plan.set_base_dir(base_dir or Path.cwd())
    return plan


class _Refused(yaml.MarkedYAMLError):
    """A YAML construct the answers file does not allow (with the line it is on)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, merge keys, non-scalar and duplicate keys, and deep nesting.

    Why refuse aliases outright: the answers file has no repeated structure worth sharing, and an
    alias refused when its event is seen is never expanded, so an alias bomb costs nothing.
    Why refuse duplicate keys: an answers file with ``sse: sse-c`` early and ``sse: sse-s3`` later
    would otherwise render whichever comes last, and the user would believe the first.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                problem="aliases (*name) are not allowed in the answers file; write the value out",
                problem_mark=event.start_mark,
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(
                problem=f"more than {MAX_NODES} values; this is not an answers file",
                problem_mark=self.peek_event().start_mark,
            )
        if self._depth >= validate.MAX_DEPTH:
            raise _Refused(
                problem=f"nested more than {validate.MAX_DEPTH} levels deep; the answers file is flat",
                problem_mark=self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(
                    problem="merge keys (<<) are not allowed; write the keys out", problem_mark=key_node.start_mark
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(
                    problem="a key must be a plain word, not a list or a mapping", problem_mark=key_node.start_mark
                )
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _Refused(
                    problem=f"duplicate key {excerpt(key)} (remove one of them)", problem_mark=key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """Parse answers YAML with the bounded loader; errors are one line with the position."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        position = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        kind = "not allowed" if isinstance(err, _Refused) else "YAML syntax error"
        raise UsageError(one_line(f"{where}:{position} {kind}: {problem}")) from None
    except (ValueError, OverflowError, RecursionError, MemoryError):  # e.g. an integer of 5000 digits
        raise UsageError(
            one_line(f"{where}: a value cannot be read (a number too large?); fix the answers file")
        ) from None


def load_plan(path: str | Path) -> Plan:
    """Read, migrate and validate an answers file. Every failure is one line (UsageError)."""
    path = Path(path)
    raw = read_regular_file(
        path,
        MAX_ANSWERS_BYTES,
        what="answers file",
        missing_hint="create one with 'stackseal wizard' or copy one from examples/",
    )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(one_line(f"{path}: not UTF-8 text; the answers file must be YAML")) from None
    data = parse_yaml(text, str(path))
    if data is None:
        raise UsageError(
            one_line(f"{path}: the answers file is empty; add 'version: {CURRENT_VERSION}' and your choices")
        )
    return plan_from_dict(data, base_dir=path.resolve().parent)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in declaration order (what ``save_plan`` writes)."""
    return msgspec.to_builtins(plan)


def dump_plan(plan: Plan) -> str:
    """Deterministic YAML for a plan: the same answers always give the same bytes."""
    header = "# stackseal answers file: replay with 'stackseal apply -c THIS_FILE --yes'. No secrets in here.\n"
    return header + yaml.safe_dump(plan_to_dict(plan), sort_keys=False, default_flow_style=False, width=100)


def save_plan(plan: Plan, path: str | Path) -> None:
    """Write the answers file atomically (mode 0644: it holds no secret)."""
    atomic_write(Path(path), dump_plan(plan).encode("utf-8"), mode=0o644)


def default_plan() -> Plan:
    """A plan with every default (the wizard's starting point before detection)."""
    return Plan()


def json_schema() -> dict[str, Any]:
    """JSON schema of the answers file, generated from the declaration in :mod:`wizard.plan.model`."""
    schema = msgspec.json.schema(Plan)
    schema["title"] = "stackseal answers file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def schema_text() -> str:
    """``docs/answers.schema.json`` exactly as committed (a test checks it is up to date).

    Regenerate with: ``.venv/bin/python -m wizard.plan > docs/answers.schema.json``.
    """
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def get_path(plan: Plan, dotted: str) -> Any:
    """Read an answer by dotted key (``neo4j.edition``): questions and screens address answers so."""
    node: Any = plan
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def set_path(plan: Plan, dotted: str, value: Any) -> Plan:
    """Return a new, validated plan with one answer changed (raises UsageError if invalid)."""
    data = plan_to_dict(plan)
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return plan_from_dict(data, base_dir=plan.base_dir)


def url_port(url: str, default: int) -> int:
    """The port of an http(s)/bolt URL (used for the published host port)."""
    rest = url.split("://", 1)[1].split("/", 1)[0]
    if ":" in rest.rsplit("]", 1)[-1]:
        return int(rest.rsplit(":", 1)[1])
    return default
