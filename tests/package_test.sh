#!/usr/bin/env bash
# The Debian package, built, installed into this system with apt (which
# brings its dependencies), used from the installed files only, and purged.
# It changes the system it runs on: tests/run.sh --debian13 runs it in its
# chroot. Checks: the files where Debian and `openssl version -m` want them,
# `openssl list -providers -provider hsmprov` without OPENSSL_MODULES, a
# signature by a token key with the installed example config, and the
# installed hsmprov-pkc with its installed roots; no build path in the binaries, stripped; the guide's
# steps from the package to nginx (tests/package_nginx_steps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# It purges the package at the end: an hsmprov installed before is not ours to remove.
if dpkg-query -W -f='${Status}' hsmprov 2>/dev/null | grep -q "ok installed"; then
  echo "package test: hsmprov is already installed on this system; remove it first (apt-get purge hsmprov)" >&2
  exit 1
fi
deb=$("$root/scripts/make-deb.sh" "${HSMPROV_BUILD_ROOT:-$root}/build-deb")
# Debian's own package checks: no error, no warning.
source "$root/scripts/install-deps.sh"
hsmprov_install_deps lintian
lintian --fail-on error,warning "$deb" || { echo "package test: lintian finds errors or warnings" >&2; exit 1; }
work=$(mktemp -d)
source "$root/tests/package_nginx_steps.sh"
cleanup() {
  nginx_steps_restore
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hsmprov >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null

fail() { echo "package test: $*" >&2; exit 1; }
modules=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
for file in "$modules/hsmprov.so" /usr/bin/hsmprov-pkc /usr/share/hsmprov/luna-roots.pem \
            /usr/share/hsmprov/yubico-piv-roots.pem /usr/share/hsmprov/marvell-roots.pem \
            /usr/share/doc/hsmprov/examples/openssl.cnf.example /usr/share/doc/hsmprov/examples/hsmprov.cnf \
            /usr/share/doc/hsmprov/changelog.gz /usr/share/doc/hsmprov/copyright /usr/share/man/man7/hsmprov.7.gz \
            /usr/share/man/man1/hsmprov-pkc.1.gz /usr/share/doc/hsmprov/README.md.gz; do
  [ -f "$file" ] || fail "$file is not installed"
done
# The guides the README links to, beside it in docs/ as in the checkout.
for guide in "$root"/docs/*.md; do
  file=/usr/share/doc/hsmprov/docs/$(basename "$guide").gz
  [ -f "$file" ] || fail "$file is not installed"
done
# Installed files name no path of the machine that built them (the roots fall back to the checkout's only in a
# build run from its tree), and are stripped.
# (A checkout at /hsmprov is a prefix of /usr/share/hsmprov, so look for what lies inside it.)
for inside in src provider data include build; do
  if grep -q "$root/$inside/" /usr/bin/hsmprov-pkc "$modules/hsmprov.so"; then
    fail "an installed binary names a file of the checkout $root/$inside/"
  fi
done
if file /usr/bin/hsmprov-pkc "$modules/hsmprov.so" | grep -q "not stripped"; then fail "installed binaries are not stripped"; fi
unset OPENSSL_MODULES OPENSSL_CONF

listed=$(OPENSSL_CONF=/dev/null openssl list -providers -provider hsmprov)
grep -q "status: active" <<< "$listed" || fail "openssl list -providers -provider hsmprov: $listed"

# A SoftHSM token, the installed example config pointed at it, one signature.
mkdir "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$work" > "$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf
pin=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
(umask 077 && printf '%s\n' "$pin" > "$work/token.pin")
OPENSSL_CONF=/dev/null softhsm2-util --init-token --free --label package --so-pin "$pin" --pin "$pin" >/dev/null
sed "s|file:/etc/hsmprov/token.pin|file:$work/token.pin|" /usr/share/doc/hsmprov/examples/openssl.cnf.example \
  > "$work/openssl.cnf"
export OPENSSL_CONF=$work/openssl.cnf
openssl genpkey -propquery provider=hsmprov -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -pkeyopt pkcs11_uri:'pkcs11:token=package;object=signer' -out "$work/signer.pem"
openssl req -new -key "$work/signer.pem" -subj /CN=package -out "$work/signer.csr"
verified=$(OPENSSL_CONF=/dev/null openssl req -in "$work/signer.csr" -verify -noout 2>&1)
grep -q "verify OK" <<< "$verified" || fail "the CSR signed by the token key does not verify: $verified"

# The system-wide setup: the stock openssl.cnf with the installed snippet included (copies here, this
# system's own files untouched), checked by hsmprov-pkc check-config, then a key reference used through it.
sed "s|file:/etc/hsmprov/token.pin|file:$work/token.pin|" /usr/share/doc/hsmprov/examples/hsmprov.cnf \
  > "$work/hsmprov.cnf"
{ cat "$(openssl version -d | sed 's/^OPENSSLDIR: "\(.*\)"$/\1/')/openssl.cnf"; echo ".include $work/hsmprov.cnf"; } \
  > "$work/system.cnf"
export OPENSSL_CONF=$work/system.cnf
hsmprov-pkc check-config >/dev/null || fail "hsmprov-pkc check-config refuses the installed system-wide snippet"
openssl req -new -key "$work/signer.pem" -subj /CN=system-wide -out "$work/wide.csr"
verified=$(OPENSSL_CONF=/dev/null openssl req -in "$work/wide.csr" -verify -noout 2>&1)
grep -q "verify OK" <<< "$verified" || fail "signing through the system-wide snippet: $verified"

report=$(hsmprov-pkc verify "$root/tests/data/luna-pkc/rsa-pkc.p7b")
grep -q ": VALID" <<< "$report" || fail "the installed hsmprov-pkc on a genuine PKC: $report"

# The guide's steps from the package to nginx, with the system's own config.
unset OPENSSL_CONF SOFTHSM2_CONF
nginx_steps
echo "package test: installed, loaded, signed and verified from the installed files"
