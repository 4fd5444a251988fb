"""Issue 2, point 3: token keys in stock openssl commands (req, x509, cms,
pkeyutl, dgst, pkey, s_server), for every key type the token offers."""
import re
import socket
import subprocess

from cryptography.hazmat.primitives import serialization

import pytest

from conftest import BUILD, error_text, run, signature_family

KEYS = {  # label: genpkey options
    "rsa2048": ("RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
    "rsa3072": ("RSA", "-pkeyopt", "rsa_keygen_bits:3072"),
    "rsa4096": ("RSA", "-pkeyopt", "rsa_keygen_bits:4096"),
    "p256": ("EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
    "p384": ("EC", "-pkeyopt", "ec_paramgen_curve:P-384"),
    "p521": ("EC", "-pkeyopt", "ec_paramgen_curve:P-521"),
    "ed25519": ("ED25519",),
}
RSA = ["rsa2048", "rsa3072", "rsa4096"]
EC = ["p256", "p384", "p521"]


@pytest.fixture(scope="module")
def token(softhsm):
    for label, (algorithm, *options) in KEYS.items():
        softhsm.genpkey(label, algorithm, *options)
    return softhsm


def key(token, label):
    return token.uri(object=label, type="private")


def public_pem(token, label):
    path = token.tmp / f"{label}.pub.pem"
    if not path.exists():
        path.write_bytes(token.public_key_pem(label))
    return path


def self_signed(token, label):
    path = token.tmp / f"{label}.crt"
    if not path.exists():
        # A CA's extensions, which OpenSSL 3.5's req -x509 no longer adds by itself.
        token.openssl("req", "-new", "-x509", "-key", key(token, label), "-subj", f"/CN={label}", "-days", "2",
                      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,"
                      "digitalSignature", "-out", path)
    return path


def csr_verifies(token, label, *options):
    csr = token.tmp / f"{label}.csr"
    token.openssl("req", "-new", "-key", key(token, label), "-subj", f"/CN={label}", *options, "-out", csr)
    out = run(["openssl", "req", "-in", csr, "-verify", "-noout", "-text"], {"PATH": "/usr/bin:/bin"})
    assert b"verify OK" in out.stdout + out.stderr
    return out.stdout.decode()


@pytest.mark.parametrize("label", list(KEYS))
def test_req_makes_a_csr_that_verifies(token, label):
    text = csr_verifies(token, label)
    expected = {"RSA": "sha256WithRSAEncryption", "EC": "ecdsa-with-SHA256", "ED25519": "ED25519"}[KEYS[label][0]]
    assert f"Signature Algorithm: {expected}" in text


@pytest.mark.parametrize("label", RSA)
def test_req_with_rsa_pss(token, label):
    text = csr_verifies(token, label, "-sigopt", "rsa_padding_mode:pss")
    assert "Signature Algorithm: rsassaPss" in text


@pytest.mark.parametrize("digest", ["sha256", "sha384", "sha512"])
@pytest.mark.parametrize("label", EC)
def test_req_with_ecdsa_digests(token, label, digest):
    text = csr_verifies(token, label, f"-{digest}")
    assert f"ecdsa-with-{digest.upper()}" in text


@pytest.mark.parametrize("label", ["rsa2048", "p384"])
def test_ca_key_on_token_signs_certificates(token, label):
    ca = self_signed(token, label)
    leaf_key, leaf_csr, leaf = (token.tmp / f"leaf-{label}.{ext}" for ext in ("key", "csr", "crt"))
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         leaf_key, "-subj", "/CN=leaf", "-out", leaf_csr], {"PATH": "/usr/bin:/bin"})
    token.openssl("x509", "-req", "-in", leaf_csr, "-CA", ca, "-CAkey", key(token, label), "-CAcreateserial",
                  "-days", "1", "-out", leaf)
    out = run(["openssl", "verify", "-CAfile", ca, leaf], {"PATH": "/usr/bin:/bin"})
    assert out.stdout.decode().strip().endswith(": OK")


@pytest.mark.parametrize("label", ["rsa3072", "p256"])
def test_cms_sign_verifies(token, label):
    cert = self_signed(token, label)
    message, signed = token.tmp / "message.txt", token.tmp / f"signed-{label}.p7m"
    message.write_text("release 1.2.3 checksums\n")
    token.openssl("cms", "-sign", "-binary", "-in", message, "-signer", cert, "-inkey", key(token, label),
                  "-out", signed)
    out = run(["openssl", "cms", "-verify", "-binary", "-in", signed, "-CAfile", cert], {"PATH": "/usr/bin:/bin"})
    assert out.stdout == message.read_bytes()


@pytest.mark.parametrize("options", [(), ("-keyopt", "rsa_padding_mode:oaep")], ids=["pkcs1", "oaep-sha1"])
def test_cms_decrypt(token, options):
    cert = self_signed(token, "rsa2048")
    message, sealed = token.tmp / "secret.txt", token.tmp / "sealed.p7m"
    message.write_text("for the token's eyes only\n")
    run(["openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", message, "-recip", cert, *options, "-out", sealed],
        {"PATH": "/usr/bin:/bin"})
    out = token.openssl("cms", "-decrypt", "-binary", "-in", sealed, "-recip", cert, "-inkey", key(token, "rsa2048"))
    assert out.stdout == message.read_bytes()


@pytest.mark.parametrize("label", ["rsa2048", "p521"])
def test_pkeyutl_sign_and_verify(token, label):
    digest, sig = token.tmp / "digest.bin", token.tmp / f"pkeyutl-{label}.sig"
    digest.write_bytes(bytes(range(32)))
    token.openssl("pkeyutl", "-sign", "-inkey", key(token, label), "-pkeyopt", "digest:sha256", "-in", digest,
                  "-out", sig)
    out = token.openssl("pkeyutl", "-verify", "-inkey", key(token, label), "-pkeyopt", "digest:sha256",
                        "-in", digest, "-sigfile", sig)
    assert b"Signature Verified Successfully" in out.stdout
    out = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", public_pem(token, label), "-pkeyopt",
               "digest:sha256", "-in", digest, "-sigfile", sig], {"PATH": "/usr/bin:/bin"})
    assert b"Signature Verified Successfully" in out.stdout
    digest.write_bytes(bytes(range(1, 33)))
    wrong = token.openssl("pkeyutl", "-verify", "-inkey", key(token, label), "-pkeyopt", "digest:sha256",
                          "-in", digest, "-sigfile", sig, check=False)
    assert wrong.returncode != 0 and b"Signature Verification Failure" in wrong.stdout


@pytest.mark.parametrize("options", [(), ("-pkeyopt", "rsa_padding_mode:oaep")], ids=["pkcs1", "oaep-sha1"])
def test_pkeyutl_decrypt(token, options):
    plain, sealed = token.tmp / "plain.bin", token.tmp / "sealed.bin"
    plain.write_bytes(b"a 32-byte session key, not real")
    run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", public_pem(token, "rsa4096"), *options, "-in", plain,
         "-out", sealed], {"PATH": "/usr/bin:/bin"})
    out = token.openssl("pkeyutl", "-decrypt", "-inkey", key(token, "rsa4096"), *options, "-in", sealed)
    assert out.stdout == plain.read_bytes()


@pytest.mark.parametrize("label", ["rsa3072", "p384", "ed25519"])
def test_dgst_sign(token, label):
    data, sig = token.tmp / "data.txt", token.tmp / f"dgst-{label}.sig"
    data.write_text("firmware image\n")
    digest = [] if label == "ed25519" else ["-sha384"]
    if label == "ed25519":
        token.openssl("pkeyutl", "-sign", "-rawin", "-inkey", key(token, label), "-in", data, "-out", sig)
        out = run(["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", public_pem(token, label), "-in",
                   data, "-sigfile", sig], {"PATH": "/usr/bin:/bin"})
        assert b"Signature Verified Successfully" in out.stdout
        return
    token.openssl("dgst", *digest, "-sign", key(token, label), "-out", sig, data)
    out = run(["openssl", "dgst", *digest, "-verify", public_pem(token, label), "-signature", sig, data],
              {"PATH": "/usr/bin:/bin"})
    assert b"Verified OK" in out.stdout


def tokens_own_public_key(token, label):
    """The public key as OpenSC's pkcs11-tool reads it from the token: its
    SubjectPublicKeyInfo, or for EC keys it cannot convert, CKA_EC_POINT."""
    exported = token.p11tool("--read-object", "--type", "pubkey", "--label", label, check=False)
    if exported.returncode == 0:
        data = exported.stdout
        load = serialization.load_pem_public_key if data.startswith(b"-----") else serialization.load_der_public_key
        return "spki", load(data).public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    block = token.listing("pubkey", label)
    octet_string = bytes.fromhex(re.search(r"EC_POINT:\s+([0-9a-f]+)", block).group(1))
    header = 2 + (octet_string[1] & 0x7f if octet_string[1] & 0x80 else 0)
    return "point", octet_string[header:]


@pytest.mark.parametrize("label", list(KEYS))
def test_pkey_pubout_is_the_tokens_public_key(token, label):
    ours = serialization.load_der_public_key(
        token.openssl("pkey", "-in", key(token, label), "-pubout", "-outform", "DER").stdout)
    kind, theirs = tokens_own_public_key(token, label)
    if kind == "point":
        assert ours.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint) == theirs
    else:
        assert ours.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == theirs


def test_private_key_material_is_refused_clearly(token):
    result = token.openssl("pkey", "-in", key(token, "p256"), "-outform", "DER", check=False)
    assert result.returncode != 0
    assert "token 'test token', object 'p256': the private key cannot leave the token" in error_text(result)
    assert result.stdout == b""
    # OpenSSL's legacy path drops our message, but refuses all the same.
    result = token.openssl("pkey", "-in", key(token, "p256"), "-traditional", check=False)
    assert result.returncode != 0 and b"PRIVATE KEY" not in result.stdout
    text = token.openssl("pkey", "-in", key(token, "p256"), "-text", "-noout").stdout.decode()
    assert "Private key: in token 'test token', object 'p256' (never leaves the token)" in text
    assert "priv:" not in text


def test_pem_output_is_a_reference_that_loads_back(token):
    reference = token.openssl("pkey", "-in", key(token, "rsa2048")).stdout
    assert reference.startswith(b"-----BEGIN HSMPROV KEY REFERENCE-----")
    path = token.tmp / "reference.pem"
    path.write_bytes(reference)
    assert token.openssl("pkey", "-in", path, "-pubout").stdout == public_pem(token, "rsa2048").read_bytes()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("label, signature", [("rsa2048", "rsa-pss"), ("p256", "ecdsa")])
def test_s_server_tls13_handshake(token, label, signature):
    cert, port = self_signed(token, label), free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", key(token, label),
                               "-cert", cert, "-tls1_3", "-naccept", "1", "-www"], env=token.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while server.stdout.readline().strip() != b"ACCEPT":  # listening from now on
            assert server.poll() is None, server.stderr.read().decode()
        client = run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-CAfile", cert,
                      "-verify_return_error", "-brief"], {"PATH": "/usr/bin:/bin"}, input=b"GET / HTTP/1.0\r\n\r\n")
    finally:
        out, err = server.communicate(timeout=30)
    text = client.stdout.decode() + client.stderr.decode()
    assert "Protocol version: TLSv1.3" in text
    assert signature_family(text) == signature
    assert "Verification: OK" in text


@pytest.mark.parametrize("where", ["token", "software"])
def test_tls_premaster_decryption_rejects_implicitly(token, where):
    # TLS 1.2 RSA key exchange: the token key answers exactly as OpenSSL's own
    # software key does (a good premaster back; for a wrong version, padding
    # or length 48 random bytes, success and no error; no client version is
    # an error).
    helper = BUILD / "tests" / "hsmprov_tls_premaster"
    target = key(token, "rsa2048")
    if where == "software":
        target = token.tmp / "software-rsa.pem"
        run(["openssl", "genpkey", "-algorithm", "RSA", "-out", target], token.env)
    out = token.program(helper, target).stdout.decode()
    for case in ["good premaster", "wrong version", "negotiated version accepted", "bad padding",
                 "bad padding, fresh random each time", "wrong length", "no client version is an error"]:
        assert f"{case}: ok" in out, out


def test_software_key_handed_to_hsmprov_signs(token):
    # OpenSSL may hand a key a program made itself to the first key
    # management of its type that it has met, which can be hsmprov's: the
    # key is kept as it came and signs as OpenSSL's own would.
    out = token.program(BUILD / "tests" / "hsmprov_software_key", "EC").stdout.decode()
    assert "hsmprov signs: yes" in out, out
