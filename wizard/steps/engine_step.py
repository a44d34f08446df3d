"""Step ``docker-engine``: the Docker engine answers and Compose v2 is installed.

Why a step of its own: "Docker is not running" is the most common failure; it must be one
clear line with how to start the engine, before any file or volume is touched.
"""

from __future__ import annotations

import subprocess

from wizard.steps.base import Step, StepCheck
from wizard.steps.context import Context, compose_base
from wizard.steps.events import Emit


class DockerEngineStep(Step):
    id = "docker-engine"
    title = "Docker engine and Compose v2"

    def check(self, ctx: Context) -> StepCheck:
        client = ctx.docker()
        version = client.version().get("Version", "?")
        compose = compose_base()
        out = subprocess.run(compose + ["version", "--short"], capture_output=True, text=True, timeout=30)
        return StepCheck("=", f"Docker {version}, Compose {out.stdout.strip()}")

    def apply(self, ctx: Context, emit: Emit) -> str:  # never called: check is '=' or raises
        return "nothing to do"
