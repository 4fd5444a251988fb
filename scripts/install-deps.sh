#!/usr/bin/env bash
# Installs the Debian 12 packages hsmprov builds, tests and demos with (only
# those missing). Sourced by tests/run.sh and examples/demo.sh.
hsmprov_packages=(cmake g++ pkg-config make libssl-dev openssl libp11-kit-dev p11-kit p11-kit-modules softhsm2
                  libnss3 libnss3-tools opensc libcmocka-dev python3-pytest python3-cryptography)

hsmprov_install_deps() {
  local missing=() p
  for p in "${hsmprov_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
