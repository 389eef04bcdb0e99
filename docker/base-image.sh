#!/usr/bin/env bash
# A Debian 12 base image built from Debian's archive, for machines that have a
# Docker engine but cannot pull from an image registry: debootstrap (minbase)
# into a folder, a few container defaults, then `docker import`. The image is
# kept: a second run reuses it (--force builds it again).
#   docker/base-image.sh [--force]
#   GSLBD_BASE_IMAGE   the image's name (default gslbd-debian:12)
#   DEBIAN_MIRROR      the archive (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY    the security archive (default http://deb.debian.org/debian-security)
# Prints the image's name on its last line. Needs root and debootstrap
# (scripts/install-deps.sh installs it).
set -euo pipefail

image="${GSLBD_BASE_IMAGE:-gslbd-debian:12}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
suite=bookworm

force=0
case "${1:-}" in
--force) force=1 ;;
"") ;;
*) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

say() { printf 'base-image: %s\n' "$*" >&2; }

if [ "$force" -eq 0 ] && docker image inspect "$image" >/dev/null 2>&1; then
    say "reusing $image (created $(docker image inspect -f '{{.Created}}' "$image" | cut -c1-19); --force rebuilds it)"
    echo "$image"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "run as root (debootstrap)"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is missing: apt-get install debootstrap"; exit 1; }

root="$(mktemp -d /var/tmp/gslbd-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
t0=$SECONDS
say "debootstrap --variant=minbase $suite from $mirror"
if ! debootstrap --variant=minbase --arch=amd64 "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    say "debootstrap failed (full log: $root.log)"
    exit 1
fi
rm -f "$root.log"

# The archive, its updates and the security archive, over plain http: the
# image trusts Debian's keyring and nothing else.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
# No services start during image builds (no init runs there anyway).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
# Small images: no recommended packages, no documentation, no package caches.
cat >"$root/etc/apt/apt.conf.d/90container" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/90container" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Docker provides these at run time.
rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
: >"$root/etc/resolv.conf"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/*.log "$root"/tmp/* "$root"/var/tmp/*

say "docker import as $image"
tar --numeric-owner --xattrs -C "$root" -c . |
    docker import \
        --change 'CMD ["/bin/bash"]' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL org.opencontainers.image.description=\"Debian 12 ($suite) minbase, debootstrapped from $mirror\"" \
        - "$image" >/dev/null
say "$image ready in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
echo "$image"
