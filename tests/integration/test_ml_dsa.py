"""Post-quantum keys in the token: ML-DSA (FIPS 204, PKCS#11 3.2) through
stock OpenSSL 3.5 commands. The token is SoftHSM's main branch built with
ML-DSA (HSMPROV_MLDSA_SOFTHSM names its install prefix; tests/run.sh
--debian13 builds it from the vendored source when that is present), or a
token of your own: HSMPROV_MLDSA_MODULE, HSMPROV_MLDSA_TOKEN and
HSMPROV_MLDSA_PIN_FILE name a PKCS#11 3.2 module with ML-DSA, the label of
an initialised token and a file holding its PIN (the tests add keys named
hsmprov-test-*; they remove none). Without either they skip, saying so. On
OpenSSL before 3.5 the error must name the version. Every output is checked
by stock openssl, which does not load hsmprov."""
import os
import re
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, SoftHsmToken, Token, error_text, printed, run

CLEAN = {"PATH": "/usr/bin:/bin", "OPENSSL_CONF": "/dev/null"}
KEY_IS = BUILD / "tests" / "hsmprov_key_is"


def openssl_version():
    out = subprocess.run(["openssl", "version"], capture_output=True, text=True, env=CLEAN).stdout
    major, minor = re.search(r"OpenSSL (\d+)\.(\d+)", out).groups()
    return int(major), int(minor)


HAS_ML_DSA = openssl_version() >= (3, 5)


class OwnToken(Token):
    """A user's initialised token (HSMPROV_MLDSA_*), reached with its PIN from a file."""

    def __init__(self, tmp: Path):
        pin = Path(os.environ["HSMPROV_MLDSA_PIN_FILE"]).read_text().strip()
        super().__init__(tmp, os.environ["HSMPROV_MLDSA_TOKEN"], pin, os.environ["HSMPROV_MLDSA_MODULE"])
        self.util = None


@pytest.fixture(scope="module")
def pq(tmp_path_factory):
    if not HAS_ML_DSA:
        pytest.skip("ML-DSA needs OpenSSL 3.5 or later (test_ml_dsa_needs_openssl_3_5 checks the error here)")
    tmp = tmp_path_factory.mktemp("ml-dsa")
    if os.environ.get("HSMPROV_MLDSA_MODULE"):
        return OwnToken(tmp)
    prefix = os.environ.get("HSMPROV_MLDSA_SOFTHSM", "")
    module = Path(prefix) / "lib" / "softhsm" / "libsofthsm2.so"
    if not prefix or not module.exists():
        pytest.skip("no PKCS#11 3.2 token with ML-DSA: tests/run.sh --debian13 builds SoftHSM's main branch when "
                    "its source is beside the checkout; or name a module of your own with HSMPROV_MLDSA_MODULE, "
                    "HSMPROV_MLDSA_TOKEN and HSMPROV_MLDSA_PIN_FILE")
    return SoftHsmToken(tmp, label="pq token", module=module, util=str(Path(prefix) / "bin" / "softhsm2-util"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def label(name):
    return f"hsmprov-test-{name}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def key(pq):
    """An ML-DSA-65 key made by hsmprov, its key file and its public key (SPKI, PEM)."""
    name = label("65")
    ref = pq.genpkey(name, "ML-DSA-65")
    public = pq.tmp / f"{name}.pub"
    pq.openssl("pkey", "-in", ref, "-pubout", "-out", public)
    return ref, public, name


def stock(*args, input=None, check=True):
    return run(["openssl", *args], CLEAN, input=input, check=check)


@pytest.mark.skipif(HAS_ML_DSA, reason="OpenSSL 3.5 has ML-DSA: the other tests of this file run instead")
def test_ml_dsa_needs_openssl_3_5(softhsm):
    result = softhsm.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", "ML-DSA-65", "-pkeyopt",
                             f"pkcs11_uri:{softhsm.uri(object='pq')}", "-out", softhsm.tmp / "pq.ref", check=False)
    assert result.returncode != 0
    version = re.search(r"OpenSSL \d+\.\d+\.\d+", stock("version").stdout.decode()).group(0)
    assert "ML-DSA-65 keys need OpenSSL 3.5 or later; this is " + version in error_text(result)


@pytest.mark.parametrize("parameter_set, public_bytes", [("ML-DSA-44", 1312), ("ML-DSA-65", 1952), ("ML-DSA-87", 2592)])
def test_generation_in_the_token_of_each_parameter_set(pq, parameter_set, public_bytes):
    name = label(parameter_set.lower())
    ref = pq.genpkey(name, parameter_set)
    assert b"HSMPROV KEY REFERENCE" in ref.read_bytes()
    public = pq.openssl("pkey", "-in", ref, "-pubout").stdout
    text = stock("pkey", "-pubin", "-noout", "-text", input=public).stdout.decode()
    assert text.startswith(f"{parameter_set} Public-Key:"), text
    assert len(stock("pkey", "-pubin", "-outform", "DER", input=public).stdout) > public_bytes
    again = pq.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", parameter_set, "-pkeyopt",
                       f"pkcs11_uri:{pq.uri(object=name)}", "-out", pq.tmp / "again.pem", check=False)
    assert again.returncode != 0 and "already exists; nothing was generated or overwritten" in error_text(again)


def test_token_key_is_an_openssl_ml_dsa_key_whose_private_part_stays(pq, key):
    ref, _, _ = key
    out = pq.program(KEY_IS, ref, "ML-DSA-65", "ML-DSA-44", "ED25519").stdout.decode()
    assert "ML-DSA-65 yes" in out and "ML-DSA-44 no" in out and "ED25519 no" in out
    assert "provider hsmprov" in out
    refused = pq.openssl("pkey", "-in", ref, "-outform", "DER", "-out", pq.tmp / "private.der", check=False)
    assert refused.returncode != 0
    assert "the private key cannot leave the token" in error_text(refused)


def test_key_imported_by_softhsm2_util_signs(pq):
    if pq.util is None:
        pytest.skip("importing a key needs SoftHSM's softhsm2-util")
    software = pq.tmp / "imported.key"
    stock("genpkey", "-algorithm", "ML-DSA-87", "-out", software)
    name = label("imported")
    run([pq.util, "--import", software, "--token", pq.label, "--label", name, "--id", "a1b2", "--pin", pq.pin],
        pq.tool_env())
    message = pq.tmp / "imported.msg"
    message.write_bytes(b"signed by a key softhsm2-util put into the token")
    signature = pq.tmp / "imported.sig"
    pq.openssl("pkeyutl", "-sign", "-inkey", pq.uri(object=name, type="private"), "-in", message, "-out", signature)
    stock("pkeyutl", "-verify", "-inkey", software, "-in", message, "-sigfile", signature)


def test_csr_and_self_signed_certificate(pq, key):
    ref, public, _ = key
    csr, cert = pq.tmp / "pq.csr", pq.tmp / "pq.crt"
    pq.openssl("req", "-new", "-key", ref, "-subj", "/CN=ml-dsa csr", "-out", csr)
    assert "verify OK" in printed(stock("req", "-verify", "-in", csr, "-noout"))
    assert stock("req", "-in", csr, "-pubkey", "-noout").stdout == public.read_bytes()
    pq.openssl("req", "-new", "-x509", "-key", ref, "-subj", "/CN=ml-dsa self", "-days", "2", "-out", cert)
    assert b"OK" in stock("verify", "-CAfile", cert, cert).stdout
    assert "ML-DSA-65" in stock("x509", "-in", cert, "-noout", "-text").stdout.decode()


def ca_certificate(token, ref, name, key_usage="keyCertSign,cRLSign"):
    # OpenSSL 3.5's req -x509 adds no basicConstraints: a CA needs them said.
    cert = token.tmp / f"{name}.ca.crt"
    token.openssl("req", "-new", "-x509", "-key", ref, "-subj", f"/CN={name} CA", "-days", "2", "-addext",
                  "basicConstraints=critical,CA:TRUE", "-addext", f"keyUsage=critical,{key_usage}", "-out", cert)
    return cert


def issue(token, ca_cert, ca_ref, csr, name):
    leaf = token.tmp / f"{name}.crt"
    token.openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_ref, "-days", "2", "-out", leaf)
    return leaf


@pytest.mark.parametrize("leaf_algorithm", ["EC", "RSA"])
def test_ml_dsa_ca_in_the_token_issues_a_classic_leaf(pq, key, leaf_algorithm):
    ref, _, name = key
    ca = ca_certificate(pq, ref, name)
    leaf_key, csr = pq.tmp / f"leaf-{leaf_algorithm}.key", pq.tmp / f"leaf-{leaf_algorithm}.csr"
    options = ["-pkeyopt", "ec_paramgen_curve:P-256"] if leaf_algorithm == "EC" else ["-pkeyopt",
                                                                                       "rsa_keygen_bits:2048"]
    stock("genpkey", "-algorithm", leaf_algorithm, *options, "-out", leaf_key)
    stock("req", "-new", "-key", leaf_key, "-subj", f"/CN={leaf_algorithm} leaf", "-out", csr)
    leaf = issue(pq, ca, ref, csr, f"classic-{leaf_algorithm}")
    assert b": OK" in stock("verify", "-CAfile", ca, leaf).stdout


def test_ec_ca_in_the_token_issues_an_ml_dsa_leaf(pq, key):
    ref, _, _ = key
    ca_name = label("ec-ca")
    ca_ref = pq.genpkey(ca_name, "EC", "-pkeyopt", "ec_paramgen_curve:P-384")
    ca = ca_certificate(pq, ca_ref, ca_name)
    csr = pq.tmp / "ml-dsa-leaf.csr"
    pq.openssl("req", "-new", "-key", ref, "-subj", "/CN=ml-dsa leaf", "-out", csr)
    leaf = issue(pq, ca, ca_ref, csr, "ml-dsa-leaf")
    assert b": OK" in stock("verify", "-CAfile", ca, leaf).stdout
    assert "ML-DSA-65" in stock("x509", "-in", leaf, "-noout", "-text").stdout.decode()


def test_cms_signed_data(pq, key):
    ref, _, name = key
    ca = ca_certificate(pq, ref, name + "-cms", "keyCertSign,digitalSignature")
    message, signed = pq.tmp / "cms.txt", pq.tmp / "cms.pem"
    message.write_bytes(b"a CMS message signed with ML-DSA in the token\n")
    # OpenSSL 3.5 has no default digest for ML-DSA's signed attributes: -md
    # is needed for any ML-DSA key, software keys too (RFC 9882 says SHA-512).
    pq.openssl("cms", "-sign", "-binary", "-md", "sha512", "-in", message, "-signer", ca, "-inkey", ref,
               "-nodetach", "-outform", "PEM", "-out", signed)
    out = stock("cms", "-verify", "-binary", "-in", signed, "-inform", "PEM", "-CAfile", ca)
    assert out.stdout == message.read_bytes()


@pytest.mark.parametrize("command", ["pkeyutl", "dgst"])
def test_raw_signatures(pq, key, command):
    ref, public, _ = key
    message, signature = pq.tmp / f"{command}.msg", pq.tmp / f"{command}.sig"
    message.write_bytes(b"signed by " + command.encode())
    if command == "pkeyutl":
        pq.openssl("pkeyutl", "-sign", "-inkey", ref, "-in", message, "-out", signature)
        out = stock("pkeyutl", "-verify", "-pubin", "-inkey", public, "-in", message, "-sigfile", signature)
    else:
        pq.openssl("dgst", "-sign", ref, "-out", signature, message)
        out = stock("dgst", "-verify", public, "-signature", signature, message)
    assert b"Verified" in out.stdout
    assert len(signature.read_bytes()) == 3309


def sign(pq, ref, message, *options, check=True):
    signature = pq.tmp / f"sig-{secrets.token_hex(3)}"
    result = pq.openssl("pkeyutl", "-sign", "-inkey", ref, "-in", message, "-out", signature, *options, check=check)
    return signature.read_bytes() if result.returncode == 0 else result


def verifies(public, message, signature, *options):
    sig = public.parent / f"verify-{secrets.token_hex(3)}"
    sig.write_bytes(signature)
    result = stock("pkeyutl", "-verify", "-pubin", "-inkey", public, "-in", message, "-sigfile", sig, *options,
                   check=False)
    return result.returncode == 0


def test_context_string_reaches_the_token(pq, key):
    ref, public, _ = key
    message = pq.tmp / "context.msg"
    message.write_bytes(b"signed under a context")
    with_context = sign(pq, ref, message, "-pkeyopt", "context-string:hsmprov test")
    assert verifies(public, message, with_context, "-pkeyopt", "context-string:hsmprov test")
    assert not verifies(public, message, with_context)
    assert not verifies(public, message, with_context, "-pkeyopt", "context-string:other")
    plain = sign(pq, ref, message)
    assert verifies(public, message, plain) and not verifies(public, message, plain, "-pkeyopt",
                                                              "context-string:hsmprov test")


def test_deterministic_and_hedged_signatures(pq, key):
    ref, public, _ = key
    message = pq.tmp / "hedging.msg"
    message.write_bytes(b"the same message twice")
    first, second = (sign(pq, ref, message, "-pkeyopt", "deterministic:1") for _ in range(2))
    assert first == second and verifies(public, message, first)
    hedged = [sign(pq, ref, message) for _ in range(2)]
    assert hedged[0] != hedged[1] and all(verifies(public, message, s) for s in hedged)


@pytest.mark.parametrize("option, named", [("message-encoding:0", "message-encoding:0"), ("mu:1", "mu:1"),
                                           ("hextest-entropy:00112233", "test-entropy"),
                                           ("hexcontext-string:" + "00" * 256, "context-string")])
def test_parameters_the_token_cannot_take_are_refused_by_name(pq, key, option, named):
    ref, _, _ = key
    message = pq.tmp / "refused.msg"
    message.write_bytes(b"not signed")
    result = sign(pq, ref, message, "-pkeyopt", option, check=False)
    assert not isinstance(result, bytes) and result.returncode != 0
    assert named in error_text(result), error_text(result)


def test_tls_1_3_server_with_an_ml_dsa_token_key(pq, key):
    ref, _, name = key
    cert = ca_certificate(pq, ref, name + "-tls", "keyCertSign,digitalSignature")
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", ref, "-cert", cert,
                               "-tls1_3", "-www", "-naccept", "1"], env=pq.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        out = b""
        for _ in range(100):  # until it listens: bounded
            result = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", cert, "-brief"],
                         CLEAN, input=b"GET / HTTP/1.0\r\n\r\n", check=False)
            out = result.stdout + result.stderr
            if b"CONNECTION ESTABLISHED" in out or server.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        text = out.decode(errors="replace")
        assert "CONNECTION ESTABLISHED" in text and "Signature type: mldsa65" in text, text
        assert "Verification: OK" in text
    finally:
        server.kill()
        server.wait(10)


@pytest.mark.skipif(not HAS_ML_DSA, reason="ML-DSA needs OpenSSL 3.5 or later")
def test_software_ml_dsa_key_handed_to_hsmprov_signs_both_ways(softhsm):
    # OpenSSL may hand a key a program made itself to the first ML-DSA key
    # management it has met, which can be hsmprov's (SoftHSM's C_Sign
    # rebuilds its key through OpenSSL so, in the program that loaded
    # hsmprov): the key is kept as it came, signs through hsmprov, and goes
    # out again to the default provider's ML-DSA that SoftHSM names.
    out = softhsm.program(BUILD / "tests" / "hsmprov_software_key", "ML-DSA-65").stdout.decode()
    assert "hsmprov signs: yes" in out and "default signs: yes" in out, out
