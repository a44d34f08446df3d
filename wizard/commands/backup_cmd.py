"""Encrypted backups and tested restores (``stackseal backup create -c FILE`` and list, verify, restore, tui).

``create [--what neo4j,objects,keys]`` streams each part through age into ``backups.dir`` under
a fresh data key wrapped by the plan's KMS (Community Neo4j is stopped for the dump: announced);
``list [--json]`` shows every backup with its last verification; ``verify (ID|--latest)``
decrypts and hashes every part and restores nothing; ``restore (ID|--latest) [--what ...]
[--force]`` checks everything against the manifest before it replaces anything.
``stackseal backup tui -c FILE`` opens the Backups screen (Textual).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from wizard.errors import OperationFailed


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="FILE", help="answers file (stackseal.yaml)")


def _which(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("id", nargs="?", metavar="ID", help="backup id (see 'stackseal backup list')")
    group.add_argument("--latest", action="store_true", help="the newest backup")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser), required=True)
    create = sub.add_parser("create", help="take an encrypted backup")
    _common(create)
    create.add_argument("--what", metavar="LIST", help="comma-separated parts: neo4j,objects,keys (default: all)")
    lst = sub.add_parser("list", help="list backups and their last verification")
    _common(lst)
    lst.add_argument("--json", action="store_true", help="print JSON (stable keys for scripts)")
    verify = sub.add_parser("verify", help="decrypt and hash a backup; restores nothing")
    _common(verify)
    _which(verify)
    restore = sub.add_parser("restore", help="restore a backup into the plan's own stores")
    _common(restore)
    _which(restore)
    restore.add_argument("--what", metavar="LIST", help="comma-separated parts: neo4j,objects,keys (default: all)")
    restore.add_argument("--force", action="store_true", help="overwrite non-empty targets")
    tui = sub.add_parser("tui", help="the Backups screen (Textual): take, verify, drill, with progress")
    _common(tui)


def key_wrapper(plan: Any) -> Any:
    """The plan's KMS as a KeyWrapper (``wizard.kms.get_backend``)."""
    try:
        from wizard.kms import get_backend
    except ImportError:
        raise OperationFailed(
            "this build of stackseal has no KMS backends to wrap backup keys with; update stackseal"
        ) from None
    return get_backend(plan)


def _run_with_events(func: Any) -> Any:
    from wizard.steps.console import PlainRenderer, RichRenderer

    if sys.stdout.isatty():
        with RichRenderer() as render:
            return func(render)
    return func(PlainRenderer())


def _id(args: argparse.Namespace, plan: Any) -> str:
    from wizard.backup.engine import repo_of

    repo = repo_of(plan)
    return repo.latest() if args.latest else args.id


def _human(n: float) -> str:
    from wizard.steps.events import human_bytes

    return human_bytes(n)


def listing(plan: Any) -> list[dict[str, Any]]:
    """Every backup as plain data (``list --json``; the TUI shows the same)."""
    from wizard.backup import history
    from wizard.backup.engine import repo_of

    repo = repo_of(plan)
    rows = []
    for backup_id, manifest in repo.manifests():
        verified = history.last(repo, backup_id, "verify")
        row: dict[str, Any] = {"id": backup_id, "ok": not isinstance(manifest, OperationFailed)}
        if isinstance(manifest, OperationFailed):
            row["error"] = str(manifest)
        else:
            key = manifest.data_key
            row.update(
                created=manifest.created,
                finished=manifest.finished,
                parts=[
                    {
                        "name": p.name,
                        "items": p.items,
                        "plaintext_bytes": p.plaintext_bytes,
                        "sha256": p.plaintext_sha256,
                    }
                    for p in manifest.parts
                ],
                plaintext_bytes=manifest.plaintext_bytes,
                ciphertext_bytes=manifest.ciphertext_bytes,
                counts=manifest.counts,
                key={
                    "backend": key.backend,
                    "key_id": key.key_id,
                    "key_version": key.key_version,
                    "rotated": key.rotated,
                },
            )
        row["verified"] = (
            {"time": verified["time"], "ok": verified["state"] == "done", "error": verified.get("error", "")}
            if verified
            else None
        )
        rows.append(row)
    return rows


#: A backup id (``20261201T052500.123456Z-1a2b3c``, see wizard.backup.repo.new_id) is 30 characters.
ID_WIDTH = 30


def _print_list(rows: list[dict[str, Any]], where: str) -> None:
    from wizard.plan.messages import one_line

    if not rows:
        print(f"No backups in {where} yet; take one with 'stackseal backup create -c FILE'.")
        return
    width = max(ID_WIDTH, *(len(row["id"]) for row in rows))
    print(f"{'ID':<{width}} {'PARTS':<32} {'SIZE':>10}  {'KEY':<22} VERIFIED")
    for row in rows:
        if not row["ok"]:
            print(f"{row['id']:<{width}} UNREADABLE: {one_line(row['error'])}")
            continue
        parts = ",".join(p["name"] for p in row["parts"])
        parts = parts if len(parts) <= 32 else parts[:29] + "..."
        # the wrapped key's labels (outside the manifest MAC) and the history are hostile: no raw escapes
        key = one_line(f"{row['key']['key_id']}@v{row['key']['key_version']}", 200)
        v = row["verified"]
        verified = "never" if v is None else one_line(f"ok {v['time']}" if v["ok"] else f"FAILED {v['time']}", 200)
        print(f"{row['id']:<{width}} {parts:<32} {_human(row['plaintext_bytes']):>10}  {key:<22} {verified}")


def run(args: argparse.Namespace) -> int:
    from wizard.backup import engine
    from wizard.backup import restore as restoring
    from wizard.commands.apply_cmd import load_checked

    if args.action == "tui":
        from screens.backups import run_backups_app

        return run_backups_app(args.config)
    plan = load_checked(args.config)
    if args.action == "list":
        rows = listing(plan)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_list(rows, str(engine.repo_of(plan).root))
        return 0
    what = engine.parse_what(args.what) if args.action in ("create", "restore") else engine.KINDS
    if args.action == "create":
        wrapper = key_wrapper(plan)
        if "neo4j" in what and plan.neo4j.edition == "community":
            print("Note: Neo4j Community can only be dumped offline: the database is stopped during the dump.")
        manifest = _run_with_events(lambda emit: engine.create(plan, wrapper, what, emit))
        print(
            f"Backup {manifest.id}: {len(manifest.parts)} parts, {_human(manifest.plaintext_bytes)} encrypted "
            f"into {engine.repo_of(plan).root / manifest.id} (data key wrapped by {manifest.data_key.key_id} "
            f"v{manifest.data_key.key_version})"
        )
        return 0
    backup_id = _id(args, plan)
    manifest = engine.repo_of(plan).manifest(backup_id)  # a bad id or manifest fails before the KMS is asked
    if args.action == "restore":
        restoring.select(manifest, what)
    wrapper = key_wrapper(plan)
    if args.action == "verify":
        manifest = _run_with_events(lambda emit: engine.verify(plan, wrapper, backup_id, emit))
        print(f"Backup {backup_id} verified: {len(manifest.parts)} parts decrypt and match their SHA-256.")
        return 0
    manifest = _run_with_events(
        lambda emit: restoring.restore(plan, wrapper, backup_id, what, force=args.force, emit=emit)
    )
    print(f"Backup {backup_id} restored ({', '.join(p.name for p in restoring.select(manifest, what))}).")
    return 0
