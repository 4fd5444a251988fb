"""A token across the network: SoftHSM behind `p11-kit server` (Debian 12
and 13) and behind pkcs11-proxy's `pkcs11-daemon` (Debian 13), reached
through a relay that can stall and cut connections (tests/network). The
service restarts, stops for 5 s, stalls and loses its connections under a
running program, s_server and nginx (2 workers, reload): each recovers by
itself. A program that keeps SIGPIPE's default action is never killed by
it. The PKCS#11 calls of one-shot commands, signatures and handshakes are
counted with OpenSC's pkcs11-spy and held to upper bounds."""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import BUILD, OUTPUTS, ROOT, SoftHsmToken, run

sys.path.insert(0, str(ROOT / "tests" / "network"))
from token_service import PKCS11_SPY, SERVICES, free_port, stop_group, wait_until  # noqa: E402

SIGNER = BUILD / "tests" / "hsmprov_sign_on_demand"
CLEAN_CLIENT_ENV = {"PATH": "/usr/bin:/bin", "OPENSSL_CONF": "/dev/null"}
RECOVERED = "the token service went away or restarted"
WORKER_USER = "www-data"


class NetworkToken(SoftHsmToken):
    """A SoftHSM token that hsmprov reaches only through a token service
    and the relay: its config names the service's client module."""

    def __init__(self, tmp: Path, service_class):
        super().__init__(tmp, label="net token", module=service_class.client_module)
        self.service = service_class(tmp, self.env, self.label)
        self.env.update(self.service.client_env())

    def spied(self, name):
        """The environment of a run whose calls pkcs11-spy writes to a log of their own."""
        log = self.tmp / f"{name}.spy"
        config = self.write_config(self.tmp / f"{name}.cnf", module=PKCS11_SPY)
        return dict(self.env, OPENSSL_CONF=str(config), PKCS11SPY=self.service.client_module,
                    PKCS11SPY_OUTPUT=str(log)), log


def calls(log: Path) -> list:
    """The PKCS#11 functions a spied run called, in order."""
    return re.findall(r"^\d+: (C_\w+)", log.read_text(errors="replace"), re.M)


@pytest.fixture(scope="module", params=SERVICES, ids=lambda service: service.name)
def network(request):
    service_class = request.param
    if not service_class.available():
        pytest.skip(f"{service_class.name} is not installed (Debian 13 has pkcs11-daemon and libpkcs11-proxy0; "
                    "tests/run.sh installs them there)")
    # Not under pytest's 0700 temp dir: nginx's workers (www-data) reach the relay's socket.
    base = Path(tempfile.mkdtemp(prefix="hsmprov-network-"))
    base.chmod(0o755)
    token = NetworkToken(base, service_class)
    try:
        for label, (algorithm, option) in {"net-ec": ("EC", "ec_paramgen_curve:P-256"),
                                           "net-rsa": ("RSA", "rsa_keygen_bits:2048")}.items():
            token.genpkey(label, algorithm, "-pkeyopt", option)
            token.openssl("req", "-new", "-x509", "-key", token.tmp / f"{label}.ref.pem", "-subj", "/CN=localhost",
                          "-days", "2", "-out", token.tmp / f"{label}.crt")
        yield token
    finally:
        token.service.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def service_back_up(request):
    """A test that failed half-way leaves the service running and the relay flowing for the next."""
    yield
    if "network" in request.fixturenames:
        service = request.getfixturevalue("network").service
        if not service.running():
            service.start()
        service.relay.resume()


class Signer:
    """hsmprov_sign_on_demand with one key, driven line by line; every wait bounded."""

    def __init__(self, token, label, env=None):
        self.process = subprocess.Popen([SIGNER, token.uri(object=label, type="private")], env=env or token.env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buffer = b""
        assert self.answer(60) == "loaded"

    def answer(self, seconds=60):
        """The next line, or None when none came within `seconds`."""
        deadline = time.monotonic() + seconds
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"the program ended ({self.process.wait(10)}): "
                                     f"{self.process.stderr.read().decode(errors='replace')}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        OUTPUTS.append(line)
        return line.decode()

    def send(self, command):
        self.process.stdin.write(command.encode() + b"\n")
        self.process.stdin.flush()

    def ask(self, command, seconds=60):
        self.send(command)
        return self.answer(seconds)

    def close(self):
        """Ends the program; its exit status (negative: the signal that killed it)."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        OUTPUTS.append(self.process.stderr.read())
        return self.process.returncode


@pytest.fixture
def signer(network):
    signers = []

    def start(label="net-ec", env=None):
        signers.append(Signer(network, label, env))
        return signers[-1]
    yield start
    for s in signers:
        s.close()


def recoveries(token) -> int:
    return token.debug_log.read_text().count(RECOVERED)


def test_restart_of_the_service_under_a_running_program(network, signer):
    s = signer()
    assert s.ask("sign") == "ok"
    network.debug_log.write_text("")
    network.service.restart()
    # The first signature meets the dead connection: recovery (new sessions,
    # a new login, the key found again), then the signature once more.
    assert s.ask("sign") == "ok"
    assert s.ask("sign") == "ok"
    assert recoveries(network) == 1
    assert s.close() == 0


def test_five_second_outage_fails_clearly_then_recovers(network, signer):
    s = signer()
    assert s.ask("sign") == "ok"
    network.service.stop()
    stopped = time.monotonic()
    while time.monotonic() - stopped < 5:  # each try: a clear error, no loop, the program alive
        answer = s.ask("sign")
        assert answer.startswith("failed: ") and "token 'net token'" in answer, answer
        assert "the next operation tries again" in answer, answer
        time.sleep(1)
    network.service.start()
    assert s.ask("sign") == "ok"
    assert s.ask("sign") == "ok"
    assert s.close() == 0  # SIGPIPE's default action kept: not killed by it


def test_stalled_network_holds_the_call_until_it_flows_again(network, signer):
    s = signer()
    assert s.ask("sign") == "ok"
    network.service.relay.stall()
    try:
        s.send("sign")
        assert s.answer(2) is None  # nothing crosses a stalled network: the call waits
    finally:
        network.service.relay.resume()
    assert s.answer() == "ok"
    assert s.ask("sign") == "ok"


def test_connections_cut_under_a_running_program(network, signer):
    s = signer()
    assert s.ask("sign") == "ok"
    network.service.relay.cut()
    assert s.ask("sign") == "ok"
    network.service.relay.cut()
    assert s.ask("sign") == "ok"


def test_threads_that_fail_together_recover_once(network, signer):
    s = signer()
    assert s.ask("sign-threads 4") == "ok"
    network.service.restart()
    network.debug_log.write_text("")
    assert s.ask("sign-threads 4") == "ok"
    assert recoveries(network) == 1, network.debug_log.read_text()


def test_sigpipe_raised_by_the_module_is_consumed_and_the_applications_kept(network, signer):
    # The program blocks SIGPIPE itself: the one the client module raises
    # writing to the dead service is taken; the one the program raised
    # itself is left pending.
    quiet = signer()
    assert quiet.ask("sign") == "ok"
    assert quiet.ask("block-sigpipe") == "ok"
    mine = signer()
    assert mine.ask("sign") == "ok"
    assert mine.ask("block-sigpipe") == "ok"
    assert mine.ask("raise-sigpipe") == "ok"
    network.service.stop()
    try:
        assert quiet.ask("sign").startswith("failed: ")
        assert quiet.ask("pending") == "nothing pending"
        assert mine.ask("sign").startswith("failed: ")
        assert mine.ask("pending") == "sigpipe pending"
    finally:
        network.service.start()
    assert quiet.ask("sign") == "ok"


def remove_pair(token, label):
    for kind in ("privkey", "pubkey"):
        token.p11tool("--delete-object", "--type", kind, "--label", label)


def test_another_key_under_the_same_label_is_never_used(network, signer):
    network.p11tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "swapped", "--id", "5a5a",
                    "--usage-sign")
    s = signer("swapped")
    assert s.ask("sign") == "ok"
    network.service.stop()
    remove_pair(network, "swapped")
    network.p11tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "swapped", "--id", "5a5a",
                    "--usage-sign")
    network.service.start()
    try:
        for _ in range(2):
            answer = s.ask("sign")
            assert answer.startswith("failed: ") and "holds another key now" in answer, answer
    finally:
        remove_pair(network, "swapped")


def handshake(port, cert, key="ec"):
    result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", cert, "-brief",
                  "-servername", "localhost"], CLEAN_CLIENT_ENV, input=b"GET / HTTP/1.0\r\n\r\n", check=False)
    out = (result.stdout + result.stderr).decode(errors="replace")
    return "CONNECTION ESTABLISHED" in out


def handshake_across_a_stall(network, port, cert):
    """A handshake started while the network forwards nothing: it waits,
    and completes once the network flows again."""
    done = {}
    network.service.relay.stall()
    try:
        client = threading.Thread(target=lambda: done.update(ok=handshake(port, cert)))
        client.start()
        client.join(2)
        assert client.is_alive()  # held by the stalled network
    finally:
        network.service.relay.resume()
    client.join(60)
    return done.get("ok", False)


def handshakes_through_every_event(network, port, cert, serving):
    """Restart, a 5 s outage, a stall and cut connections under a running
    server: `serving()` says it is still whole; every handshake after each
    event succeeds, none during the outage."""
    for event in ("restart", "outage", "stall", "cut"):
        if event == "restart":
            network.service.restart()
        elif event == "outage":
            network.service.stop()
            stopped = time.monotonic()
            while time.monotonic() - stopped < 5:
                assert not handshake(port, cert)
                time.sleep(1)
            assert serving()
            network.service.start()
        elif event == "stall":
            assert handshake_across_a_stall(network, port, cert), event
        else:
            network.service.relay.cut()
        assert all(handshake(port, cert) for _ in range(4)), event
        assert serving(), event


def test_s_server_survives_restart_outage_stall_and_cut(network):
    port = free_port()
    cert = network.tmp / "net-ec.crt"
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key",
                               network.tmp / "net-ec.ref.pem", "-cert", cert, "-www", "-quiet"],
                              env=network.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        wait_until(lambda: handshake(port, cert), "s_server's first handshake", 30)
        # Still serving: not killed by SIGPIPE (s_server keeps its default action).
        handshakes_through_every_event(network, port, cert, lambda: server.poll() is None)
    finally:
        stop_group(server)
        OUTPUTS.append(server.stderr.read())


def need_root():
    if os.geteuid() != 0:
        pytest.skip(f"nginx runs its workers as {WORKER_USER}: the test needs root")


def nginx_children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_nginx_with_two_workers_recovers_after_restart_outage_stall_cut_and_reload(network):
    need_root()
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (tests/run.sh installs it from Debian's archive)")
    port, work = free_port(), network.tmp
    cert = work / "net-ec.crt"
    (work / "net-ec.bundle.pem").write_text(cert.read_text() + (work / "net-ec.ref.pem").read_text())
    passed = " ".join(f"env {name};" for name in network.service.client_env())
    temp = " ".join(f"{kind}_temp_path {work}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(f"""
worker_processes 2;
user {WORKER_USER};
pid {work}/nginx.pid;
error_log {work}/nginx.log info;
env SOFTHSM2_CONF; {passed}
events {{ worker_connections 64; }}
http {{
  access_log off;
  {temp}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {work}/net-ec.bundle.pem;
    location / {{ return 200 "hello\\n"; }}
  }}
}}
""")
    network.debug_log.touch()
    shutil.chown(network.debug_log, WORKER_USER)
    run(["nginx", "-c", work / "nginx.conf"], network.env)
    wait_until(lambda: (work / "nginx.pid").exists() and (work / "nginx.pid").read_text().strip(), "nginx.pid")
    master = int((work / "nginx.pid").read_text())

    def all_handshake(count=6):
        return all(handshake(port, cert) for _ in range(count))
    try:
        wait_until(lambda: len(nginx_children(master)) == 2, "nginx's two workers")
        assert all_handshake()
        workers = nginx_children(master)
        handshakes_through_every_event(network, port, cert, lambda: nginx_children(master) == workers)
        # The master reads the key again at reload, on its connection from
        # before a restart; the new workers start from there.
        network.service.restart()
        os.kill(master, signal.SIGHUP)
        wait_until(lambda: len(nginx_children(master) - workers) == 2, "nginx's new workers")
        assert all_handshake()
    except (AssertionError, RuntimeError) as failure:
        log = (work / "nginx.log").read_text(errors="replace") if (work / "nginx.log").exists() else ""
        raise AssertionError(f"{failure}\nnginx.log:\n{log[-4000:]}\ndebug log:\n"
                             f"{network.debug_log.read_text()[-4000:]}") from failure
    finally:
        os.kill(master, signal.SIGQUIT)
        wait_until(lambda: not Path(f"/proc/{master}").exists(), "nginx to stop", 30)
        OUTPUTS.append((work / "nginx.log").read_bytes() if (work / "nginx.log").exists() else b"")


# Call counts: upper bounds for what a one-shot command costs a network HSM,
# counted through the same service and relay.

def spied_calls(network, name, *args, program="openssl"):
    env, log = network.spied(name)
    run([program, *args], env)
    return calls(log)


@pytest.mark.parametrize("label, most", [("net-ec", 26), ("net-rsa", 22)])
def test_calls_of_a_one_shot_csr(network, label, most):
    made = spied_calls(network, f"req-{label}", "req", "-new", "-key", network.tmp / f"{label}.ref.pem", "-subj",
                       "/CN=calls", "-out", network.tmp / f"{label}.csr")
    assert len(made) <= most, made
    assert made.count("C_Sign") == 1


def test_calls_of_pkey_pubout(network):
    made = spied_calls(network, "pubout", "pkey", "-in", network.tmp / "net-ec.ref.pem", "-pubout")
    assert len(made) <= 22, made


def test_calls_of_storeutl_of_a_token(network, tmp_path):
    # A token of its own behind the same kind of service: two key pairs and a certificate.
    listed = NetworkToken(tmp_path, type(network.service))
    try:
        listed.genpkey("listed-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        listed.genpkey("listed-rsa", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
        der = tmp_path / "listed.der"
        run(["openssl", "x509", "-in", network.tmp / "net-ec.crt", "-outform", "DER", "-out", der], CLEAN_CLIENT_ENV)
        listed.p11tool("--write-object", der, "--type", "cert", "--label", "listed-cert", "--id", "03")
        env, log = listed.spied("storeutl")
        out = run(["openssl", "storeutl", listed.uri()], env).stdout.decode()
    finally:
        listed.service.close()
    assert len(re.findall(r"^\d+: (Pkey|Public key|Certificate)", out, re.M)) == 5, out
    made = calls(log)
    assert len(made) <= 40, made


def test_calls_per_signature_in_steady_state(network):
    # Two runs of the same program, 2 and 12 signatures: the 10 more cost 2 calls each.
    def signing(count):
        env, log = network.spied(f"steady-{count}")
        s = Signer(network, "net-ec", env)
        try:
            for _ in range(count):
                assert s.ask("sign") == "ok"
        finally:
            assert s.close() == 0
        return calls(log)
    few, many = signing(2), signing(12)
    assert len(many) - len(few) == 20, (few, many)
    assert many.count("C_Sign") - few.count("C_Sign") == 10


def test_calls_per_handshake_in_steady_state(network):
    def serving(count):
        env, log = network.spied(f"handshakes-{count}")
        port, cert = free_port(), network.tmp / "net-ec.crt"
        server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key",
                                   network.tmp / "net-ec.ref.pem", "-cert", cert, "-www", "-quiet", "-naccept",
                                   str(count)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        try:
            wait_until(lambda: handshake(port, cert), "s_server's first handshake", 30)
            for _ in range(count - 1):
                assert handshake(port, cert)
            server.wait(30)
        finally:
            stop_group(server)
        return calls(log)
    few, many = serving(2), serving(12)
    assert len(many) - len(few) == 20, (few, many)
