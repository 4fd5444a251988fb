"""Fixtures for the integration tests: a fresh SoftHSM token (or NSS softokn
database) made in a temp dir, the real `openssl` binary loading the provider
from the build tree through a config made from openssl.cnf.example, and a
check after every test that the PIN appears in no output and no log."""
import base64
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HSMPROV_BUILD_DIR", ROOT / "build"))
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
NSS_MODULE = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"
SANITIZE = os.environ.get("HSMPROV_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE")
TSAN = os.environ.get("HSMPROV_TSAN", "OFF").upper() in ("ON", "1", "TRUE")  # tests/run.sh --tsan

# Everything our commands printed during the current test, searched for PINs.
OUTPUTS = []


def sanitizer_env():
    """The openssl binary is not instrumented: preload the runtimes."""
    if TSAN:  # TSAN_OPTIONS from tests/run.sh --tsan: a report fails the program
        return {"LD_PRELOAD": subprocess.run(["gcc", "-print-file-name=libtsan.so"], capture_output=True,
                                             text=True).stdout.strip()}
    if not SANITIZE:
        return {}
    libs = [subprocess.run(["gcc", "-print-file-name=" + lib], capture_output=True, text=True).stdout.strip()
            for lib in ("libasan.so", "libubsan.so")]
    return {"LD_PRELOAD": ":".join(libs), "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
            "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


# Programs that hang at start with the ASan runtime preloaded, even with no
# provider configured (seen: curl, GnuTLS's p11tool, PostgreSQL's postmaster): under the
# sanitizers they are left to the normal build's run.
HANG_UNDER_ASAN = {"curl", "p11tool", "postgres"}


def skip_if_hangs_under_asan(program):
    if SANITIZE and program in HANG_UNDER_ASAN:
        pytest.skip(f"{program} hangs at start with the ASan runtime preloaded; the normal build runs this test")


def run(args, env, input=None, check=True, timeout=120):
    result = subprocess.run([str(a) for a in args], input=input, capture_output=True, env=env, timeout=timeout)
    OUTPUTS.append(result.stdout + result.stderr)
    # Also where the exit code is not checked, or a forked child's report did not reach it.
    if TSAN and b"WARNING: ThreadSanitizer" in result.stderr:
        raise AssertionError(f"ThreadSanitizer report from {args[0]}:\n{result.stderr.decode(errors='replace')}")
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} {' '.join(map(str, args[1:]))} failed ({result.returncode}):\n"
                             f"{result.stderr.decode(errors='replace')}")
    return result


class Token:
    """One token and the environment that reaches it through the provider."""

    def __init__(self, tmp: Path, label: str, pin: str, module: str, init_args: str = ""):
        self.tmp, self.label, self.pin, self.module, self.init_args = tmp, label, pin, module, init_args
        self.pin_file = tmp / "token.pin"
        self.pin_file.write_text(pin + "\n")
        self.pin_file.chmod(0o600)
        self.debug_log = tmp / "debug.log"
        self.config = self.write_config(tmp / "openssl.cnf")
        self.env = dict(os.environ, OPENSSL_CONF=str(self.config), OPENSSL_MODULES=str(BUILD / "provider"),
                        SOFTHSM2_CONF=str(tmp / "softhsm2.conf"),
                        HSMPROV_DEBUG=f"level:2,file:{self.debug_log}", **sanitizer_env())

    def write_config(self, path: Path, extra: str = "", pin_line: bool = True, module: str = "") -> Path:
        text = (ROOT / "openssl.cnf.example").read_text()
        text = text.replace("pkcs11-module-path = /usr/lib/softhsm/libsofthsm2.so",
                            f"pkcs11-module-path = {module or self.module}")
        pin = f"pkcs11-module-token-pin = file:{self.pin_file}" if pin_line else ""
        text = text.replace("pkcs11-module-token-pin = file:/etc/hsmprov/token.pin", pin)
        if self.init_args:
            text = text.replace("activate = 1\n", f"pkcs11-module-init-args = {self.init_args}\nactivate = 1\n")
        text = text.replace("[hsmprov_sect]\n", f"[hsmprov_sect]\n{extra}\n")
        path.write_text(text)
        return path

    def uri(self, **attributes) -> str:
        parts = [f"token={self.label.replace(' ', '%20')}"]
        parts += [f"{k.replace('_', '-')}={v}" for k, v in attributes.items()]
        return "pkcs11:" + ";".join(parts)

    def openssl(self, *args, input=None, check=True, env=None):
        return run(["openssl", *args], env or self.env, input=input, check=check)

    def program(self, *args, check=True, env=None, timeout=300):
        return run(args, env or self.env, check=check, timeout=timeout)

    def genpkey(self, label, algorithm, *options, out=None):
        out = out or self.tmp / f"{label}.ref.pem"
        self.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", algorithm, *options,
                     "-pkeyopt", f"pkcs11_uri:{self.uri(object=label)}", "-out", out)
        return out

    def public_key_pem(self, label) -> bytes:
        return self.openssl("pkey", "-in", self.uri(object=label, type="private"), "-pubout").stdout


SHIM_MODULE = BUILD / "tests" / "hsmprov_test_shim.so"


class SoftHsmToken(Token):
    def __init__(self, tmp: Path, label="test token", module=SOFTHSM_MODULE, util="softhsm2-util"):
        (tmp / "tokens").mkdir()
        (tmp / "softhsm2.conf").write_text(f"directories.tokendir = {tmp}/tokens\nobjectstore.backend = file\n"
                                           "log.level = ERROR\n")
        super().__init__(tmp, label, "73" + secrets.token_hex(4), str(module))
        self.faults = tmp / "faults"  # read by the test shim (tests/shim)
        self.misuse = tmp / "misuse"  # written by the test shim
        self.env.update(HSMPROV_SHIM_TARGET=SOFTHSM_MODULE, HSMPROV_SHIM_FAULTS=str(self.faults),
                        HSMPROV_SHIM_MISUSE=str(self.misuse))
        self.so_pin = secrets.token_hex(4)
        self.util = util
        subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", self.pin,
                        "--so-pin", self.so_pin], check=True, capture_output=True, env=self.tool_env())

    def tool_env(self):
        """For SoftHSM's and OpenSC's own tools: they use OpenSSL too, and must
        not load our provider (and with it SoftHSM a second time)."""
        env = dict(self.env, OPENSSL_CONF="/dev/null")
        env.pop("LD_PRELOAD", None)
        return env

    def listing(self, kind, label) -> str:
        """pkcs11-tool's description of the object of this type and label."""
        out = self.p11tool("--list-objects", "--type", kind).stdout.decode()
        blocks = re.split(r"\n(?=\S)", out)
        matching = [b for b in blocks if re.search(rf"label:\s+{re.escape(label)}\n", b + "\n")]
        assert len(matching) == 1, out
        return matching[0]

    def p11tool(self, *args, check=True):
        """OpenSC's pkcs11-tool, for objects made outside the provider."""
        return run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", self.label, "--login", "--pin",
                    self.pin, *args], self.tool_env(), check=check)


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory):
    return SoftHsmToken(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture(scope="module")
def shimmed(tmp_path_factory):
    """A SoftHSM token reached through the fault-injecting test shim."""
    return SoftHsmToken(tmp_path_factory.mktemp("shim"), label="shim token", module=SHIM_MODULE)


@pytest.fixture(scope="module")
def luna(tmp_path_factory):
    """A SoftHSM token behind the test shim, which answers Luna's PKC
    attributes from test chains; `luna.roots` holds those chains' roots."""
    import pkc_vectors
    token = SoftHsmToken(tmp_path_factory.mktemp("luna"), label="luna token", module=SHIM_MODULE)
    chain_dir = token.tmp / "test-chain"
    chain_dir.mkdir()
    token.roots = pkc_vectors.make_test_luna(chain_dir)
    token.env["HSMPROV_SHIM_PKC_DIR"] = str(chain_dir)
    return token


@pytest.fixture(scope="module")
def nss(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nss")
    db = tmp / "db"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    args = f"configdir='sql:{db}' certPrefix='' keyPrefix='' secmod='secmod.db'"
    token = Token(tmp, "NSS Certificate DB", "", NSS_MODULE, init_args=args)
    return token


@pytest.fixture(autouse=True)
def no_stale_sessions(request):
    """Tests on the shim: no session from before a C_Initialize (a parent's,
    in a forked child) was closed or used to destroy an object."""
    yield
    for name in ("shimmed", "luna"):
        if name in request.fixturenames:
            token = request.getfixturevalue(name)
            assert not token.misuse.exists(), token.misuse.read_text()


@pytest.fixture(autouse=True)
def no_pin_in_any_output(request):
    OUTPUTS.clear()
    yield
    tokens = [request.getfixturevalue(name) for name in ("softhsm", "nss", "shimmed", "luna", "site")
              if name in request.fixturenames]
    for token in tokens:
        if not token.pin:
            continue
        pin = token.pin.encode()
        for output in OUTPUTS:
            assert pin not in output, "the PIN appeared in a command's output"
        if token.debug_log.exists():
            assert pin not in token.debug_log.read_bytes(), "the PIN appeared in the debug log"


def assert_documented(message: str, *shown_as):
    """The README or a guide quotes `message` as hsmprov prints it now, its
    run-specific parts replaced as the docs show them: pairs (as printed
    here, as shown there). Line breaks and runs of spaces count as one."""
    for actual, shown in shown_as:
        assert actual in message, f"{actual!r} is not in {message!r}"
        message = message.replace(actual, shown)
    docs = " ".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    assert " ".join(message.split()) in " ".join(docs.split()), f"no guide quotes: {message}"


def error_text(result) -> str:
    return result.stderr.decode(errors="replace")


def printed(result) -> str:
    """Both streams: OpenSSL 3.5 moved messages such as `req -verify`'s
    "verify OK" from stderr to stdout."""
    return (result.stdout + result.stderr).decode(errors="replace")


def common_name(subject_line: str) -> str:
    """The CN of `openssl x509 -subject` output, as OpenSSL 3.0 ("CN = x")
    and 3.5 ("CN=x") print it."""
    match = re.search(r"CN\s*=\s*([^,/\n]+)", subject_line)
    return match.group(1).strip() if match else ""


def signature_family(s_client_output: str) -> str:
    """"rsa-pss" or "ecdsa" from s_client's "Signature type:", which OpenSSL
    3.0 prints as RSA-PSS/ECDSA and 3.5 as rsa_pss_rsae_sha256/ecdsa_secp256r1_sha256."""
    match = re.search(r"Signature type: (\S+)", s_client_output)
    name = match.group(1).lower() if match else ""
    return "rsa-pss" if "pss" in name else "ecdsa" if name.startswith("ecdsa") else name


def der(tag, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def pkcs11_provider_key_file(uri: str) -> str:
    """A test double of the key file latchset/pkcs11-provider writes (no
    Debian 12 package has it): PEM "PKCS#11 PROVIDER URI" around DER
    SEQUENCE { VisibleString "PKCS#11 Provider URI v1.0", UTF8String uri },
    the layout its documentation and source give."""
    body = der(0x30, der(0x1a, b"PKCS#11 Provider URI v1.0") + der(0x0c, uri.encode()))
    text = base64.b64encode(body).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN PKCS#11 PROVIDER URI-----\n" + "\n".join(lines) + "\n-----END PKCS#11 PROVIDER URI-----\n"
