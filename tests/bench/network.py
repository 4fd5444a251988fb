#!/usr/bin/python3
"""Network token benchmark: what a token across a network costs with
hsmprov, side by side with latchset's pkcs11-provider where it is installed
(Debian 13's package). SoftHSM serves the token behind pkcs11-daemon
(Debian 13) or `p11-kit server` (elsewhere), through a relay that adds a
round trip of 0 or 2 ms (tests/network).

    tests/bench/network.py commands [RUNS (5)]
        PKCS#11 calls (counted with pkcs11-spy) and wall time (median of
        RUNS) of one-shot commands, at 0 and 2 ms
    tests/bench/network.py handshakes [SECONDS (5)]
        full TLS 1.3 handshakes per second against nginx (one worker),
        8 client threads, at 0 and 2 ms
    tests/bench/network.py load [HANDSHAKES (20000)]
        nginx (two workers) at 2 ms, 8 client threads: failures and the
        workers' resident memory; then the same with the token service
        restarted half-way: failures only while it is down

Needs a build in build/ (tests/run.sh makes one), nginx, and for the
comparison pkcs11-provider. Prints Markdown tables."""
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["OPENSSL_CONF"] = "/dev/null"  # this process's TLS clients load no provider of ours
import ssl  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HSMPROV_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests" / "network"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from token_service import PKCS11_SPY, P11KitServer, Pkcs11Daemon, free_port, wait_until  # noqa: E402
from conftest import pkcs11_provider_key_file  # noqa: E402

PKCS11_PROVIDER = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
KEYS = {"EC": ("bench-ec", "ec_paramgen_curve:P-256"), "RSA": ("bench-rsa", "rsa_keygen_bits:2048")}
CLIENTS = 8


class Bench:
    """A SoftHSM token with an EC and an RSA key, its service and relay, and
    a config per provider (and per provider with pkcs11-spy in front)."""

    def __init__(self, work: Path):
        self.work = work
        (work / "tokens").mkdir()
        (work / "softhsm2.conf").write_text(f"directories.tokendir = {work}/tokens\nobjectstore.backend = file\n"
                                            "log.level = ERROR\n")
        pin = secrets.token_hex(4)
        self.pin = work / "pin"
        self.pin.write_text(pin + "\n")
        self.base_env = dict(os.environ, SOFTHSM2_CONF=str(work / "softhsm2.conf"),
                             OPENSSL_MODULES=str(BUILD / "provider"))
        self.base_env.pop("HSMPROV_DEBUG", None)
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", pin, "--so-pin", pin],
                       env=self.base_env, check=True, capture_output=True)
        service = Pkcs11Daemon if Pkcs11Daemon.available() else P11KitServer
        self.service = service(work, self.base_env, "bench")
        self.providers = ["hsmprov"] + (["pkcs11-provider"] if Path(PKCS11_PROVIDER).exists() else [])
        self.make_keys()

    def uri(self, label=None):
        return "pkcs11:token=bench" + (f";object={label};type=private" if label else "")

    def config(self, provider, module):
        path = self.work / f"{provider}-{Path(module).stem}.cnf"
        name, section = "hsmprov", f"pkcs11-module-path = {module}\npkcs11-module-token-pin = file:{self.pin}\n"
        if provider == "pkcs11-provider":
            name, section = "pkcs11", f"module = {PKCS11_PROVIDER}\n" + section
        path.write_text(f"""openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
{name} = {name}_sect
[default_sect]
activate = 1
[{name}_sect]
{section}activate = 1
""")
        return path

    def env(self, provider, spy_log=None):
        env = dict(self.base_env, **self.service.client_env())
        if spy_log is None:
            env["OPENSSL_CONF"] = str(self.config(provider, self.service.client_module))
        else:
            env.update(OPENSSL_CONF=str(self.config(provider, PKCS11_SPY)), PKCS11SPY=self.service.client_module,
                       PKCS11SPY_OUTPUT=str(spy_log))
        return env

    def make_keys(self):
        env = self.env("hsmprov")
        for kind, (label, option) in KEYS.items():
            subprocess.run(["openssl", "genpkey", "-propquery", "provider=hsmprov", "-algorithm", kind, "-pkeyopt",
                            option, "-pkeyopt", f"pkcs11_uri:{self.uri(label)}", "-out",
                            self.work / f"{label}.hsmprov.pem"], env=env, check=True, capture_output=True)
            (self.work / f"{label}.pkcs11-provider.pem").write_text(pkcs11_provider_key_file(self.uri(label)))
            subprocess.run(["openssl", "req", "-new", "-x509", "-key", self.work / f"{label}.hsmprov.pem", "-subj",
                            "/CN=localhost", "-days", "2", "-out", self.work / f"{label}.crt"], env=env, check=True,
                           capture_output=True)

    def close(self):
        self.service.close()


def commands(bench):
    work = bench.work
    return {
        "`req -new` EC": ["req", "-new", "-key", bench.uri("bench-ec"), "-subj", "/CN=x", "-out", work / "x.csr"],
        "`req -new` RSA": ["req", "-new", "-key", bench.uri("bench-rsa"), "-subj", "/CN=x", "-out", work / "x.csr"],
        "`pkey -pubout` EC": ["pkey", "-in", bench.uri("bench-ec"), "-pubout", "-out", work / "x.pub"],
        "`storeutl` of the token": ["storeutl", bench.uri()],
    }


def calls_of(bench, provider, args):
    log = bench.work / "spy.log"
    if log.exists():
        log.unlink()
    subprocess.run(["openssl", *args], env=bench.env(provider, log), check=True, capture_output=True)
    return len(re.findall(r"^\d+: C_", log.read_text(errors="replace"), re.M))


def wall_ms(bench, provider, args, runs):
    env = bench.env(provider)
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run(["openssl", *args], env=env, check=True, capture_output=True)
        times.append((time.monotonic() - start) * 1000)
    return statistics.median(times)


def run_commands(bench, runs):
    rows = []
    for name, args in commands(bench).items():
        row = [name]
        for provider in bench.providers:
            row.append(str(calls_of(bench, provider, args)))
        for rtt in (0, 2):
            bench.service.relay.set_rtt(rtt)
            row += [f"{wall_ms(bench, provider, args, runs):.0f}" for provider in bench.providers]
        rows.append(row)
    bench.service.relay.set_rtt(0)
    head = ["command"] + [f"calls, {p}" for p in bench.providers] + [
        f"ms at {rtt} ms, {p}" for rtt in (0, 2) for p in bench.providers]
    print(f"One-shot commands through {bench.service.name}, calls counted with pkcs11-spy, wall time the median "
          f"of {runs} runs:\n")
    table(head, rows)


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


class Nginx:
    def __init__(self, bench, provider, workers, label="bench-ec"):
        self.port, work = free_port(), bench.work
        self.pid_file = work / f"nginx-{provider}.pid"
        self.cert = work / f"{label}.crt"
        bundle = work / f"{label}.{provider}.bundle.pem"
        bundle.write_text(self.cert.read_text() + (work / f"{label}.{provider}.pem").read_text())
        passed = " ".join(f"env {name};" for name in bench.service.client_env())
        temp = " ".join(f"{k}_temp_path {work}/nginx-{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                      "scgi"))
        conf = work / f"nginx-{provider}.conf"
        conf.write_text(f"""
worker_processes {workers};
user root;
pid {self.pid_file};
error_log {work}/nginx-{provider}.log notice;
env SOFTHSM2_CONF; {passed}
events {{ worker_connections 1024; }}
http {{
  access_log off;
  {temp}
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate {self.cert};
    ssl_certificate_key {bundle};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
""")
        subprocess.run(["nginx", "-c", conf], env=bench.env(provider), check=True)
        wait_until(lambda: self.pid_file.exists() and self.pid_file.read_text().strip(), "nginx.pid")
        self.pid = int(self.pid_file.read_text())
        wait_until(lambda: len(self.workers()) == workers, "nginx's workers")

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def rss_kb(self):
        total = 0
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
        return total

    def stop(self):
        os.kill(self.pid, signal.SIGQUIT)
        try:
            wait_until(lambda: not Path(f"/proc/{self.pid}").exists(), "nginx to stop")
        except RuntimeError:
            os.kill(self.pid, signal.SIGKILL)


class Clients:
    """CLIENTS threads doing full TLS 1.3 handshakes (and one request each)
    until `total` are done or `seconds` have passed; each result is kept
    with its start and end time."""

    def __init__(self, nginx):
        self.port = nginx.port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_verify_locations(nginx.cert)
        self.results = []  # (start, end, ok)
        self.lock = threading.Lock()

    def one(self):
        start = time.monotonic()
        ok = False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as raw:
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self.context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    ok = tls.recv(64).startswith(b"HTTP/1.1 200")
        except (OSError, ssl.SSLError):
            ok = False
        with self.lock:
            self.results.append((start, time.monotonic(), ok))

    def run(self, total=None, seconds=None, at=None, event=None):
        """`event` is called once, from one thread, when `at` handshakes are done."""
        deadline = time.monotonic() + seconds if seconds else None
        counter = iter(range(total or 10**9))
        counter_lock = threading.Lock()

        def worker():
            while True:
                with counter_lock:
                    n = next(counter, None)
                if n is None or (deadline and time.monotonic() > deadline):
                    return
                if n == at and event:
                    event()
                self.one()
        threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started


def run_handshakes(bench, seconds):
    rows = []
    for rtt in (0, 2):
        bench.service.relay.set_rtt(rtt)
        row = [f"{rtt} ms"]
        for provider in bench.providers:
            nginx = Nginx(bench, provider, 1)
            try:
                clients = Clients(nginx)
                clients.run(total=50)  # warm: the worker's first handshake finds the key again after fork
                clients = Clients(nginx)
                elapsed = clients.run(seconds=seconds)
                good = sum(1 for _, _, ok in clients.results if ok)
                bad = len(clients.results) - good
                row.append(f"{good / elapsed:.0f}" + (f" ({bad} failed)" if bad else ""))
            finally:
                nginx.stop()
        rows.append(row)
    bench.service.relay.set_rtt(0)
    print(f"Full TLS 1.3 handshakes per second, nginx with one worker and a P-256 token key through "
          f"{bench.service.name}, {CLIENTS} client threads, {seconds} s each:\n")
    table(["added round trip"] + bench.providers, rows)


def run_load(bench, total):
    bench.service.relay.set_rtt(2)
    rows = []
    for restart in (False, True):
        nginx = Nginx(bench, "hsmprov", 2)
        try:
            Clients(nginx).run(total=1000)
            rss_first = nginx.rss_kb()
            clients = Clients(nginx)
            window = {}

            def restart_service():
                window["down"] = time.monotonic()
                bench.service.stop()
                time.sleep(1)
                bench.service.start()
                window["up"] = time.monotonic()
            elapsed = clients.run(total=total, at=total // 2 if restart else None,
                                  event=restart_service if restart else None)
            rss_end = nginx.rss_kb()
        finally:
            nginx.stop()
        failed = [(start, end) for start, end, ok in clients.results if not ok]
        # Outside the outage: ended before the service went down, or began after it was back.
        outside = [f for f in failed if not window or f[1] < window["down"] or f[0] >= window["up"]]
        rows.append(["restart half-way" if restart else "steady", str(len(clients.results)), str(len(failed)),
                     str(len(outside)), f"{len(clients.results) / elapsed:.0f}",
                     str(rss_first), str(rss_end), f"{(rss_end / rss_first - 1) * 100:+.1f} %"])
    bench.service.relay.set_rtt(0)
    print(f"Load: nginx with two workers, a P-256 token key through {bench.service.name} with 2 ms added round trip, "
          f"{CLIENTS} client threads; the workers' resident memory after the first 1,000 handshakes and at the end "
          "(the restart: the service stopped for 1 s):\n")
    table(["run", "handshakes", "failed", "failed outside the outage", "per second", "RSS first (KB)",
           "RSS end (KB)", "RSS change"], rows)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("commands", "handshakes", "load"):
        sys.exit(__doc__)
    if mode != "commands" and shutil.which("nginx") is None:
        sys.exit("nginx is not installed (apt-get install nginx)")
    work = Path(tempfile.mkdtemp(prefix="hsmprov-bench-"))
    bench = None
    try:
        bench = Bench(work)
        if mode == "commands":
            run_commands(bench, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
        elif mode == "handshakes":
            run_handshakes(bench, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
        else:
            run_load(bench, int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
    finally:
        if bench:
            bench.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
