"""A SoftHSM token served across a socket, as a network HSM is: behind
`p11-kit server` (Debian 12 and 13; clients load p11-kit-client.so) or
behind pkcs11-proxy's `pkcs11-daemon` (Debian 13; clients load
libpkcs11-proxy.so), with a relay (relay.py) between the clients and the
service that adds latency, stalls and cuts connections. The service can be
stopped, started and restarted under running clients. Every process is
started in a session of its own and stopped by its process group; every
wait is bounded. Used by the network tests and benchmarks."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
RELAY = Path(__file__).resolve().parent / "relay.py"
P11KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
PKCS11_PROXY_CLIENT = "/usr/lib/libpkcs11-proxy.so"
PKCS11_SPY = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so"


def wait_until(ready, what, seconds=15):
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {seconds} s")
        time.sleep(0.02)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_group(process, first=signal.SIGTERM, seconds=10):
    """Ends a process started with start_new_session=True, and every child
    it made (a server's per-connection children), by its process group."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, first)
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=seconds)
    except ProcessLookupError:
        pass
    try:  # children that outlived their leader
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Relay:
    """relay.py between `listen` and `target` (unix:PATH or tcp:HOST:PORT)."""

    def __init__(self, work: Path, listen: str, target: str, rtt_ms: float = 0):
        self.control = work / "relay.control"
        self.process = subprocess.Popen([sys.executable, RELAY, listen, target, f"unix:{self.control}", str(rtt_ms)],
                                        stdout=subprocess.PIPE, start_new_session=True)
        line = self.process.stdout.readline()
        if line.strip() != b"ready":
            stop_group(self.process)
            raise RuntimeError(f"the relay did not start: {line!r}")

    def command(self, line: str):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(self.control))
            s.sendall(line.encode() + b"\n")
            answer = s.makefile().readline().strip()
        if answer != "ok":
            raise RuntimeError(f"relay: {line}: {answer}")

    def stall(self):
        self.command("stall")

    def resume(self):
        self.command("resume")

    def cut(self):
        self.command("cut")

    def set_rtt(self, ms: float):
        self.command(f"rtt {ms}")

    def stop(self):
        stop_group(self.process)


class TokenService:
    """The service side: SoftHSM's config in `env` (SOFTHSM2_CONF), one
    token served. Subclasses say how the service starts and how clients
    reach it through the relay."""
    name = ""
    client_module = ""

    def __init__(self, work: Path, env: dict, token_label: str, rtt_ms: float = 0):
        self.work, self.env, self.token_label = work, dict(env, OPENSSL_CONF="/dev/null"), token_label
        self.env.pop("LD_PRELOAD", None)  # the service is not ours to instrument
        self.process = None
        self.start()
        self.relay = Relay(work, self.relay_listen(), self.service_address(), rtt_ms)

    @classmethod
    def available(cls):
        return Path(cls.client_module).exists()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.relay.stop()
        self.stop()


class P11KitServer(TokenService):
    name = "p11-kit"
    client_module = P11KIT_CLIENT

    @classmethod
    def available(cls):
        return super().available() and shutil.which("p11-kit") is not None

    @property
    def socket_path(self):
        return self.work / "p11-kit.sock"

    def service_address(self):
        return f"unix:{self.socket_path}"

    def relay_listen(self):
        return f"unix:{self.work / 'p11-kit-relay.sock'}"

    def client_env(self):
        return {"P11_KIT_SERVER_ADDRESS": f"unix:path={self.work / 'p11-kit-relay.sock'}"}

    def start(self):
        if self.socket_path.exists():
            self.socket_path.unlink()
        self.process = subprocess.Popen(
            ["p11-kit", "server", "-f", "-n", str(self.socket_path), "--provider", SOFTHSM_MODULE,
             f"pkcs11:token={self.token_label.replace(' ', '%20')}"],
            env=self.env, stdout=subprocess.DEVNULL, start_new_session=True)
        wait_until(self.socket_path.exists, "p11-kit server's socket")

    def stop(self):
        # The listener hands each connection to a child that holds the
        # module: the whole process group goes.
        stop_group(self.process)
        self.process = None


class Pkcs11Daemon(TokenService):
    name = "pkcs11-daemon"
    client_module = PKCS11_PROXY_CLIENT

    @classmethod
    def available(cls):
        return super().available() and shutil.which("pkcs11-daemon") is not None

    def service_address(self):
        return f"tcp:127.0.0.1:{self.port}"

    def relay_listen(self):
        self.relay_port = free_port()
        return f"tcp:127.0.0.1:{self.relay_port}"

    def client_env(self):
        return {"PKCS11_PROXY_SOCKET": f"tcp://127.0.0.1:{self.relay_port}"}

    def start(self):
        self.port = getattr(self, "port", None) or free_port()
        self.process = subprocess.Popen(["pkcs11-daemon", SOFTHSM_MODULE],
                                        env=dict(self.env, PKCS11_DAEMON_SOCKET=f"tcp://127.0.0.1:{self.port}"),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_until(lambda: accepts(self.port), "pkcs11-daemon's port")

    def stop(self):
        # With a client connected, SIGTERM does not stop it.
        stop_group(self.process, first=signal.SIGKILL)
        self.process = None


SERVICES = [P11KitServer, Pkcs11Daemon]
