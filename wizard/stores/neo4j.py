"""Facts about a Neo4j database over Bolt: edition, graph counts, checkpoint.

Why counts: a migrated store is proven to hold the same graph when the node count, the
relationship count and the count per label and per relationship type are equal before and after
(read over Bolt from the running server, so the store was really opened from its new place).
The counts come from Neo4j's count store (``count(*)`` without filters), so they are cheap even
on large graphs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import OperationFailed
from wizard.plan import Plan
from wizard.stores.s3 import read_secret_file


@dataclass
class GraphCounts:
    nodes: int
    relationships: int
    labels: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GraphCounts:
        return cls(data["nodes"], data["relationships"], dict(data["labels"]), dict(data["types"]))

    def differences(self, other: GraphCounts) -> list[str]:
        """What differs between two counts, one phrase each (empty = the same graph size)."""
        out = []
        if self.nodes != other.nodes:
            out.append(f"nodes {self.nodes} -> {other.nodes}")
        if self.relationships != other.relationships:
            out.append(f"relationships {self.relationships} -> {other.relationships}")
        for kind, a, b in (("label", self.labels, other.labels), ("type", self.types, other.types)):
            for name in sorted(set(a) | set(b)):
                if a.get(name, 0) != b.get(name, 0):
                    out.append(f"{kind} {name} {a.get(name, 0)} -> {b.get(name, 0)}")
        return out


def auth_of(plan: Plan, secrets_dir: Path) -> tuple[str, str]:
    """(user, password) from ``neo4j.auth_file`` or the generated ``secrets/neo4j_auth``."""
    path = plan.resolve(plan.neo4j.auth_file) if plan.neo4j.auth_file else secrets_dir / "neo4j_auth"
    text = read_secret_file(Path(path), "the Neo4j auth file")
    if not text or "/" not in text:
        raise OperationFailed(f"{path}: no Neo4j credentials (expected neo4j/<password>); run 'stackseal render'")
    user, password = text.split("/", 1)
    return user, password


def driver(url: str, auth: tuple[str, str]) -> Any:
    from neo4j import GraphDatabase

    return GraphDatabase.driver(url, auth=auth, connection_timeout=10)


def edition(drv: Any) -> str:
    """``community`` or ``enterprise`` (``CALL dbms.components()``)."""
    records, _, _ = drv.execute_query("CALL dbms.components() YIELD edition RETURN edition")
    return str(records[0]["edition"]).lower()


def counts(drv: Any, database: str | None = None) -> GraphCounts:
    """Node, relationship, per-label and per-type counts of one database."""
    q = drv.execute_query
    nodes = q("MATCH (n) RETURN count(n) AS c", database_=database)[0][0]["c"]
    rels = q("MATCH ()-[r]->() RETURN count(r) AS c", database_=database)[0][0]["c"]
    labels = {
        r["label"]: q(f"MATCH (n:`{_quote(r['label'])}`) RETURN count(n) AS c", database_=database)[0][0]["c"]
        for r in q("CALL db.labels() YIELD label RETURN label", database_=database)[0]
    }
    types = {
        r["t"]: q(f"MATCH ()-[r:`{_quote(r['t'])}`]->() RETURN count(r) AS c", database_=database)[0][0]["c"]
        for r in q("CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t", database_=database)[0]
    }
    return GraphCounts(nodes, rels, labels, types)


def _quote(name: str) -> str:
    """A label / type name inside backticks (a backtick in a name is doubled, as Cypher wants)."""
    return name.replace("`", "``")


def checkpoint(drv: Any) -> bool:
    """Flush the store files (``CALL db.checkpoint()``); False where the procedure does not exist.

    A clean stop checkpoints too, which is what a volume migration relies on.
    """
    from neo4j.exceptions import ClientError

    try:
        drv.execute_query("CALL db.checkpoint()")
        return True
    except ClientError:
        return False


def counts_when_ready(url: str, auth: tuple[str, str], timeout: float = 180) -> GraphCounts:
    """Counts once the server answers (it may still be starting); one line if it never does."""
    from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

    deadline = time.monotonic() + timeout
    last = ""
    while True:
        drv = driver(url, auth)
        try:
            return counts(drv)
        except AuthError:
            raise OperationFailed(f"Neo4j at {url} refuses the credentials; check neo4j.auth_file") from None
        except (ServiceUnavailable, Neo4jError, OSError) as err:
            last = type(err).__name__
        finally:
            drv.close()
        if time.monotonic() > deadline:
            raise OperationFailed(f"Neo4j at {url} did not answer within {timeout:.0f}s ({last})")
        time.sleep(2)
