#!/usr/bin/env bash
# A Debian 13 (trixie, OpenSSL 3.5) chroot for the test suite's second
# distribution: made with debootstrap from the Debian archive this machine's
# apt sources name (never a fixed host), kept, and reused while it exists.
# Sourced by tests/run.sh.
#   HSMPROV_DEBIAN13_ROOT   where it lives (default /var/tmp/hsmprov-debian13)

hsmprov_debian13_root=${HSMPROV_DEBIAN13_ROOT:-/var/tmp/hsmprov-debian13}

# The Debian archive this machine installs from: the first one its apt
# sources name that is not the security archive.
hsmprov_debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' |
        grep -v -- '-security' | head -n 1)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/' | grep -v -- '-security' |
          head -n 1)
  fi
  if [ -z "$uri" ]; then
    echo "no Debian archive in this machine's apt sources" >&2
    return 1
  fi
  echo "$uri"
}

# Makes the chroot unless a complete one is there: minbase plus git and
# ca-certificates, as a new user's machine would have.
hsmprov_debian13_make() {
  local root=$hsmprov_debian13_root mirror
  [ -f "$root/.hsmprov-ready" ] && return 0
  [ "$(id -u)" -eq 0 ] || { echo "the Debian 13 chroot needs root" >&2; return 1; }
  rm -rf "$root"
  mirror=$(hsmprov_debian_mirror) || return 1
  command -v debootstrap >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  echo "making a Debian 13 chroot in $root from $mirror"
  debootstrap --variant=minbase trixie "$root" "$mirror" >/dev/null
  # Packages installed inside must not start their services.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" apt-get update -qq
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git ca-certificates >/dev/null
  touch "$root/.hsmprov-ready"
}

# Runs "$@" in the checkout inside the chroot (the checkout is bind-mounted
# at /hsmprov; builds go to build-debian13/), with /proc, /sys and /dev.
hsmprov_debian13_run() {
  local root=$hsmprov_debian13_root checkout
  checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  hsmprov_debian13_make || return 1
  (
    mounted=()
    unmount() { for m in "${mounted[@]}"; do umount -R "$m"; done; }
    trap unmount EXIT
    mkdir -p "$root/hsmprov"
    for m in proc sys dev; do
      mount --rbind "/$m" "$root/$m" && mount --make-rslave "$root/$m" && mounted=("$root/$m" "${mounted[@]}")
    done
    mount --bind "$checkout" "$root/hsmprov" && mounted=("$root/hsmprov" "${mounted[@]}")
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 CI="${CI:-}" \
      HSMPROV_BUILD_ROOT=/hsmprov/build-debian13 bash -c 'cd /hsmprov && "$@"' run "$@"
  )
}
