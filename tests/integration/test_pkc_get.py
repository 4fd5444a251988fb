"""Fetching a key's PKC from a (test-double) Luna with hsmprov-pkc get, and
the example scripts around it."""
import json
import subprocess

import pytest

from conftest import BUILD, ROOT, error_text, run

CLI = BUILD / "src" / "hsmprov-pkc"


@pytest.fixture(scope="module")
def token(luna):
    luna.genpkey("attested-rsa", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    luna.genpkey("attested-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    return luna


def get(token, label, *options, check=True):
    out = token.tmp / f"{label}{''.join(options)}.p7b"
    result = token.program(CLI, "get", "--key", token.uri(object=label, type="private"), *options, "-o", out,
                           check=check)
    return result, out


@pytest.mark.parametrize("label, options, profile", [
    ("attested-rsa", (), "rsa"), ("attested-rsa", ("--format", "cits"), "rsa"), ("attested-ec", (), "ecc"),
    ("attested-ec", ("--format", "ecc"), "ecc")])
def test_get_writes_a_pkc_that_verifies_with_the_keys_csr(token, label, options, profile):
    _, pkc = get(token, label, *options)
    csr = token.tmp / f"{label}.csr"
    token.openssl("req", "-new", "-key", token.uri(object=label, type="private"), "-subj", "/CN=attested",
                  "-out", csr)
    result = token.program(CLI, "verify", "--json", "--roots", token.roots, "--csr", csr, pkc)
    report = json.loads(result.stdout)[0]
    assert report["valid"] is True and report["profile"] == profile
    assert report["hsm_serial"] == "123456"
    assert len(report["ouid"]) == 24
    refused = token.program(CLI, "verify", pkc, check=False)  # not under the real Thales roots
    assert refused.returncode == 1


def test_pkc_file_is_the_attribute_byte_for_byte(token):
    _, written = get(token, "attested-ec")
    stored = list((token.tmp / "test-chain").glob(f"built-*-{0x80000007}.der"))  # CKA_PKC_ECC, kept by the shim
    assert len(stored) == 1
    assert written.read_bytes() == stored[0].read_bytes()


@pytest.mark.parametrize("how", ["imported", "extractable"])
def test_keys_not_generated_never_extractable_have_no_pkc(token, how):
    label = f"{how}-key"
    if how == "imported":
        key = token.tmp / "imported.pem"
        run(["openssl", "genpkey", "-algorithm", "RSA", "-out", key], {"PATH": "/usr/bin:/bin"})
        token.p11tool("--write-object", key, "--type", "privkey", "--label", label, "--id", "e1")
    else:
        token.p11tool("--keypairgen", "--key-type", "rsa:2048", "--label", label, "--id", "e2", "--extractable")
    result, out = get(token, label, check=False)
    assert result.returncode == 1
    assert "has no PKC in format cits" in error_text(result)
    assert not out.exists()


def test_wrong_format_for_the_key_type(token):
    result, _ = get(token, "attested-ec", "--format", "cits", check=False)
    assert result.returncode == 1


def test_get_writes_only_formats_verify_reads(token):
    # A Luna keeps a TC-Trust form too; verify has no rules for it, so get says what to use instead.
    result, out = get(token, "attested-rsa", "--format", "tctrust", check=False)
    assert result.returncode == 2 and not out.exists()
    assert "--format cits gives the same key's attestation" in error_text(result)


def test_get_usage_errors(token):
    assert token.program(CLI, "get", "--key", token.uri(object="x"), check=False).returncode == 2
    assert token.program(CLI, "get", "--key", token.uri(object="attested-rsa", type="private"), "--format", "x",
                         "-o", "/dev/null", check=False).returncode == 2
    missing = token.program(CLI, "get", "--key", token.uri(object="absent", type="private"), "-o", "/dev/null",
                            check=False)
    assert missing.returncode == 2 and "no object on token 'luna token'" in error_text(missing)


def test_example_csr_with_pkc(token, tmp_path):
    result = token.program(ROOT / "examples" / "csr-with-pkc.sh", "luna token", "example-key", tmp_path,
                           token.roots)
    out = result.stdout.decode()
    assert "VALID" in out and "CSR:       matches the attested key" in out
    assert (tmp_path / "example-key.csr").exists() and (tmp_path / "example-key.pkc.p7b").exists()
    check = token.program(ROOT / "examples" / "verify-pkc.sh", tmp_path / "example-key.pkc.p7b",
                          tmp_path / "example-key.csr", token.roots)
    assert "the PKC and the CSR check out" in check.stdout.decode()


def test_example_verify_pkc_on_the_real_files(token):
    data = ROOT / "tests" / "data" / "luna-pkc"
    for name, csr in [("rsa-pkc.p7b", "rsa-test.csr"), ("ecc-pkc.p7b", "ecc-test.csr")]:
        out = token.program(ROOT / "examples" / "verify-pkc.sh", data / name, data / csr).stdout.decode()
        assert "the PKC and the CSR check out" in out
    wrong = token.program(ROOT / "examples" / "verify-pkc.sh", data / "rsa-pkc.p7b", data / "ecc-test.csr",
                          check=False)
    assert wrong.returncode != 0
