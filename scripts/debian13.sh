#!/usr/bin/env bash
# make test-debian13: the project's own set-up and `make test` inside a Debian 13 (trixie) root.
#
# The root is built once with debootstrap into a folder outside the working tree and reused.
# While it runs, the host's /proc, /sys, /dev and /dev/shm are mounted inside the root: never
# copy, move or delete the root then (a copy reads the host's /proc, a delete reaches the host's
# /dev). Every exit path unmounts them (trap), and the root is only ever touched with no mounts
# inside.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)

ROOT=${EMPYCUSTOM_DEBIAN13_ROOT:-/var/tmp/empycustom-debian13}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
INSIDE=/root/empycustom  # the copy of the repository, as the root sees it
STAMP=$ROOT/.empycustom-debootstrap-done

say() { echo "test-debian13: $*"; }
die() { say "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env "$0" "$@"
ROOT=$(realpath -m "$ROOT")
if [ "$ROOT" = / ] || [[ "$ROOT/" == "$REPO/"* ]]; then
  die "the root $ROOT must lie outside the working tree $REPO (and not be /)"
fi

mounts_inside() { findmnt -rn -o TARGET | grep -E "^$ROOT(/|$)" || true; }

unmount_all() {
  local target
  # Deepest first; a lazy unmount when something inside still holds a mount busy.
  for target in $(mounts_inside | sort -r); do
    umount "$target" 2>/dev/null || umount -l "$target" || true
  done
  if [ -n "$(mounts_inside)" ]; then
    say "WARNING: still mounted inside $ROOT, do not touch it:" >&2
    mounts_inside >&2
  fi
}

# One run at a time: two runs would mount and unmount under each other.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

[ -z "$(mounts_inside)" ] || die "mounts left inside $ROOT (unmount them first): $(mounts_inside)"
trap unmount_all EXIT INT TERM HUP

started=$(date +%s)
if [ ! -f "$STAMP" ]; then
  command -v debootstrap >/dev/null || {
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
  }
  if [ -e "$ROOT" ]; then
    say "removing the unfinished root $ROOT (no mounts inside)"
    rm -rf --one-file-system "$ROOT"
  fi
  say "debootstrap --variant=minbase trixie $ROOT"
  debootstrap --variant=minbase --include=make,ca-certificates trixie "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
    die "debootstrap failed, see $ROOT.debootstrap.log"
  unmount_all  # debootstrap's own mounts, should it have left any
  touch "$STAMP"
  say "root built in $(($(date +%s) - started)) s"
fi

# A fresh copy of the repository (tracked and untracked, not ignored files). The root's .venv and
# built extension are kept between runs: the set-up then only installs what changed.
mkdir -p "$ROOT$INSIDE"
find "$ROOT$INSIDE" -mindepth 1 -path "$ROOT$INSIDE/.venv" -prune -o -type f ! -name '_native*.so' \
  -print0 | xargs -0 -r rm -f
find "$ROOT$INSIDE" -mindepth 1 -maxdepth 1 -type d ! -name .venv -print0 |
  xargs -0 -r -I{} find {} -depth -type d -empty -delete
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' path; do [ -e "$path" ] && printf '%s\0' "$path"; done |
  tar --null -T - -cf - | tar -xf - -C "$ROOT$INSIDE"

# apt and pip inside reach the registries with the host's certificates and name servers.
# The copy under /usr/local/share keeps them in the bundle when apt's ca-certificates rebuilds it.
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/empycustom-host.crt"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"

environment=(HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
while IFS= read -r line; do environment+=("$line"); done < <(env | grep -E '^(PIP_|SSL_CERT_)' || true)

# Arguments replace `make test`, e.g. `scripts/debian13.sh .venv/bin/python -m pytest tests/x.py`.
command=("make" "test")
[ $# -eq 0 ] || command=("$@")
say "scripts/setup.sh and ${command[*]} in $ROOT ($(chroot "$ROOT" sh -c '. /etc/os-release; echo "$PRETTY_NAME"'))"
suite_started=$(date +%s)
chroot "$ROOT" /usr/bin/env -i "${environment[@]}" \
  bash -c 'cd "$0" && bash scripts/setup.sh && exec "$@"' "$INSIDE" "${command[@]}"
say "passed: set-up and suite $(($(date +%s) - suite_started)) s, all $(($(date +%s) - started)) s"
