#!/bin/sh
# Builds the Containerfile's base image from Debian's own packages when no image registry is
# reachable: debootstrap a minimal bookworm and import it under the name the FROM line uses.
set -eu

IMAGE=${BASE_IMAGE:-docker.io/library/debian:bookworm-slim}
if podman image exists "$IMAGE"; then
    echo "base image $IMAGE is present"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap is missing: apt-get install -y podman runc debootstrap" >&2
    exit 1
}
# The mirror apt already uses on this machine (deb822 or one-line sources), else Debian's CDN.
MIRROR=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ')}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d /var/tmp/notifier-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
# What the official slim image leaves out, now and in every later apt-get install:
# documentation, manual pages, translations, apt's lists and caches.
cat >"$ROOTFS"/etc/dpkg/dpkg.cfg.d/slim <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
find "$ROOTFS"/usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete
rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/lintian \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
tar -C "$ROOTFS" -c . | podman import --quiet - "$IMAGE" >/dev/null
echo "imported $IMAGE"
