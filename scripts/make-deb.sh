#!/usr/bin/env bash
# Builds the Debian package: a release build installed under /usr, packed
# by CPack (`cpack -G DEB`). Prints the .deb's path; on failure, what failed.
#   scripts/make-deb.sh [BUILD_DIR (build-deb)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build-deb}
source "$root/scripts/install-deps.sh"
hsmprov_install_deps dpkg-dev file  # for CPack to find the dependencies with dpkg-shlibdeps

quietly() {  # runs "$@", printing its output only when it fails
  local out
  if ! out=$("$@" 2>&1); then
    echo "$out" >&2
    return 1
  fi
}
quietly cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DHSMPROV_TESTS=OFF \
  -DHSMPROV_ROOTS_FROM_SOURCE=OFF
quietly cmake --build "$dir" -j"$(nproc)"
rm -f "$dir"/hsmprov_*.deb  # only this build's package is printed
(cd "$dir" && quietly cpack -G DEB)
ls "$dir"/hsmprov_*.deb
