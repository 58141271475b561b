#!/usr/bin/env bash
# tests/deploy/image.sh - build deploy/Dockerfile from the working tree without a Docker
# engine and run a whole programme through services started from the image.
#
#   1. The base images debian:bookworm and debian:bookworm-slim are made with
#      debootstrap (minbase) from the Debian mirror apt uses on this machine and
#      imported with podman, once: they stay in containers storage
#      (/var/lib/containers), so later runs skip this step.
#   2. buildah builds the image (chroot isolation, host network, no pull, cached
#      layers, docker format so HEALTHCHECK is kept) under a tag of this run, which
#      becomes localhost/tandem:test-last at the end.
#   3. test_image.py starts the four services from it (buildah run, chroot isolation,
#      host network, uid 10001) against the test PostgreSQL, drives the end-to-end
#      programme of tests/e2e through the image's gateway, checks each process runs
#      as 10001:10001 and exits 0 on SIGTERM.
#
# Needs root, buildah, podman and debootstrap (tests/run.sh installs them from
# deploy/packages/test.txt) and TANDEM_TEST_DATABASE_URL (tests/run.sh sets it; ctest
# runs this as deploy_image). Every missing piece is an error, never a skip.
#
#   tests/deploy/image.sh base       only make the base images (if absent)
#   tests/deploy/image.sh build TAG  make them if absent, then build the image as TAG
#   tests/deploy/image.sh            base, build, run the test, remove the tag
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/deploy
PY=/usr/bin/python3
BASE=localhost/debian
LAST=localhost/tandem:test-last

say() { printf 'image.sh: %s\n' "$*" >&2; }
die() { printf 'image.sh: FAIL %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (buildah's chroot isolation, debootstrap)"
for tool in buildah podman debootstrap; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool is not installed: apt-get install buildah podman debootstrap (tests/run.sh does)"
done

# The URI apt on this machine uses for the given Debian suite (deb822 .sources files
# or one-line sources.list entries), or nothing.
apt_uri_for_suite() {
  "$PY" - "$1" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources <<'PY'
import sys
suite, paths = sys.argv[1], sys.argv[2:]
for path in paths:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            if (suite in fields.get("suites", []) and "deb" in fields.get("types", [])
                    and fields.get("enabled", ["yes"])[0] != "no" and fields.get("uris")):
                print(fields["uris"][0])
                sys.exit(0)
    else:
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words and words[0] == "deb":
                words = [w for w in words[1:] if not w.startswith("[")]
                if len(words) >= 2 and words[1] == suite:
                    print(words[0])
                    sys.exit(0)
PY
}

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# debian:bookworm and debian:bookworm-slim in containers storage, made when absent.
# The -slim variant is the same system without documentation, manual pages and
# translations, and with dpkg told to leave them out of later installs, as the
# Docker Hub images are made.
make_base() {
  image_exists "$BASE:bookworm" && image_exists "$BASE:bookworm-slim" && return 0
  local mirror security rootfs
  mirror=${TANDEM_DEBIAN_MIRROR:-$(apt_uri_for_suite bookworm)}
  [ -n "$mirror" ] || die "no Debian mirror for bookworm in /etc/apt/sources.list{,.d}; set TANDEM_DEBIAN_MIRROR"
  security=$(apt_uri_for_suite bookworm-security)
  rootfs=$(mktemp -d /tmp/tandem-debootstrap.XXXXXX)
  # shellcheck disable=SC2064  # expand now: rootfs is local
  trap "rm -rf '$rootfs'" EXIT
  say "making the base images with debootstrap --variant=minbase bookworm from $mirror (once)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
  rm -f "$rootfs.log"
  {
    printf 'deb %s bookworm main\n' "$mirror"
    printf 'deb %s bookworm-updates main\n' "$mirror"
    [ -n "$security" ] && printf 'deb %s bookworm-security main\n' "$security"
  } >"$rootfs/etc/apt/sources.list"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  tar -C "$rootfs" -c . | podman import -q - "$BASE:bookworm" >/dev/null ||
    die "podman import of $BASE:bookworm failed"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/usr/share/lintian/*
  tar -C "$rootfs" -c . | podman import -q - "$BASE:bookworm-slim" >/dev/null ||
    die "podman import of $BASE:bookworm-slim failed"
  rm -rf "$rootfs"
  trap - EXIT
  say "made $BASE:bookworm and $BASE:bookworm-slim"
}

# Only one run makes the base images; the others wait for it.
make_base_once() {
  exec 9>/tmp/tandem-image-base.lock
  flock 9
  make_base
  exec 9>&-
}

build_image() {
  local tag=$1 start
  start=$(date +%s)
  say "building $tag from $ROOT"
  # At the lowest CPU and I/O priority: ctest runs this alongside the other tests, and
  # the compile must not starve the timing-sensitive ones (deadlines, RSS bounds).
  nice -n 19 ionice -c 2 -n 7 \
    buildah bud --isolation chroot --network host --pull-never --layers --format docker \
      -f "$ROOT/deploy/Dockerfile" -t "$tag" "$ROOT" >"$2" 2>&1 ||
    { tail -40 "$2" >&2; die "buildah bud failed (log: $2)"; }
  say "built $tag in $(($(date +%s) - start)) s ($(buildah images --format '{{.Size}}' "$tag"))"
}

case ${1:-test} in
  base)
    make_base_once
    ;;
  build)
    [ $# -eq 2 ] || die "usage: $0 build TAG"
    make_base_once
    build_image "$2" /dev/stderr
    ;;
  test)
    [ -n "${TANDEM_TEST_DATABASE_URL:-}" ] ||
      die "TANDEM_TEST_DATABASE_URL is not set: run through ./tests/run.sh"
    make_base_once
    work=$(mktemp -d "${TANDEM_TEST_TMP:-/tmp}/tandem-image.XXXXXX")
    tag=localhost/tandem:test-$(basename "$work" | cut -d. -f2 | tr '[:upper:]' '[:lower:]')
    # The run's own tag keeps parallel runs apart. At the end the image moves to
    # $LAST instead of being removed: removing it would also remove its cached
    # runtime-stage layers, and the next run would install the packages again.
    # shellcheck disable=SC2064  # expand now: tag and work are this run's
    trap "buildah tag '$tag' '$LAST' >/dev/null 2>&1; buildah rmi '$tag' >/dev/null 2>&1; rm -rf '$work'" EXIT
    build_image "$tag" "$work/build.log"
    if ! TANDEM_IMAGE=$tag PYTHONPATH=$HERE:$ROOT/tests/integration:$ROOT/tests/e2e \
      "$PY" -m unittest -v test_image 2>&1 | sed 's/^/    /'; then
      die "services from the image: test_image.py failed"
    fi
    say "PASS the image builds and runs a programme"
    ;;
  *)
    die "unknown command $1 (base, build TAG, or none)"
    ;;
esac
