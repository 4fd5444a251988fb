#!/usr/bin/env bash
# The test token for post-quantum keys: SoftHSM's main branch built with ML-DSA (no SoftHSM
# release or Debian package has it yet), from a source archive, installed under a prefix of its
# own so that the packaged SoftHSM the other tests use stays as it is (no p11-kit module file
# either). It needs OpenSSL 3.5. The build is kept, and redone only when the archive or OpenSSL
# changed: a stamp in the prefix records both.
#   scripts/softhsm-pqc.sh ARCHIVE PREFIX
set -euo pipefail
archive=$1 prefix=$2
stamp="$(sha256sum "$archive" | cut -d' ' -f1) $(openssl version)"
if [ -f "$prefix/.hsmprov-stamp" ] && [ "$(cat "$prefix/.hsmprov-stamp")" = "$stamp" ]; then
  echo "SoftHSM with ML-DSA: kept in $prefix" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "SoftHSM with ML-DSA: building $(basename "$archive") into $prefix (a few minutes)" >&2
tar xzf "$archive" -C "$work"
source_dir=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
rm -rf "$prefix"
cmake -S "$source_dir" -B "$work/build" -DENABLE_MLDSA=ON -DBUILD_TESTS=OFF -DENABLE_P11_KIT=OFF \
  -DENABLE_STATIC=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null 2>&1
cmake --install "$work/build" >/dev/null
printf '%s\n' "$stamp" > "$prefix/.hsmprov-stamp"
