"""Neo4j: /data (store and transaction logs), /logs, /import and /backups on encrypted, unlocked
filesystems (resolved from the running container's mounts), and edition/version over Bolt.

Why from the container: Neo4j has no encryption at rest of its own in any edition (docs/
threat-model.md); its files are only protected by the filesystem under them, so the check
follows each path from inside the container to the host filesystem that really holds it.
"""

from __future__ import annotations

from wizard.verify.context import VerifyContext
from wizard.verify.model import Evidence, Result, Status
from wizard.verify.mounts import classify, read_mounts
from wizard.verify.stack import container_paths

NEO4J_PATHS = {
    "/data": "store files and transaction logs",
    "/logs": "logs (query logs can hold parameters)",
    "/import": "files staged for import",
    "/backups": "dumps and backups",
}


def check_storage(ctx: VerifyContext) -> list[Result]:
    container, paths = container_paths(ctx, "neo4j")
    mounts = read_mounts()
    if container is None:
        data_dir = ctx.plan.neo4j.data_dir
        if not data_dir:
            why = ctx.docker().reason or f"no neo4j container in compose project {ctx.plan.project}"
            return [Result(Status.SKIP, f"cannot see Neo4j's storage: {why}")]
        path = ctx.plan.resolve(data_dir)
        verdict = classify(path, mounts)
        ok = verdict.encrypted and verdict.unlocked
        return [
            Result(
                Status.PASS if ok else Status.FAIL,
                f"/data (neo4j.data_dir {path}): {verdict.detail}",
                "/data",
                tuple(verdict.evidence),
            )
        ]
    by_dest = {hp.container_path: hp for hp in paths}
    results = []
    for dest, what in NEO4J_PATHS.items():
        inspect = f"docker inspect {container.name} --format '{{{{json .Mounts}}}}'"
        hp = by_dest.get(dest)
        if hp is None:
            ev = (Evidence("command", f"mounts of {container.name}", inspect, ", ".join(sorted(by_dest)) or "(none)"),)
            results.append(
                Result(
                    Status.FAIL,
                    f"{dest} ({what}) is not mounted: it is written into the container layer in the Docker data root",
                    dest,
                    ev,
                )
            )
            continue
        ev0 = Evidence("command", f"{dest} on the host", inspect, f"{dest} <- {hp.host_path} ({hp.how})")
        if hp.on_docker_root:
            results.append(Result(Status.FAIL, f"{dest} ({what}) is {hp.how}: not encrypted", dest, (ev0,)))
            continue
        verdict = classify(hp.host_path, mounts)
        ok = verdict.encrypted and verdict.unlocked
        results.append(
            Result(
                Status.PASS if ok else Status.FAIL,
                f"{dest} ({what}) -> {hp.host_path}: {verdict.detail}",
                dest,
                (ev0, *verdict.evidence),
            )
        )
    return results


def check_edition(ctx: VerifyContext) -> list[Result]:
    access = ctx.neo4j()
    if access.client is None:
        return [Result(Status.FAIL, access.reason)]
    query = "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"
    records, _, _ = access.client.execute_query(query)
    rows = [f"{r['name']} {', '.join(r['versions'])} {r['edition']}" for r in records]
    edition = records[0]["edition"] if records else "unknown"
    planned = ctx.plan.neo4j.edition
    ev = (
        Evidence(
            "command", "components over Bolt", f"cypher-shell -a {ctx.plan.neo4j.bolt_url} '{query}'", "\n".join(rows)
        ),
    )
    if edition != planned:
        return [
            Result(
                Status.WARN,
                f"Neo4j runs the {edition} edition, the answers file says {planned}",
                "",
                ev,
                remediation="set neo4j.edition to what runs (Enterprise adds online backups; neither edition encrypts at rest)",
            )
        ]
    return [
        Result(
            Status.PASS,
            f"{rows[0] if rows else 'Neo4j'} (no native encryption at rest: the volume protects it)",
            "",
            ev,
        )
    ]
