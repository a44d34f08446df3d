"""Step ``compose-up``: every service of the rendered compose file runs, healthy, with the current config.

Why compare config hashes: Compose labels each container with ``com.docker.compose.config-hash``;
``docker compose config --hash '*'`` gives the hash the current file would produce. Equal
hashes and a running, healthy container mean nothing to do; otherwise ``up -d --wait`` creates
or recreates exactly the services that differ (Compose itself leaves the others alone) and
waits for their healthchecks, within ``Context.wait_timeout``.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import threading
import time
from dataclasses import dataclass

from wizard.detect.docker import HASH_LABEL, PROJECT_LABEL, SERVICE_LABEL
from wizard.errors import OperationFailed
from wizard.steps.base import Action, Facts, Step, StepCheck
from wizard.steps.context import Context
from wizard.steps.events import Emit, ProgressMeter, StepLog


@dataclass(frozen=True)
class ServiceState:
    service: str
    want_hash: str
    have_hash: str | None
    status: str | None  # running | exited | created | None (no container)
    health: str | None  # healthy | unhealthy | starting | None (no healthcheck)

    @property
    def ok(self) -> bool:
        return self.have_hash == self.want_hash and self.status == "running" and self.health in (None, "healthy")

    def reason(self) -> str:
        if self.status is None:
            return "create"
        if self.have_hash != self.want_hash:
            return "recreate (configuration changed)"
        if self.status != "running":
            return f"start (is {self.status})"
        return f"wait until healthy (is {self.health})"


def wanted_hashes(ctx: Context) -> dict[str, str]:
    """service -> config hash of the current compose file (``docker compose config --hash``)."""
    proc = subprocess.run(
        ctx.compose_cmd() + ["config", "--hash", "*"], capture_output=True, text=True, timeout=120, cwd=ctx.out_dir
    )
    if proc.returncode != 0:
        raise OperationFailed(f"{ctx.compose_file()}: docker compose rejects it: {_last_line(proc.stderr)}")
    hashes: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            hashes[parts[0]] = parts[1]
    return hashes


def service_states(ctx: Context) -> list[ServiceState]:
    wanted = wanted_hashes(ctx)
    containers = ctx.docker().containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={ctx.plan.project}"})
    by_service = {c.labels.get(SERVICE_LABEL): c for c in containers}
    states = []
    for service, want in sorted(wanted.items()):
        container = by_service.get(service)
        if container is None:
            states.append(ServiceState(service, want, None, None, None))
            continue
        state = container.attrs.get("State", {})
        health = (state.get("Health") or {}).get("Status")
        states.append(ServiceState(service, want, container.labels.get(HASH_LABEL), state.get("Status"), health))
    return states


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _ready_service(line: str, project: str) -> str | None:
    """The service a ``Container PROJECT-SERVICE-1  Healthy`` line of ``up --wait`` reports ready."""
    match = re.match(r"\s*Container (\S+)\s+Healthy\s*$", line)
    if not match:
        return None
    name = match.group(1)
    for sep in ("-", "_"):
        if name.startswith(project + sep):
            name = name[len(project) + 1 :]
            break
    return re.sub(r"[-_]\d+$", "", name)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when apply dies (even by SIGKILL).

    Why: an orphaned ``docker compose up`` would keep creating containers while the re-run's own
    ``up`` works on the same project; two writers on one project race. Linux only (prctl).
    """
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_PORT_BUSY = re.compile(r"(?:Bind for [\d.]+:(\d+) failed|listen tcp [\d.]+:(\d+): bind: address already in use)")


class ComposeUpStep(Step):
    id = "compose-up"
    title = "Start the stack (docker compose up --wait)"

    def read_facts(self, ctx: Context) -> Facts:
        if not ctx.compose_file().exists():
            return {"compose_file": False, "services": []}
        return {"compose_file": True, "services": [dataclasses.asdict(s) for s in service_states(ctx)]}

    def decide(self, facts: Facts) -> StepCheck:
        if not facts["compose_file"]:
            return StepCheck("+", "start every service once the compose file is written")
        states = [ServiceState(**s) for s in facts["services"]]
        todo = [s for s in states if not s.ok]
        if not todo:
            return StepCheck("=", f"all {len(states)} services running and healthy with the current configuration")
        details = tuple(f"{'+' if s.status is None else '~'} {s.service}: {s.reason()}" for s in todo)
        action: Action = "+" if all(s.status is None for s in states) else "~"
        return StepCheck(action, f"{len(todo)} of {len(states)} services to start or update", details)

    def apply(self, ctx: Context, emit: Emit) -> str:
        states = service_states(ctx)
        todo = [s.service for s in states if not s.ok]
        argv = ctx.compose_cmd() + ["up", "-d", "--wait", "--wait-timeout", str(ctx.wait_timeout)]
        emit(StepLog(self.id, "running: " + " ".join(argv[-7:])))
        meter = ProgressMeter(self.id, emit, items_total=len(states))
        meter.advance(0, what="waiting for healthchecks")  # show 0/N at once, not an unknown total
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ctx.out_dir,
            preexec_fn=_die_with_parent,
        )
        output: list[str] = []
        healthy: set[str] = set()

        def reader() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.strip()
                if not line:
                    continue
                output.append(line)
                emit(StepLog(self.id, line))
                service = _ready_service(line, ctx.plan.project)
                if service and service not in healthy:
                    healthy.add(service)
                    meter.advance(1, what=service)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        deadline = time.monotonic() + ctx.wait_timeout + 120
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                break
            time.sleep(0.2)
        proc.wait()
        thread.join(timeout=5)
        if proc.returncode != 0:
            raise OperationFailed(self._explain(ctx, output))
        return f"started or updated {len(todo)} services: {', '.join(todo)}" if todo else "all services were already up"

    def _explain(self, ctx: Context, output: list[str]) -> str:
        text = "\n".join(output)
        busy = _PORT_BUSY.search(text)
        if busy:
            port = busy.group(1) or busy.group(2)
            return (
                f"port 127.0.0.1:{port} is already in use by another program; stop it or choose another port "
                "in the answers file (neo4j.bolt_url, neo4j.http_port, object_store.endpoint, kms.vault.address)"
            )
        unhealthy = [
            s.service for s in service_states(ctx) if s.status == "running" and s.health not in (None, "healthy")
        ]
        if unhealthy or "timeout" in text.lower():
            names = ", ".join(unhealthy) or "some services"
            return (
                f"{names} did not become healthy within {ctx.wait_timeout}s; "
                f"see: docker compose -p {ctx.plan.project} logs {' '.join(unhealthy)}".rstrip()
            )
        return f"docker compose up failed: {_last_line(text)}"
