"""Real servers and clients with token keys, set up as an administrator
would: hsmprov in the OpenSSL config the programs read, the key given by
configuration only (a key file, or a pkcs11: URI where the server takes
one), forking servers with their workers running as www-data. Each server
answers its first request after start and after reload; every handshake is
checked by an openssl s_client that does not load hsmprov."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (OUTPUTS, SANITIZE, SoftHsmToken, assert_documented, pkcs11_provider_key_file, run,
                      skip_if_hangs_under_asan)

WORKER_USER = "www-data"
KEYS = {"rsa": ("RSA", "-pkeyopt", "rsa_keygen_bits:2048"), "ec": ("EC", "-pkeyopt", "ec_paramgen_curve:P-256")}
# (protocol, TLS 1.2 cipher): RSA keys sign (ECDHE) and decrypt (RSA key exchange).
HANDSHAKES = {
    "rsa": [("tls1_3", None), ("tls1_2", "ECDHE-RSA-AES128-GCM-SHA256"), ("tls1_2", "AES128-GCM-SHA256")],
    "ec": [("tls1_3", None), ("tls1_2", "ECDHE-ECDSA-AES128-GCM-SHA256")],
}
CLEAN_CLIENT_ENV = {"PATH": "/usr/bin:/bin", "OPENSSL_CONF": "/dev/null"}


def need_root():
    if os.geteuid() != 0:
        pytest.skip(f"servers run their workers as {WORKER_USER}: the test needs root")


def need_program(name):
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (tests/run.sh installs it from Debian's archive)")


@pytest.fixture(scope="module")
def site():
    """A token and key files where the worker user can read them: the token
    directory readable by the worker's group, the key references (which hold
    no secret) readable by all, the PIN file by root only."""
    need_root()
    base = Path(tempfile.mkdtemp(prefix="hsmprov-servers-"))
    base.chmod(0o755)
    token = SoftHsmToken(base, label="server token")
    for label, (algorithm, *options) in KEYS.items():
        ref = token.genpkey(label, algorithm, *options)
        cert = base / f"{label}.crt"
        token.openssl("req", "-new", "-x509", "-key", ref, "-subj", "/CN=localhost", "-days", "2", "-out", cert)
        (base / f"{label}.bundle.pem").write_text(cert.read_text() + ref.read_text())
        (base / f"{label}.reversed.pem").write_text(ref.read_text() + cert.read_text())
        (base / f"{label}.p11prov.pem").write_text(pkcs11_provider_key_file(token.uri(object=label, type="private")))
    subprocess.run(["chgrp", "-R", WORKER_USER, base / "tokens"], check=True)
    subprocess.run(["chmod", "-R", "g+rwX", base / "tokens"], check=True)
    for path in base.iterdir():
        if path.suffix in (".pem", ".crt", ".conf", ".cnf"):
            path.chmod(0o644)
    token.debug_log.touch()
    shutil.chown(token.debug_log, WORKER_USER)  # stunnel reopens nothing, but reloads as the worker
    run_dir = base / "run"  # for servers that write their files after dropping to the worker user
    run_dir.mkdir()
    shutil.chown(run_dir, WORKER_USER, WORKER_USER)
    htdocs = base / "htdocs"
    htdocs.mkdir()
    (htdocs / "hello.txt").write_text("hello from apache\n")
    htdocs.chmod(0o755)
    (htdocs / "hello.txt").chmod(0o644)
    yield token
    shutil.rmtree(base, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, what, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


class Server:
    """One server process tree started by a test and stopped by its PID."""
    greeting = b""
    starttls = None  # the protocol whose plain-text start asks for TLS, for s_client
    rsa_key_exchange = True
    request = b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n"
    reloads = True

    def __init__(self, site, key, bundle="bundle"):
        self.site, self.key, self.port = site, key, free_port()
        self.bundle = site.tmp / f"{key}.{bundle}.pem"  # for servers that take one file
        self.dir = site.tmp
        self.name = type(self).__name__.lower()
        self.pid = None

    def file(self, suffix):
        return self.dir / f"{self.name}-{self.key}{suffix}"

    def start(self):
        raise NotImplementedError

    def reload(self):
        raise NotImplementedError

    def log_text(self):
        return b""

    def stop(self, sig=signal.SIGTERM):
        if self.pid is None or not alive(self.pid):
            return
        os.kill(self.pid, sig)
        try:
            wait_until(lambda: not alive(self.pid), f"{self.name} (pid {self.pid}) to stop")
        finally:
            if alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
            OUTPUTS.append(self.log_text())

    def pid_from(self, path):
        wait_until(lambda: path.exists() and path.read_text().strip(), f"{path}")
        return int(path.read_text().split()[0])


class Nginx(Server):
    """Master as root, one worker as www-data; HUP reloads (new worker)."""
    greeting = b"hello from nginx"

    def start(self):
        conf = self.file(".conf")
        temp = " ".join(f"{kind}_temp_path {self.dir}/nginx-{kind};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf.write_text(f"""
worker_processes 1;
user {WORKER_USER};
pid {self.file('.pid')};
error_log {self.file('.log')} info;
env SOFTHSM2_CONF;
events {{ worker_connections 64; }}
http {{
  access_log off;
  {temp}
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate {self.dir}/{self.key}.crt;
    ssl_certificate_key {self.bundle};
    location / {{ return 200 "hello from nginx\\n"; }}
  }}
}}
""")
        run(["nginx", "-c", conf], self.site.env)
        self.pid = self.pid_from(self.file(".pid"))
        wait_until(lambda: children(self.pid), "nginx's worker")

    def reload(self):
        old = children(self.pid)
        os.kill(self.pid, signal.SIGHUP)
        wait_until(lambda: children(self.pid) and not (children(self.pid) & old), "nginx's new worker")

    def stop(self):
        super().stop(signal.SIGQUIT)

    def log_text(self):
        return self.file(".log").read_bytes() if self.file(".log").exists() else b""


class Apache(Server):
    """mod_ssl; children as www-data; USR1 is a graceful restart."""
    greeting = b"hello from apache"
    mpm = "prefork"
    key_file = "uri"

    def start(self):
        conf = self.file(".conf")
        key = (f'"{self.site.uri(object=self.key, type="private")}"' if self.key_file == "uri"
               else f"{self.dir}/{self.key}.ref.pem")
        modules = "/usr/lib/apache2/modules"
        conf.write_text(f"""
ServerRoot "{self.dir}"
ServerName localhost
DefaultRuntimeDir "{self.dir}"
PidFile "{self.file('.pid')}"
ErrorLog "{self.file('.log')}"
LogLevel info
Listen 127.0.0.1:{self.port}
LoadModule mpm_{self.mpm}_module {modules}/mod_mpm_{self.mpm}.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule ssl_module {modules}/mod_ssl.so
User {WORKER_USER}
Group {WORKER_USER}
StartServers 1
DocumentRoot "{self.dir}/htdocs"
<Directory "{self.dir}/htdocs">
  Require all granted
</Directory>
<VirtualHost 127.0.0.1:{self.port}>
  SSLEngine on
  SSLProtocol -all +TLSv1.2 +TLSv1.3
  SSLCertificateFile {self.dir}/{self.key}.crt
  SSLCertificateKeyFile {key}
</VirtualHost>
""")
        run(["apache2", "-f", conf, "-k", "start"], self.site.env)
        self.pid = self.pid_from(self.file(".pid"))
        wait_until(lambda: listening(self.port) and children(self.pid), "apache's children")

    def reload(self):
        old = children(self.pid)
        os.kill(self.pid, signal.SIGUSR1)
        wait_until(lambda: children(self.pid) and not (children(self.pid) & old), "apache's new children")

    def log_text(self):
        return self.file(".log").read_bytes() if self.file(".log").exists() else b""


class ApacheEvent(Apache):
    mpm = "event"
    key_file = "reference"


class Haproxy(Server):
    """Master-worker (-W): the master loads the key, the worker (www-data)
    serves; USR2 reloads (the master re-executes itself, forks a new worker)."""
    greeting = b"hello from haproxy"

    def start(self):
        cfg = self.file(".cfg")
        cfg.write_text(f"""
global
  user {WORKER_USER}
  group {WORKER_USER}
defaults
  mode http
  timeout client 10s
  timeout server 10s
  timeout connect 10s
frontend hello
  bind 127.0.0.1:{self.port} ssl crt {self.bundle}
  http-request return status 200 content-type text/plain string "hello from haproxy"
""")
        self.log = open(self.file(".log"), "wb")
        self.process = subprocess.Popen(["haproxy", "-W", "-f", cfg], env=self.site.env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        wait_until(lambda: listening(self.port) and children(self.pid), "haproxy's worker")

    def reload(self):
        old = children(self.pid)
        os.kill(self.pid, signal.SIGUSR2)
        wait_until(lambda: children(self.pid) and not (children(self.pid) & old), "haproxy's new worker")

    def stop(self):
        super().stop()
        self.process.wait(timeout=15)
        self.log.close()

    def log_text(self):
        return self.file(".log").read_bytes()


class Stunnel(Server):
    """A daemon that drops to www-data; HUP reloads the configuration (and
    the key) in the same process; the service runs a program per client."""
    greeting = b"hello from stunnel"
    request = b""  # the program answers without reading

    def start(self):
        conf = self.file(".conf")
        self.pid_file = self.dir / "run" / f"stunnel-{self.key}.pid"
        self.log_file = self.dir / "run" / f"stunnel-{self.key}.log"
        conf.write_text(f"""
foreground = no
pid = {self.pid_file}
output = {self.log_file}
debug = info
setuid = {WORKER_USER}
setgid = {WORKER_USER}
[hello]
accept = 127.0.0.1:{self.port}
cert = {self.dir}/{self.key}.crt
key = {self.dir}/{self.key}.p11prov.pem
exec = /bin/echo
execArgs = echo hello from stunnel
""")
        run(["stunnel4", conf], self.site.env)
        self.pid = self.pid_from(self.pid_file)
        wait_until(lambda: listening(self.port), "stunnel to listen")

    def reload(self):
        loaded = self.log_text().count(b"Configuration successful")
        os.kill(self.pid, signal.SIGHUP)
        wait_until(lambda: self.log_text().count(b"Configuration successful") > loaded
                   or b"Failed to reload" in self.log_text(), "stunnel to reload")
        assert b"Failed to reload" not in self.log_text(), self.log_text().decode()

    def log_text(self):
        return self.log_file.read_bytes() if self.log_file.exists() else b""


class SServer(Server):
    """openssl s_server: one process, no reload."""
    greeting = b"HTTP/1.0 200 ok"
    reloads = False

    def start(self):
        self.process = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-key", self.dir / f"{self.key}.ref.pem",
             "-cert", self.dir / f"{self.key}.crt", "-www"],
            env=self.site.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.process.pid
        wait_until(lambda: listening(self.port) or self.process.poll() is not None, "s_server to listen")
        assert self.process.poll() is None, self.process.stderr.read().decode()

    def stop(self):
        super().stop()
        self.process.wait(timeout=15)

    def log_text(self):
        return self.process.stderr.read() if self.process.poll() is not None else b""


def config_with_worker_pin(site, name):
    """The site's OpenSSL config with a PIN file of the worker user's: for
    servers whose processes log in as that user, not forked from root's."""
    pin = site.tmp / "run" / f"{name}.pin"
    shutil.copy(site.pin_file, pin)
    shutil.chown(pin, WORKER_USER, WORKER_USER)
    config = site.write_config(site.tmp / "run" / f"{name}-openssl.cnf", pin_line=False,
                               extra=f"pkcs11-module-token-pin = file:{pin}")
    config.chmod(0o644)
    return config


def postgres_binary(name):
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else None


class Postgres(Server):
    """PostgreSQL's postmaster runs as the database user (www-data here):
    it reads the key and the PIN itself, and checks that no one else can
    read the key file (0600). Each connection is a forked backend; HUP
    reloads the TLS settings and the key. The client asks for TLS first
    (-starttls postgres)."""
    starttls = "postgres"
    key_mode = 0o600

    def start(self):
        skip_if_hangs_under_asan("postgres")
        run_dir = self.dir / "run"
        self.data = run_dir / f"pg-{self.key}"
        self.key_file = run_dir / f"pg-{self.key}.key.pem"
        shutil.copy(self.dir / f"{self.key}.ref.pem", self.key_file)
        self.key_file.chmod(self.key_mode)
        shutil.chown(self.key_file, WORKER_USER, WORKER_USER)
        # The postmaster logs in as the database user.
        config = config_with_worker_pin(self.site, "pg")
        if not self.data.exists():
            subprocess.run([postgres_binary("initdb"), "-D", self.data, "--auth=trust", "--username", WORKER_USER,
                            "--locale=C", "--no-sync"], env=CLEAN_CLIENT_ENV, user=WORKER_USER, group=WORKER_USER,
                           cwd="/", check=True, capture_output=True, timeout=120)
        self.log = open(self.file(".log"), "wb")
        self.process = subprocess.Popen(
            [postgres_binary("postgres"), "-D", self.data, "-c", f"port={self.port}",
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={run_dir}", "-c", "ssl=on",
             "-c", f"ssl_cert_file={self.dir}/{self.key}.crt", "-c", f"ssl_key_file={self.key_file}"],
            env=dict(self.site.env, OPENSSL_CONF=str(config)), user=WORKER_USER, group=WORKER_USER, cwd="/",
            stdout=self.log, stderr=self.log)
        self.pid = self.process.pid
        try:
            wait_until(lambda: listening(self.port) or self.process.poll() is not None, "postgres to listen")
            assert self.process.poll() is None, self.log_text().decode()
        except AssertionError:
            self.stop()
            raise

    def query(self, sql):
        """psql, without hsmprov, over TLS that checks the server's certificate."""
        psql = postgres_binary("psql") or "psql"
        target = (f"host=127.0.0.1 port={self.port} user={WORKER_USER} dbname=postgres sslmode=verify-ca "
                  f"sslrootcert={self.dir}/{self.key}.crt")
        return run([psql, target, "-Atc", sql], dict(CLEAN_CLIENT_ENV, HOME="/"), timeout=30).stdout.decode().strip()

    def reload(self):
        loaded = self.log_text().count(b"reloading configuration files")
        os.kill(self.pid, signal.SIGHUP)
        wait_until(lambda: self.log_text().count(b"reloading configuration files") > loaded, "postgres to reload")

    def stop(self):
        super().stop(signal.SIGINT)  # fast shutdown
        self.process.wait(timeout=15)
        self.log.close()

    def log_text(self):
        return self.file(".log").read_bytes() if self.file(".log").exists() else b""


def dovecot_major_minor():
    out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout
    return tuple(int(n) for n in out.split()[0].split(".")[:2])


class Dovecot(Server):
    """Dovecot's master (root) starts imap-login processes by exec, not by
    fork from a process that logged in: they read the key themselves, by
    default chrooted as dovenull. `reach_token` runs them unchrooted as
    www-data with a PIN file of theirs; the client asks for TLS first
    (-starttls imap)."""
    starttls = "imap"
    greeting = b"a OK"
    request = b"a LOGOUT\r\n"
    reloads = False
    rsa_key_exchange = False  # its default cipher list leaves kRSA out
    reach_token = True

    def start(self):
        base = self.dir / f"dovecot-{self.key}"  # the master's, root's
        base.mkdir(exist_ok=True)
        config = config_with_worker_pin(self.site, "dovecot")
        self.env = dict(self.site.env, OPENSSL_CONF=str(config))
        login = f"  chroot =\n  user = {WORKER_USER}\n" if self.reach_token else ""
        cert, key = self.dir / f"{self.key}.crt", self.dir / f"{self.key}.ref.pem"
        # A user database (none logs in here): imap-login waits for the auth process.
        # Dovecot clears its processes' environment but for what it is told to keep.
        keep = ["OPENSSL_CONF", "OPENSSL_MODULES", "SOFTHSM2_CONF", "HSMPROV_DEBUG", "LD_PRELOAD", "ASAN_OPTIONS"]
        # The ASan runtime maps terabytes of shadow memory: no address space limit then.
        vsz = "default_vsz_limit = 0" if SANITIZE else ""
        if dovecot_major_minor() >= (2, 4):
            head = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"
            tls = f"ssl_server_cert_file = {cert}\nssl_server_key_file = {key}\n"
            users = "passdb static {\n  password = unused\n}\nuserdb static {\n}\n"
            environment = "import_environment {\n" + "".join(f"  {v} = %{{env:{v}}}\n" for v in keep) + "}"
        else:
            head = ""
            tls = f"ssl_cert = <{cert}\nssl_key = <{key}\n"
            users = "passdb {\n  driver = static\n  args = password=unused\n}\nuserdb {\n  driver = static\n}\n"
            environment = "import_environment = " + " ".join(keep)
        self.file(".conf").write_text(f"""{head}
base_dir = {base}
log_path = {self.file('.log')}
protocols = imap
listen = 127.0.0.1
ssl = required
{tls}
{users}
{environment}
{vsz}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{login}}}
""")
        self.process = subprocess.Popen(["dovecot", "-F", "-c", self.file(".conf")], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = self.process.pid
        try:
            wait_until(lambda: listening(self.port) or self.process.poll() is not None, "dovecot to listen")
            assert self.process.poll() is None, self.process.stderr.read().decode() + self.log_text().decode()
        except AssertionError:
            self.stop()
            raise

    def stop(self):
        super().stop()
        self.process.wait(timeout=15)

    def log_text(self):
        return self.file(".log").read_bytes() if self.file(".log").exists() else b""


SERVERS = {"nginx": (Nginx, "nginx"), "apache-prefork": (Apache, "apache2"), "apache-event": (ApacheEvent, "apache2"),
           "haproxy": (Haproxy, "haproxy"), "stunnel": (Stunnel, "stunnel4"), "s_server": (SServer, "openssl"),
           "postgres": (Postgres, postgres_binary("postgres") or "postgres"), "dovecot": (Dovecot, "dovecot")}


def handshake(server, protocol, cipher, when):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", f"-{protocol}", "-CAfile",
            server.dir / f"{server.key}.crt", "-verify_return_error", "-brief", "-ign_eof"]
    if cipher:
        args += ["-cipher", cipher]
    if server.starttls:
        args += ["-starttls", server.starttls]
    result = run(args, CLEAN_CLIENT_ENV, input=server.request, check=False, timeout=30)
    text = (result.stdout + result.stderr).decode(errors="replace")
    context = f"{server.name} {server.key} {protocol} {cipher or ''} {when}:\n{text}\n{server.log_text().decode()}"
    assert result.returncode == 0, context
    assert f"Protocol version: {'TLSv1.3' if protocol == 'tls1_3' else 'TLSv1.2'}" in text, context
    assert "Verification: OK" in text, context
    if cipher:
        assert f"Ciphersuite: {cipher}" in text, context
    assert server.greeting in result.stdout, context


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("kind", list(SERVERS))
def test_server_answers_first_requests_after_start_and_reload(site, kind, key):
    cls, program = SERVERS[kind]
    need_program(program)
    server = cls(site, key)
    server.start()
    handshakes = [(p, c) for p, c in HANDSHAKES[key] if server.rsa_key_exchange or c != "AES128-GCM-SHA256"]
    try:
        for protocol, cipher in handshakes:
            handshake(server, protocol, cipher, "after start")
        if server.reloads:
            server.reload()
            # The other way round: a new worker's first operation with an RSA
            # key is then the decryption of an RSA key exchange.
            for protocol, cipher in reversed(handshakes):
                handshake(server, protocol, cipher, "after reload")
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
def test_bundle_with_the_key_reference_before_the_certificate(site, kind):
    cls, program = SERVERS[kind]
    need_program(program)
    server = cls(site, "ec", bundle="reversed")
    server.start()
    try:
        handshake(server, "tls1_3", None, "after start")
    finally:
        server.stop()


def test_workers_log_to_the_debug_file_the_master_opened(site):
    # The file is root's alone: the worker could not open it, only write to
    # the copy it inherits from the master.
    need_program("nginx")
    log = site.tmp / "nginx-debug.log"
    log.write_text("")
    log.chmod(0o600)
    saved = site.env["HSMPROV_DEBUG"]
    site.env["HSMPROV_DEBUG"] = f"level:1,file:{log}"
    server = Nginx(site, "ec")
    try:
        server.start()
        handshake(server, "tls1_3", None, "after start")
    finally:
        server.stop()
        site.env["HSMPROV_DEBUG"] = saved
    assert "hsmprov: fork detected: initialising" in log.read_text()


@pytest.fixture
def nginx_without_token_access(site):
    """The worker's group keeps the token directory but loses the token in
    it for the duration of the test."""
    need_program("nginx")
    tokens = [path for path in (site.tmp / "tokens").iterdir() if path.is_dir()]
    subprocess.run(["chmod", "-R", "g-rwx", *tokens], check=True)
    server = Nginx(site, "ec")
    server.start()
    yield server
    server.stop()
    subprocess.run(["chmod", "-R", "g+rwX", *tokens], check=True)


def test_worker_that_cannot_read_the_token_says_why(nginx_without_token_access):
    server = nginx_without_token_access
    result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-brief"], CLEAN_CLIENT_ENV,
                 input=b"", check=False, timeout=30)
    assert result.returncode != 0
    wait_until(lambda: b"not visible to this process" in server.log_text(), "nginx to log the failed handshake")
    log = server.log_text().decode()
    found = re.search(r"token 'server token' is not visible to this process after fork: module '(\S+)' shows 1 slot to "
                      r"uid 33 \(www-data\): 1 uninitialised token; check that this user can read the token \(for "
                      r"SoftHSM: its token directory and files\)", log)
    assert found, log
    assert_documented(found.group(0), ("'server token'", "'web'"), (found.group(1), "/usr/lib/softhsm/libsofthsm2.so"))


# Clients presenting a token key for their certificate, to a server that
# requires one and does not load hsmprov.

@pytest.fixture(scope="module")
def verifying_server(site):
    key, cert = site.tmp / "verifier.key", site.tmp / "verifier.crt"
    run(["openssl", "req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-subj", "/CN=localhost", "-days", "2", "-out", cert], CLEAN_CLIENT_ENV)
    trusted = site.tmp / "clients.pem"
    trusted.write_text("".join((site.tmp / f"{label}.crt").read_text() for label in KEYS))
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", key, "-cert", cert,
                               "-Verify", "1", "-verify_return_error", "-CAfile", trusted, "-www"],
                              env=CLEAN_CLIENT_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: listening(port), "the verifying s_server")
    yield port, cert
    server.terminate()
    server.wait(timeout=15)


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("protocol", ["1.2", "1.3"])
@pytest.mark.parametrize("key_file", ["bundle", "pkcs11-provider"])
def test_curl_presents_a_token_key(site, verifying_server, key, protocol, key_file):
    need_program("curl")
    skip_if_hangs_under_asan("curl")
    port, server_cert = verifying_server
    cert_options = (["--cert", site.tmp / f"{key}.bundle.pem"] if key_file == "bundle" else
                    ["--cert", site.tmp / f"{key}.crt", "--key", site.tmp / f"{key}.p11prov.pem"])
    out = run(["curl", "-sS", "--resolve", f"localhost:{port}:127.0.0.1", "--cacert", server_cert, *cert_options,
               f"--tlsv{protocol}", "--tls-max", protocol, f"https://localhost:{port}/"], site.env, timeout=60)
    page = out.stdout.decode()
    assert f"Protocol  : TLSv{protocol}" in page, page
    assert "Client certificate" in page, page


PYTHON_CLIENT = """
import ssl, socket, sys
cert, key, server_cert, port, version = sys.argv[1:]
context = ssl.create_default_context(cafile=server_cert)
context.load_cert_chain(cert, key or None)
context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, version)
with socket.create_connection(("127.0.0.1", int(port))) as raw:
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        page = b""
        while chunk := tls.recv(4096):
            page += chunk
print(page.decode())
"""


@pytest.mark.parametrize("key", list(KEYS))
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize("key_file", ["bundle", "pkcs11-provider"])
def test_python_ssl_presents_a_token_key(site, verifying_server, key, version, key_file):
    port, server_cert = verifying_server
    cert, key_path = ((site.tmp / f"{key}.bundle.pem", "") if key_file == "bundle" else
                      (site.tmp / f"{key}.crt", site.tmp / f"{key}.p11prov.pem"))
    out = run(["/usr/bin/python3", "-c", PYTHON_CLIENT, cert, key_path, server_cert, port, version], site.env,
              timeout=60)
    page = out.stdout.decode()
    assert f"Protocol  : {version.replace('_', '.')}" in page, page
    assert "Client certificate" in page, page


def test_postgres_serves_queries_over_tls_with_a_key_reference_file(site):
    need_program(postgres_binary("postgres") or "postgres")
    server = Postgres(site, "ec")
    server.start()
    try:
        # Each connection is a backend forked from the postmaster that loaded the key.
        for _ in range(2):
            assert server.query("select ssl, version from pg_stat_ssl where pid = pg_backend_pid()") == "t|TLSv1.3"
    finally:
        server.stop()


def test_postgres_refuses_a_key_file_others_can_read(site):
    # PostgreSQL's own rule, said in the docs: a reference file is a key file to it.
    need_program(postgres_binary("postgres") or "postgres")
    server = Postgres(site, "ec")
    server.key_mode = 0o644
    with pytest.raises(AssertionError) as refused:
        server.start()
    line = next(l for l in str(refused.value).splitlines() if "has group or world access" in l)
    message = line.split("FATAL:", 1)[1].strip()
    assert_documented(message, (str(server.key_file), "/etc/postgresql/hsmprov.key.pem"))


def test_dovecot_login_processes_chrooted_as_dovenull_cannot_use_the_token(site):
    # Dovecot's defaults: imap-login chrooted in its login directory, as
    # dovenull, exec'd by the master. hsmprov came with OpenSSL's config
    # before the chroot; p11-kit (loaded on the first URI) and the token
    # are out of reach after it: the handshake fails, the log says why.
    need_program("dovecot")
    server = Dovecot(site, "ec")
    server.reach_token = False
    server.start()
    try:
        result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{server.port}", "-starttls", "imap", "-brief"],
                     CLEAN_CLIENT_ENV, input=b"", check=False, timeout=30)
        assert result.returncode != 0
        wait_until(lambda: b"TLS initialization failed" in server.log_text(), "dovecot's log")
        log = server.log_text().decode()
        message = re.search(r"hsmprov::cannot load a library hsmprov needs:(.*?)(, error:|$)", log, re.M)
        assert message, log
        assert_documented(message.group(1).strip())
    finally:
        server.stop()
