"""Precondition ``docker-engine``: the Docker engine answers and Compose v2 is installed.

Why before any step: "Docker is not running" is the most common failure; it must be one clear
line with how to start the engine, before any file or volume is touched.
"""

from __future__ import annotations

import subprocess

from wizard.errors import OperationFailed
from wizard.steps.base import Facts, Precondition, StepCheck
from wizard.steps.context import Context, compose_base


class DockerEnginePrecondition(Precondition):
    id = "docker-engine"
    title = "Docker engine and Compose v2"

    def read_facts(self, ctx: Context) -> Facts:
        facts: Facts = {"engine_error": None, "docker": None, "compose_error": None, "compose": None}
        try:
            facts["docker"] = ctx.docker().version().get("Version", "?")
        except OperationFailed as err:  # one line already: engine down or permission denied
            facts["engine_error"] = str(err)
            return facts
        try:
            argv = compose_base()
        except OperationFailed as err:
            facts["compose_error"] = str(err)
            return facts
        out = subprocess.run(argv + ["version", "--short"], capture_output=True, text=True, timeout=30)
        facts["compose"] = out.stdout.strip()
        return facts

    def decide(self, facts: Facts) -> StepCheck:
        for error in (facts["engine_error"], facts["compose_error"]):
            if error:
                raise OperationFailed(error)
        return StepCheck("=", f"Docker {facts['docker']}, Compose {facts['compose']}")
