"""Issue 2, point 4: key generation on the token with openssl genpkey."""
import re

import pytest

from conftest import error_text, printed, run


def attributes(token, label, kind="privkey"):
    return token.listing(kind, label)


@pytest.mark.parametrize("algorithm, options", [
    ("RSA", ["-pkeyopt", "rsa_keygen_bits:2048"]),
    ("EC", ["-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("EC", ["-pkeyopt", "ec_paramgen_curve:secp384r1"]),
    ("ED25519", []),
], ids=["rsa", "p256", "p384", "ed25519"])
def test_generated_key_is_sensitive_never_extractable_and_reference_loads_back(softhsm, algorithm, options):
    label = f"gen-{algorithm.lower()}-{len(options) and options[-1].split(':')[-1]}"
    reference = softhsm.genpkey(label, algorithm, *options)
    text = reference.read_text()
    assert text.startswith("-----BEGIN HSMPROV KEY REFERENCE-----")
    assert "PRIVATE KEY" not in text
    private = attributes(softhsm, label)
    assert "sensitive, always sensitive, never extractable, local" in private
    assert "sign" in re.search(r"Usage:\s+(.*)", private).group(1)
    assert "Public Key Object" in attributes(softhsm, label, "pubkey")
    from_reference = softhsm.openssl("pkey", "-in", reference, "-pubout").stdout
    assert from_reference == softhsm.public_key_pem(label)
    # The reference signs: a CSR made with it verifies.
    csr = softhsm.tmp / f"{label}.csr"
    softhsm.openssl("req", "-new", "-key", reference, "-subj", "/CN=from reference", "-out", csr)
    assert "verify OK" in printed(run(["openssl", "req", "-in", csr, "-verify", "-noout"], {"PATH": "/usr/bin:/bin"}))


def test_genpkey_with_hsmprov_loaded_first(softhsm, tmp_path):
    """-provider hsmprov, with hsmprov ahead of default: genpkey picks hsmprov
    without -propquery. (SoftHSM runs on OpenSSL inside the same process, so
    the default provider must be there too; a hardware module does not care.)"""
    config = softhsm.write_config(tmp_path / "only.cnf")
    config.write_text(config.read_text().replace("default = default_sect\n", ""))
    env = dict(softhsm.env, OPENSSL_CONF=str(config))
    out = tmp_path / "only.pem"
    run(["openssl", "genpkey", "-provider", "hsmprov", "-provider", "default", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256",
         "-pkeyopt", f"pkcs11_uri:{softhsm.uri(object='only-hsmprov')}", "-out", out], env)
    assert out.read_text().startswith("-----BEGIN HSMPROV KEY REFERENCE-----")
    assert "never extractable" in attributes(softhsm, "only-hsmprov")


def test_name_in_use_is_refused_and_nothing_overwritten(softhsm):
    softhsm.genpkey("taken", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    before = softhsm.public_key_pem("taken")
    objects_before = softhsm.p11tool("--list-objects").stdout.count(b"label:")
    result = softhsm.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", "RSA", "-pkeyopt",
                             f"pkcs11_uri:{softhsm.uri(object='taken')}", check=False)
    assert result.returncode != 0
    assert "an object with the label 'taken' already exists; nothing was generated or overwritten" in error_text(result)
    assert softhsm.public_key_pem("taken") == before
    assert softhsm.p11tool("--list-objects").stdout.count(b"label:") == objects_before


def test_id_in_use_is_refused(softhsm):
    softhsm.genpkey("with-id", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    listing = attributes(softhsm, "with-id")
    key_id = re.search(r"ID:\s+([0-9a-f]+)", listing).group(1)
    uri = softhsm.uri(object="other-name", id="".join(f"%{key_id[i:i + 2]}" for i in range(0, len(key_id), 2)))
    result = softhsm.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", "EC", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-pkeyopt", f"pkcs11_uri:{uri}", check=False)
    assert result.returncode != 0
    assert "an object with the id given already exists" in error_text(result)


def test_generation_needs_a_uri_with_a_label(softhsm):
    result = softhsm.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", "EC", "-pkeyopt",
                             "ec_paramgen_curve:P-256", check=False)
    assert result.returncode != 0
    assert "key generation needs -pkeyopt pkcs11_uri" in error_text(result)
    result = softhsm.openssl("genpkey", "-propquery", "provider=hsmprov", "-algorithm", "EC", "-pkeyopt",
                             "ec_paramgen_curve:P-256", "-pkeyopt", f"pkcs11_uri:{softhsm.uri()}", check=False)
    assert result.returncode != 0
    assert "must name the new key with object=" in error_text(result)
