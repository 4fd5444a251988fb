"""Issue 2 on the second token, NSS softokn: it does what SoftHSM 2.6
cannot, such as RSA-OAEP with SHA-256."""
import pytest

from conftest import printed, run


@pytest.fixture(scope="module")
def token(nss):
    nss.genpkey("nss-rsa", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    nss.genpkey("nss-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    return nss


def test_store_lists_nss_keys(token):
    out = token.openssl("storeutl", token.uri(type="private")).stdout.decode()
    assert out.count("Pkey") == 2


@pytest.mark.parametrize("label", ["nss-rsa", "nss-ec"])
def test_csr_signed_on_nss(token, label):
    csr = token.tmp / f"{label}.csr"
    token.openssl("req", "-new", "-key", token.uri(object=label, type="private"), "-subj", "/CN=nss", "-out", csr)
    assert "verify OK" in printed(run(["openssl", "req", "-in", csr, "-verify", "-noout"], {"PATH": "/usr/bin:/bin"}))


def test_cms_decrypt_rsa_oaep_sha256(token):
    key = token.uri(object="nss-rsa", type="private")
    cert, message, sealed = token.tmp / "nss.crt", token.tmp / "m.txt", token.tmp / "m.p7m"
    token.openssl("req", "-new", "-x509", "-key", key, "-subj", "/CN=nss recipient", "-out", cert)
    message.write_text("sealed with OAEP SHA-256\n")
    run(["openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", message, "-recip", cert, "-keyopt",
         "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256", "-out", sealed],
        {"PATH": "/usr/bin:/bin"})
    out = token.openssl("cms", "-decrypt", "-binary", "-in", sealed, "-recip", cert, "-inkey", key)
    assert out.stdout == message.read_bytes()


def test_generated_nss_key_is_not_extractable(token):
    out = token.openssl("pkey", "-in", token.uri(object="nss-ec", type="private"), "-outform", "DER", check=False)
    assert out.returncode != 0
    assert b"the private key cannot leave the token" in out.stderr
