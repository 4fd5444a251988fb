#!/usr/bin/python3
"""TLS benchmark: full TLS 1.3 handshakes per second against nginx (one
worker) with a token key, against the same nginx with a software key of the
same type, for RSA-2048 and P-256. One `openssl s_time -new` client (no
hsmprov) per run; runs alternate between the two keys, each round starting
with the other one; ratios are medians of the per-round ratios.
    tests/bench/tls_handshakes.py [SECONDS_PER_RUN (2)] [ROUNDS (8)]
Needs a build in build/ (tests/run.sh makes one) and nginx."""
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HSMPROV_BUILD_DIR", ROOT / "build"))
KEYS = {"RSA-2048": ("RSA", "rsa_keygen_bits:2048"), "P-256": ("EC", "ec_paramgen_curve:P-256")}
CLIENT_ENV = {"PATH": "/usr/bin:/bin", "OPENSSL_CONF": "/dev/null"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_setup(work: Path):
    """A SoftHSM token with one key of each type, and the config to reach it."""
    (work / "tokens").mkdir()
    (work / "softhsm2.conf").write_text(f"directories.tokendir = {work}/tokens\nobjectstore.backend = file\n")
    pin = secrets.token_hex(4)
    (work / "pin").write_text(pin + "\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(work / "softhsm2.conf"), OPENSSL_MODULES=str(BUILD / "provider"))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", pin, "--so-pin", pin],
                   env=dict(env, OPENSSL_CONF="/dev/null"), check=True, capture_output=True)
    config = (ROOT / "openssl.cnf.example").read_text().replace("file:/etc/hsmprov/token.pin", f"file:{work}/pin")
    (work / "openssl.cnf").write_text(config)
    env["OPENSSL_CONF"] = str(work / "openssl.cnf")
    return env


def make_keys(work: Path, env):
    """Per key type: a token key and a software key, each with a certificate."""
    for name, (algorithm, option) in KEYS.items():
        label = name.lower()
        subprocess.run(["openssl", "genpkey", "-propquery", "provider=hsmprov", "-algorithm", algorithm, "-pkeyopt",
                        option, "-pkeyopt", f"pkcs11_uri:pkcs11:token=bench;object={label}",
                        "-out", work / f"token-{label}.pem"], env=env, check=True, capture_output=True)
        subprocess.run(["openssl", "genpkey", "-algorithm", algorithm, "-pkeyopt", option,
                        "-out", work / f"software-{label}.pem"], env=CLIENT_ENV, check=True,
                       capture_output=True)
        for kind in ("token", "software"):
            subprocess.run(["openssl", "req", "-new", "-x509", "-key", work / f"{kind}-{label}.pem", "-subj",
                            "/CN=localhost", "-days", "2", "-out", work / f"{kind}-{label}.crt"], env=env, check=True)


def start_nginx(work: Path, env):
    ports = {(kind, name): free_port() for kind in ("token", "software") for name in KEYS}
    servers = "".join(f"""
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate {work}/{kind}-{name.lower()}.crt;
    ssl_certificate_key {work}/{kind}-{name.lower()}.pem;
    location / {{ return 200 "ok\\n"; }}
  }}""" for (kind, name), port in ports.items())
    user = pwd.getpwuid(os.geteuid()).pw_name
    temp = " ".join(f"{k}_temp_path {work}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(f"""
worker_processes 1;
user {user};
pid {work}/nginx.pid;
error_log {work}/nginx.log notice;
env SOFTHSM2_CONF;
events {{ worker_connections 256; }}
http {{
  access_log off;
  {temp}{servers}
}}
""")
    subprocess.run(["nginx", "-c", work / "nginx.conf"], env=env, check=True)
    deadline = time.monotonic() + 15
    while not (work / "nginx.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return int((work / "nginx.pid").read_text()), ports


def stop(pid):
    os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def handshakes_per_second(port, seconds):
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)],
                         env=CLIENT_ENV, capture_output=True, text=True, check=True).stdout
    count, real = re.search(r"(\d+) connections in ([\d.]+)s", out).groups()
    return int(count) / float(real)


def main():
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    if shutil.which("nginx") is None:
        sys.exit("nginx is not installed (apt-get install nginx)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = token_setup(work)
        make_keys(work, env)
        pid, ports = start_nginx(work, env)
        try:
            rows = []
            for name in KEYS:
                rates = {"token": [], "software": []}
                for r in range(rounds):
                    for kind in (("token", "software") if r % 2 == 0 else ("software", "token")):
                        rates[kind].append(handshakes_per_second(ports[(kind, name)], seconds))
                ratio = statistics.median(t / s for t, s in zip(rates["token"], rates["software"]))
                rows.append((name, statistics.median(rates["token"]), statistics.median(rates["software"]), ratio))
        finally:
            stop(pid)
    print(f"Full TLS 1.3 handshakes per second, nginx with one worker, one s_time client, {rounds} rounds of "
          f"{seconds} s:\n")
    print("| key | token key | software key | token / software |\n|---|---|---|---|")
    for name, token, software, ratio in rows:
        print(f"| {name} | {token:.0f} | {software:.0f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
