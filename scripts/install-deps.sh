#!/usr/bin/env bash
# Installs the Debian packages hsmprov builds, tests and demos with (only
# those missing). Sourced by tests/run.sh and examples/demo.sh.
#   hsmprov_install_deps                 to build and run the demo
#   hsmprov_install_deps tests [PKG...]  also the servers, clients and tools the tests drive, and PKG
# (CMake's configure step looks for CMocka and Python for the tests' targets.)
hsmprov_packages=(cmake g++ pkg-config make libssl-dev zlib1g-dev openssl libp11-kit-dev p11-kit p11-kit-modules softhsm2
                  libnss3 libnss3-tools opensc libcmocka-dev python3)
hsmprov_test_packages=(opensc-pkcs11 gnutls-bin python3-pytest python3-cryptography procps util-linux
                       gdb  # gcore: tests/integration/test_pin_memory.py
                       man-db  # the man pages as a user sees them: tests/integration/test_newcomer.py
                       nginx apache2 haproxy stunnel4 curl libtsan2)  # libtsan2: tests/run.sh --tsan
# A token service across a socket for the network tests (tests/network): p11-kit's server comes
# with p11-kit everywhere; pkcs11-proxy's daemon and client where the distribution has them
# (Debian 13), and with them latchset's pkcs11-provider for the network benchmark's comparison.
hsmprov_network_packages=(pkcs11-daemon libpkcs11-proxy0 pkcs11-provider)
# Programs that load keys themselves (tests/integration/test_programs.py; PostgreSQL and Dovecot in test_servers.py),
# where the archive has them:
# osslsigncode is in Debian 13 (Debian 12 has it in bookworm-backports only).
hsmprov_program_packages=(osslsigncode sbsigntool nodejs postgresql dovecot-imapd)

# Whether this distribution's archive has the package (once apt knows the archive).
hsmprov_in_archive() {
  apt-cache show "$1" >/dev/null 2>&1
}

hsmprov_install_deps() {
  local wanted=("${hsmprov_packages[@]}") missing=() p
  for p in "$@"; do
    if [ "$p" = tests ]; then
      wanted+=("${hsmprov_test_packages[@]}")
      for p in "${hsmprov_network_packages[@]}" "${hsmprov_program_packages[@]}"; do
        hsmprov_in_archive "$p" && wanted+=("$p")
      done
    else
      wanted+=("$p")
    fi
  done
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "hsmprov needs these Debian packages, which are not installed: ${missing[*]}" >&2
      echo "This user is not root and has no sudo: install them as root with" >&2
      echo "  apt-get install ${missing[*]}" >&2
      echo "then run this command again (or run it as root)." >&2
      return 1
    fi
    sudo="sudo"
  fi
  echo "installing Debian packages (apt-get, quiet; a few minutes on a new machine): ${missing[*]}" >&2
  $sudo apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || return 1
  echo "installed" >&2
}
