"""Key files as servers and clients get them: a bundle of certificates and a
key reference in any order (with text around the blocks, CRLF line ends),
and latchset/pkcs11-provider's key file, read as an alias of ours."""
import pytest

from conftest import assert_documented, pkcs11_provider_key_file, run


@pytest.fixture(scope="module")
def token(softhsm):
    softhsm.genpkey("files-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    cert = softhsm.tmp / "files-ec.crt"
    softhsm.openssl("req", "-new", "-x509", "-key", softhsm.uri(object="files-ec", type="private"), "-subj",
                    "/CN=files-ec", "-days", "2", "-out", cert)
    softhsm.files_cert = cert.read_text()
    softhsm.files_ref = (softhsm.tmp / "files-ec.ref.pem").read_text()
    return softhsm


def written(token, name, text, newline="\n"):
    path = token.tmp / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def public_key_of(token, path):
    return token.openssl("pkey", "-in", path, "-pubout").stdout


@pytest.mark.parametrize("layout", ["certificate first", "reference first", "text and CRLF"])
def test_bundle_gives_the_key_and_the_certificate(token, layout):
    cert, ref = token.files_cert, token.files_ref
    text = {"certificate first": cert + ref,
            "reference first": ref + cert,
            "text and CRLF": "subject=CN = files-ec\n" + cert + "Key reference:\n" + ref}[layout]
    bundle = written(token, f"bundle-{layout.replace(' ', '-')}.pem", text,
                     "\r\n" if layout == "text and CRLF" else "\n")
    assert public_key_of(token, bundle) == token.public_key_pem("files-ec")
    subject = token.openssl("x509", "-in", bundle, "-noout", "-subject").stdout.decode()
    assert "files-ec" in subject
    csr = token.tmp / "bundle.csr"
    token.openssl("req", "-new", "-key", bundle, "-subj", "/CN=from-bundle", "-out", csr)
    verified = run(["openssl", "req", "-in", csr, "-verify", "-noout"], token.env)
    assert b"verify OK" in verified.stdout + verified.stderr


def test_pkcs11_provider_key_file_names_the_same_key(token):
    path = written(token, "files-ec.p11prov.pem", pkcs11_provider_key_file(token.uri(object="files-ec",
                                                                                     type="private")))
    assert public_key_of(token, path) == token.public_key_pem("files-ec")


def test_damaged_reference_says_so(token):
    path = written(token, "damaged.pem", "-----BEGIN HSMPROV KEY REFERENCE-----\n!!!\n"
                                         "-----END HSMPROV KEY REFERENCE-----\n")
    result = token.openssl("pkey", "-in", path, "-pubout", check=False)
    assert result.returncode != 0
    assert "the HSMPROV KEY REFERENCE block is damaged" in result.stderr.decode()


def test_reference_to_a_malformed_uri_names_the_attribute(token):
    # OpenSSL's decoders (3.0 and 3.5) drop the errors of the key decoder,
    # which meets the URI; the first decoder of the chain raises them again.
    path = written(token, "bogus.pem", pkcs11_provider_key_file("pkcs11:token=test%20token;bogus=1"))
    result = token.openssl("pkey", "-in", path, "-pubout", check=False)
    assert result.returncode != 0
    cause = "the pkcs11: URI has the unknown attribute 'bogus'"
    assert cause in token.debug_log.read_text()
    assert cause in result.stderr.decode(), result.stderr.decode()
    assert_documented(cause)
