#!/usr/bin/env bash
# A Debian 13 (trixie, OpenSSL 3.5) chroot for the test suite's second
# distribution: made with debootstrap from the Debian archive this machine's
# apt sources name (never a fixed host), kept, and reused while it exists.
# Sourced by tests/run.sh.
#   HSMPROV_DEBIAN13_ROOT   where it lives (default /var/tmp/hsmprov-debian13)
#   HSMPROV_DEBIAN_MIRROR   the archive to use instead of the apt sources'

hsmprov_debian13_root=${HSMPROV_DEBIAN13_ROOT:-/var/tmp/hsmprov-debian13}

# The Debian archive this machine installs from: in deb822 sources, an
# enabled "deb" stanza signed with Debian's archive keyring (else one whose
# URI names /debian), not the security archive; else a one-line source.
hsmprov_debian_mirror() {
  [ -n "${HSMPROV_DEBIAN_MIRROR:-}" ] && { echo "$HSMPROV_DEBIAN_MIRROR"; return 0; }
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
    function done_stanza() {
      if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris !~ /security/ && uris != "") {
        split(uris, u, " ")
        if (keyring ~ /debian-archive-keyring/ && first_keyring == "") first_keyring = u[1]
        if (uris ~ /\/debian/ && first_debian == "") first_debian = u[1]
      }
      types = ""; enabled = ""; uris = ""; keyring = ""
    }
    /^[[:space:]]*$/ { done_stanza(); next }
    /^Types:/ { types = $0; sub(/^Types:[[:space:]]*/, "", types) }
    /^Enabled:/ { enabled = tolower($2) }
    /^URIs:/ { uris = $0; sub(/^URIs:[[:space:]]*/, "", uris) }
    /^Signed-By:/ { keyring = $0 }
    END { done_stanza(); print (first_keyring != "" ? first_keyring : first_debian) }')
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/' | grep -v security | head -n 1)
  fi
  if [ -z "$uri" ]; then
    echo "no Debian archive in this machine's apt sources (set HSMPROV_DEBIAN_MIRROR)" >&2
    return 1
  fi
  echo "$uri"
}

# Makes the chroot unless a complete one is there: minbase plus git and
# ca-certificates, as a new user's machine would have. It is made aside and
# moved into place only when every step succeeded.
hsmprov_debian13_make() {
  local root=$hsmprov_debian13_root mirror new
  [ -f "$root/.hsmprov-ready" ] && return 0
  [ "$(id -u)" -eq 0 ] || { echo "the Debian 13 chroot needs root" >&2; return 1; }
  new=$root.new
  hsmprov_debian13_remove "$new" || return 1
  hsmprov_debian13_remove "$root" || return 1
  mirror=$(hsmprov_debian_mirror) || return 1
  if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null || return 1
  fi
  echo "making a Debian 13 chroot in $root from $mirror" >&2
  debootstrap --variant=minbase trixie "$new" "$mirror" >/dev/null || return 1
  # Packages installed inside must not start their services.
  printf '#!/bin/sh\nexit 101\n' > "$new/usr/sbin/policy-rc.d" && chmod +x "$new/usr/sbin/policy-rc.d" || return 1
  cp /etc/resolv.conf "$new/etc/resolv.conf" || return 1
  chroot "$new" apt-get update -qq || return 1
  chroot "$new" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git ca-certificates >/dev/null || return 1
  touch "$new/.hsmprov-ready" && mv "$new" "$root"
}

# Removes a chroot, never through a mount (the checkout, the host's /dev).
hsmprov_debian13_remove() {
  [ -e "$1" ] || return 0
  if findmnt -rn -o TARGET | grep -q "^$1/"; then
    echo "$1 still has mounts under it; not removing it" >&2
    return 1
  fi
  rm -rf --one-file-system "$1"
}

# Where the sources of test components live, when they do (SoftHSM's main
# branch, for post-quantum keys): $HSMPROV_VENDOR, else shared/vendor beside
# the checkout. Never needed: used if there.
hsmprov_vendor_dir() {
  local vendor=${HSMPROV_VENDOR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/vendor}
  [ -d "$vendor" ] && (cd "$vendor" && pwd)
  return 0
}

# Runs "$@" in the checkout inside the chroot (the checkout is bind-mounted
# at /hsmprov; builds go to build-debian13/; the vendored sources, if any,
# read-only at /hsmprov-vendor), with /proc, /sys and /dev. The mounts live
# in a mount namespace of this command only: they go with it, however it ends.
hsmprov_debian13_run() {
  local root=$hsmprov_debian13_root checkout vendor
  checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  vendor=$(hsmprov_vendor_dir)
  hsmprov_debian13_make || return 1
  mkdir -p "$root/hsmprov" "$root/hsmprov-vendor" && cp /etc/resolv.conf "$root/etc/resolv.conf" || return 1
  unshare --mount --propagation slave -- /bin/bash -euc '
    root=$1 checkout=$2 vendor=$3; shift 3
    for m in proc sys dev; do mount --rbind "/$m" "$root/$m"; done
    mount --bind "$checkout" "$root/hsmprov"
    vendor_dir=""
    if [ -n "$vendor" ]; then mount --bind -o ro "$vendor" "$root/hsmprov-vendor"; vendor_dir=/hsmprov-vendor; fi
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      CI="${CI:-}" HSMPROV_BUILD_ROOT=/hsmprov/build-debian13 HSMPROV_VENDOR_DIR="$vendor_dir" \
      /bin/bash -c "cd /hsmprov && \"\$@\"" run "$@"
  ' unshare "$root" "$checkout" "$vendor" "$@"
}
