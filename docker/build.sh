#!/usr/bin/env bash
# Builds the container images from this checkout, without an image registry:
#   1. the Debian 12 base image (docker/base-image.sh; reused when present),
#   2. the crates, vendored on the host into docker/vendor (the build stage
#      has no access to crates.io),
#   3. gslbd (docker/Dockerfile): the appliance,
#   4. gslbd-lab (docker/lab.Dockerfile): real servers, client, router and
#      Prometheus of the container lab (docker/compose.yaml).
# Docker's legacy builder at low CPU priority: the machine is shared.
#   docker/build.sh [gslbd|lab|all]     (default all)
#   GSLBD_IMAGE / GSLBD_LAB_IMAGE  image names (default gslbd:latest, gslbd-lab:latest)
#   GSLBD_BASE_IMAGE               the base (default gslbd-debian:12; made by base-image.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what="${1:-all}"
case "$what" in gslbd | lab | all) ;; *) echo "usage: $0 [gslbd|lab|all]" >&2; exit 2 ;; esac
image="${GSLBD_IMAGE:-gslbd:latest}"
lab_image="${GSLBD_LAB_IMAGE:-gslbd-lab:latest}"

say() { printf 'build: %s\n' "$*" >&2; }
phase() { # phase NAME SECONDS-SINCE
    say "$1 took $(($SECONDS - $2)) s"
}

t=$SECONDS
base="$(docker/base-image.sh | tail -n 1)"
phase "base image ($base)" "$t"

build() { # build DOCKERFILE IMAGE
    local log
    log="$(mktemp)"
    # --cpu-shares: the build's containers yield to everything else on the
    # machine; --network host: apt reaches Debian's archive with the host's
    # resolver.
    if ! DOCKER_BUILDKIT=0 nice -n 19 docker build --cpu-shares 128 --network host \
        --build-arg BASE="$base" -f "$1" -t "$2" . >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        say "docker build -f $1 failed (log: $log)"
        return 1
    fi
    grep -E "^(Step [0-9]+/[0-9]+ : (FROM|RUN rustc)|rustc |cargo |Successfully)" "$log" | sed 's/^/  /' >&2 || true
    rm -f "$log"
}

if [ "$what" != lab ]; then
    t=$SECONDS
    # Vendored crates: regenerated every time (seconds once the host's cargo
    # cache is warm); Docker's layer cache compares contents, not times.
    nice -n 19 cargo vendor --locked --quiet docker/vendor >/dev/null
    phase "cargo vendor ($(find docker/vendor -mindepth 1 -maxdepth 1 -type d | wc -l) crates)" "$t"
    t=$SECONDS
    build docker/Dockerfile "$image"
    phase "image $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))" "$t"
fi
if [ "$what" != gslbd ]; then
    t=$SECONDS
    build docker/lab.Dockerfile "$lab_image"
    phase "image $lab_image ($(docker image inspect -f '{{.Size}}' "$lab_image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))" "$t"
fi
