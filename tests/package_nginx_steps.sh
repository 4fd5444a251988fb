#!/usr/bin/env bash
# Part of tests/package_test.sh, sourced after the package is installed: the
# steps of docs/servers.md "From the package to nginx, on a fresh system",
# run as they stand on this system (as root; only the prompts of
# softhsm2-util and of the PIN file are answered here), then nginx with the
# guide's server block (on 127.0.0.1 and a free port instead of 443),
# checked by openssl s_client without hsmprov. What the steps change on the
# system is put back at the end; files of the same names from before are
# not ours to touch, so their presence stops the test.

# Every step runs whatever failed before it (set -e is off in here).
nginx_steps_restore() {
  set +e
  if [ -n "${nginx_pid:-}" ]; then
    kill -QUIT "$nginx_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nginx_pid" 2>/dev/null
  fi
  [ -z "${steps_started:-}" ] && return 0
  [ -f "$work/openssl.cnf.before" ] && cp "$work/openssl.cnf.before" /etc/ssl/openssl.cnf
  [ "$www_data_was_in_softhsm" = no ] && gpasswd -d www-data softhsm >/dev/null 2>&1
  softhsm2-util --delete-token --token web >/dev/null 2>&1
  rm -rf /etc/hsmprov /etc/ssl/hsmprov.cnf /etc/ssl/web.key.pem /etc/ssl/web.crt /etc/ssl/web.pem
  return 0
}

nginx_steps() {
  local guide="$root/docs/servers.md" line pin port conf
  command -v nginx >/dev/null || fail "nginx is not installed (tests/run.sh installs it): the guide's steps need it"
  for path in /etc/ssl/hsmprov.cnf /etc/hsmprov /etc/ssl/web.key.pem /etc/ssl/web.crt /etc/ssl/web.pem; do
    [ -e "$path" ] && fail "$path exists on this system: the guide's steps would change it"
  done
  if OPENSSL_CONF=/dev/null SOFTHSM2_CONF= softhsm2-util --show-slots 2>/dev/null | grep -q "Label: *web *$"; then
    fail "a SoftHSM token labelled web exists on this system: the guide's steps would make another"
  fi
  www_data_was_in_softhsm=no
  if id -nG www-data | grep -qw softhsm; then www_data_was_in_softhsm=yes; fi
  cp /etc/ssl/openssl.cnf "$work/openssl.cnf.before"
  steps_started=1
  pin=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
  # The lines of the guide's sh block, each run by bash as a user types it.
  mapfile -t lines < <(awk '/^### From the package to nginx/ {on = 1} on && /^```sh$/ {in_block = 1; next}
                            in_block && /^```$/ {exit} in_block {print}' "$guide")
  [ ${#lines[@]} -ge 8 ] || fail "no sh block under 'From the package to nginx' in $guide"
  for line in "${lines[@]}"; do
    case "$line" in
      "apt-get install ./hsmprov_*.deb"*)
        line=${line/apt-get install .\/hsmprov_\*.deb/DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $deb}
        bash -euo pipefail -c "$line" >/dev/null ;;
      "softhsm2-util --init-token"*)  # the prompts, answered
        bash -euo pipefail -c "${line%%#*} --so-pin $pin --pin $pin" >/dev/null ;;
      *"cat > /etc/hsmprov/token.pin"*)  # the PIN typed
        printf '%s\n' "$pin" | bash -euo pipefail -c "$line" ;;
      *) bash -euo pipefail -c "$line" >/dev/null ;;
    esac || fail "the guide's step failed: $line"
  done
  # nginx with the guide's block; the main context as Debian's nginx.conf has it.
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  conf=$work/nginx.conf
  { printf 'user www-data;\npid %s/nginx.pid;\nerror_log %s/nginx.log info;\nevents { worker_connections 64; }\n' \
      "$work" "$work"
    awk '/^## nginx/ {on = 1} on && /^```nginx$/ {in_block = 1; next} in_block && /^```$/ {exit} in_block {print}' \
      "$guide" | sed "s/listen 443 ssl;/listen 127.0.0.1:$port ssl;/"
  } > "$conf"
  grep -q "listen 127.0.0.1:$port ssl;" "$conf" || fail "no 'listen 443 ssl;' in the guide's nginx block"
  nginx -c "$conf" || fail "nginx does not start with the guide's block: $(cat "$work/nginx.log")"
  for _ in $(seq 100); do [ -s "$work/nginx.pid" ] && break; sleep 0.1; done
  nginx_pid=$(cat "$work/nginx.pid")
  for when in first second; do
    local out
    out=$(OPENSSL_CONF=/dev/null openssl s_client -connect "127.0.0.1:$port" -CAfile /etc/ssl/web.crt \
            -verify_return_error -brief < /dev/null 2>&1) || true
    grep -q "Verification: OK" <<< "$out" || fail "the $when handshake with nginx: $out $(cat "$work/nginx.log")"
  done
  echo "package test: the guide's steps from the package to nginx work on this system"
}
