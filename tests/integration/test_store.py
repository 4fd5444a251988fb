"""Issue 2, point 2: the pkcs11: store lists and selects token objects."""
import re
import subprocess

import pytest

from conftest import error_text


@pytest.fixture(scope="module")
def objects(softhsm):
    """Two key pairs and a certificate, made with OpenSC's pkcs11-tool (not by us)."""
    softhsm.p11tool("--keypairgen", "--key-type", "rsa:2048", "--label", "store-rsa", "--id", "a1")
    softhsm.p11tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "store-ec", "--id", "a2")
    cert = softhsm.tmp / "store-cert.pem"
    softhsm.openssl("req", "-new", "-x509", "-key", softhsm.uri(object="store-ec", type="private"),
                    "-subj", "/CN=store test", "-days", "1", "-out", cert)
    der = softhsm.tmp / "store-cert.der"
    softhsm.openssl("x509", "-in", cert, "-outform", "DER", "-out", der)
    softhsm.p11tool("--write-object", der, "--type", "cert", "--label", "store-ec", "--id", "a2")
    return softhsm


def listing(token, uri, *options):
    out = token.openssl("storeutl", *options, uri).stdout.decode()
    return re.findall(r"^\d+: (Pkey|Public key|Certificate)$", out, re.M), out


def test_token_uri_lists_private_public_and_certificates(objects):
    kinds, out = listing(objects, objects.uri())
    assert kinds.count("Pkey") == 2
    assert kinds.count("Public key") == 2
    assert kinds.count("Certificate") == 1
    assert kinds.index("Certificate") > kinds.index("Public key") > kinds.index("Pkey")  # private keys first
    text = objects.openssl("storeutl", "-certs", "-noout", "-text", objects.uri()).stdout.decode()
    assert re.search(r"Subject: CN ?= ?store test", text)


@pytest.mark.parametrize("attributes, expected", [
    ({"object": "store-ec"}, ["Pkey", "Public key", "Certificate"]),
    ({"id": "%a1"}, ["Pkey", "Public key"]),
    ({"object": "store-rsa", "type": "private"}, ["Pkey"]),
    ({"object": "store-rsa", "type": "public"}, ["Public key"]),
    ({"type": "cert"}, ["Certificate"]),
])
def test_object_attributes_select(objects, attributes, expected):
    assert listing(objects, objects.uri(**attributes))[0] == expected


def test_token_info_attributes_select(objects):
    out = subprocess.run(["softhsm2-util", "--show-slots"], capture_output=True, text=True,
                         env=objects.tool_env()).stdout
    serial = re.search(r"Serial number:\s+([0-9a-f]{16})\s*\n[^\n]*\n[^\n]*\n\s*Label:\s+test token", out).group(1)
    for attribute in ("manufacturer=SoftHSM%20project", "model=SoftHSM%20v2", f"serial={serial}"):
        kinds, _ = listing(objects, f"pkcs11:{attribute};object=store-rsa;type=private")
        assert kinds == ["Pkey"], attribute
    kinds, _ = listing(objects, "pkcs11:slot-manufacturer=SoftHSM%20project;object=store-rsa;type=private")
    assert kinds == ["Pkey"]


def test_expect_filters_to_certificates_or_keys(objects):
    assert listing(objects, objects.uri(object="store-ec"), "-certs")[0] == ["Certificate"]
    assert listing(objects, objects.uri(object="store-ec"), "-keys")[0] == ["Pkey"]


def test_uri_matching_nothing_is_an_error(objects):
    result = objects.openssl("storeutl", objects.uri(object="no-such-key"), check=False)
    assert result.returncode != 0
    assert "no object on token 'test token' matches the pkcs11: URI" in error_text(result)


def test_no_such_token_is_an_error(objects):
    result = objects.openssl("storeutl", "pkcs11:token=absent", check=False)
    assert result.returncode != 0
    assert "no token matches the pkcs11: URI" in error_text(result)


def test_uri_naming_two_private_keys_is_an_error(objects):
    objects.p11tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "twin", "--id", "b1")
    objects.p11tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "twin", "--id", "b2")
    result = objects.openssl("req", "-new", "-key", objects.uri(object="twin", type="private"),
                             "-subj", "/CN=x", check=False)
    assert result.returncode != 0
    assert "names one key but matches 2 private keys" in error_text(result)
    assert listing(objects, objects.uri(object="twin", id="%b2", type="private"))[0] == ["Pkey"]


def test_malformed_uri_is_an_error(objects):
    result = objects.openssl("storeutl", "pkcs11:token=%zz", check=False)
    assert result.returncode != 0
    assert "malformed pkcs11: URI" in error_text(result)


def test_ec_private_key_whose_public_half_is_only_in_a_certificate(objects):
    objects.p11tool("--keypairgen", "--key-type", "EC:secp384r1", "--label", "cert-only", "--id", "d1")
    cert, der = objects.tmp / "cert-only.pem", objects.tmp / "cert-only.der"
    objects.openssl("req", "-new", "-x509", "-key", objects.uri(object="cert-only", type="private"),
                    "-subj", "/CN=cert only", "-out", cert)
    objects.openssl("x509", "-in", cert, "-outform", "DER", "-out", der)
    objects.p11tool("--write-object", der, "--type", "cert", "--label", "cert-only", "--id", "d1")
    objects.p11tool("--delete-object", "--type", "pubkey", "--id", "d1")
    key = objects.uri(object="cert-only", type="private")
    from_token = objects.openssl("pkey", "-in", key, "-pubout").stdout
    from_cert = objects.openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
    assert from_token == from_cert
    objects.p11tool("--delete-object", "--type", "cert", "--id", "d1")
    result = objects.openssl("pkey", "-in", key, "-pubout", check=False)
    assert result.returncode != 0
    assert "object 'cert-only': no public key object or certificate with the same CKA_ID" in error_text(result)
