"""The PKC store (pkc:), the pinned roots, hsmprov-pkc verify, and the
negative cases."""
import json
import os
import subprocess

import pytest

import pkc_vectors as vectors
from conftest import ROOT, common_name, run
from pkc_cli import cli_env, pkc_cli

DATA = ROOT / "tests" / "data" / "luna-pkc"
ROOTS = ROOT / "data" / "luna-roots.pem"


@pytest.fixture(scope="module")
def env():
    return cli_env()


def ossl(env, *args, check=True):
    return run(["openssl", *args[:1], "-provider", "hsmprov", "-provider", "default", *args[1:]], env, check=check)


@pytest.mark.parametrize("name, count", [("rsa-pkc.p7b", 5), ("ecc-pkc.p7b", 3)])
def test_storeutl_lists_the_chain(env, name, count):
    out = ossl(env, "storeutl", "-certs", f"pkc:{DATA / name}").stdout.decode()
    assert out.count(": Certificate\n") == count


@pytest.mark.parametrize("name, ouid", [("rsa-pkc.p7b", "41000000ae000002d6f30700"),
                                        ("ecc-pkc.p7b", "43000000ae000002d6f30700")])
def test_x509_prints_the_leaf(env, name, ouid):
    out = ossl(env, "x509", "-in", f"pkc:{DATA / name}", "-noout", "-subject").stdout.decode()
    assert common_name(out) == ouid


@pytest.mark.parametrize("name", ["rsa-pkc.p7b", "ecc-pkc.p7b"])
def test_openssl_verify_against_pinned_roots(env, name):
    uri = f"pkc:{DATA / name}"
    out = ossl(env, "verify", "-CAfile", ROOTS, "-untrusted", uri, uri).stdout.decode()
    assert out.strip() == f"{uri}: OK"


def test_stock_openssl_fails_on_the_files_without_us():
    bare = dict(os.environ, OPENSSL_CONF="/dev/null")
    out = run(["openssl", "storeutl", "-certs", DATA / "rsa-pkc.p7b"], bare, check=False).stdout.decode()
    assert "BEGIN CERTIFICATE" not in out  # 3.0 says "Total found: 0"; 3.5 says nothing


@pytest.mark.parametrize("name, csr", [("rsa-pkc.p7b", "rsa-test.csr"), ("ecc-pkc.p7b", "ecc-test.csr")])
def test_pkey_gives_the_csr_public_key(env, name, csr):
    ours = ossl(env, "pkey", "-pubin", "-in", f"pkc:{DATA / name}", "-outform", "DER").stdout
    pem = run(["openssl", "req", "-in", DATA / csr, "-pubkey", "-noout"], env).stdout
    theirs = run(["openssl", "pkey", "-pubin", "-outform", "DER"], env, input=pem).stdout
    assert ours == theirs


def test_only_the_ecc_leaf_signature_changes(env, tmp_path):
    file_certs = vectors.certificates_of(vectors.real("ecc-pkc.p7b"))
    out = ossl(env, "storeutl", "-certs", f"pkc:{DATA / 'ecc-pkc.p7b'}").stdout.decode()
    pems = ["-----BEGIN CERTIFICATE-----" + block.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
            for block in out.split("-----BEGIN CERTIFICATE-----")[1:]]
    handed_out = [run(["openssl", "x509", "-outform", "DER"], env, input=p.encode()).stdout for p in pems]
    assert handed_out[1:] == file_certs[1:]  # untouched
    leaf_file, leaf_out = file_certs[0], handed_out[0]
    tbs = lambda cert: cert[vectors.read_tlv(cert)[1]:vectors.read_tlv(cert, vectors.read_tlv(cert)[1])[2]]
    assert tbs(leaf_out) == tbs(leaf_file) and leaf_out != leaf_file


def test_pinned_roots_are_the_reissue_and_the_ecc_root():
    out = run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", ROOTS], {"PATH": "/usr/bin:/bin"}).stdout
    listing = run(["openssl", "pkcs7", "-print_certs", "-noout"], {"PATH": "/usr/bin:/bin"}, input=out).stdout
    assert listing.decode().count("subject=") == 2
    serials = run(["openssl", "storeutl", "-noout", "-text", "-certs", ROOTS], {"PATH": "/usr/bin:/bin"})
    assert "(0x80450000000d)" in serials.stdout.decode().lower()


def test_in_file_rsa_root_is_not_a_trust_anchor(env):
    # The file ends in the real Chrysalis-ITS root; given only the ECC root, nothing trusts it.
    result = pkc_cli(env, "verify", "--roots", DATA / "luna-ecc-root-certificate.pem", DATA / "rsa-pkc.p7b")
    assert result.returncode == 1
    assert b"chain to the trust anchors fails" in result.stdout


def test_cli_verifies_both_files_with_their_csrs(env):
    for name, csr in [("rsa-pkc.p7b", "rsa-test.csr"), ("ecc-pkc.p7b", "ecc-test.csr")]:
        result = pkc_cli(env, "verify", "--csr", DATA / csr, DATA / name)
        assert result.returncode == 0, result.stdout
        assert b"VALID" in result.stdout and b"CSR:       matches the attested key" in result.stdout


def test_cli_human_summary(env):
    out = pkc_cli(env, "verify", DATA / "rsa-pkc.p7b").stdout.decode()
    assert "evidence:  Luna PKC (Thales)" in out
    assert "device:    model Luna K7, serial 521174, firmware 7.8.4" in out
    assert "facts:     profile rsa, OUID 41000000ae000002d6f30700, HSM serial 521174" in out
    assert "key:       RSA 2048 bits\n" in out
    assert "CN=Chrysalis-ITS Root" in out


def test_cli_json_and_many_files_in_one_call(env, tmp_path):
    empty = tmp_path / "empty.p7b"
    empty.write_bytes(b"")
    result = pkc_cli(env, "verify", "--json", DATA / "rsa-pkc.p7b", empty, DATA / "ecc-pkc.p7b")
    assert result.returncode == 2  # an empty file is no attestation: nothing to give a verdict on
    reports = json.loads(result.stdout)
    assert [(r["file"], r["valid"]) for r in reports] == [(str(DATA / "rsa-pkc.p7b"), True),
                                                          (str(DATA / "ecc-pkc.p7b"), True)]
    assert reports[0]["hsm_serial"] == "521174" and reports[0]["firmware"] == "7.8.4"
    assert reports[1]["chain"][0]["signature_reencoded"] is True
    assert f"{empty}: not an attestation hsmprov-pkc knows" in result.stderr.decode()
    assert "the file is empty" in result.stderr.decode()


def test_cli_checks_dates_at_a_given_time(env):
    assert pkc_cli(env, "verify", "--at", "2025-06-01T00:00:00Z", DATA / "ecc-pkc.p7b").returncode == 0
    late = pkc_cli(env, "verify", "--at", "2031-01-01T00:00:00Z", DATA / "ecc-pkc.p7b")
    assert late.returncode == 1 and b"certificate has expired" in late.stdout


def test_cli_unreadable_input_and_bad_usage(env, tmp_path):
    assert pkc_cli(env, "verify", tmp_path / "absent.p7b").returncode == 2
    assert pkc_cli(env, "verify").returncode == 2
    assert pkc_cli(env, "verify", "--frobnicate", DATA / "rsa-pkc.p7b").returncode == 2
    assert pkc_cli(env, "verify", "--at", "yesterday", DATA / "rsa-pkc.p7b").returncode == 2


@pytest.mark.parametrize("path, reason", [("DIR", "is a directory, not a file"),
                                          ("/dev/zero", "is longer than 1048576 bytes")])
def test_cli_refuses_what_is_no_file_without_reading_it_all(env, tmp_path, path, reason):
    # Exit status 2 and the reason; not an abort, and not a read until memory runs out.
    target = tmp_path if path == "DIR" else path
    result = pkc_cli(env, "verify", target, DATA / "rsa-pkc.p7b")
    assert result.returncode == 2
    assert reason in result.stderr.decode()
    assert b"rsa-pkc.p7b: VALID" in result.stdout  # the other files are still checked


@pytest.mark.parametrize("option", ["--roots", "--chain", "--csr"])
@pytest.mark.parametrize("path, reason", [("DIR", "is a directory, not a file"),
                                          ("/dev/zero", "is longer than 1048576 bytes")])
def test_cli_refuses_option_files_that_are_no_file(env, tmp_path, option, path, reason):
    # Read once, bounded, before any evidence: exit status 2 and the reason.
    result = pkc_cli(env, "verify", option, tmp_path if path == "DIR" else path, DATA / "rsa-pkc.p7b")
    assert result.returncode == 2 and result.stdout == b""
    assert reason in result.stderr.decode()


def negative_cases(tmp_path):
    rsa_certs = vectors.certificates_of(vectors.real("rsa-pkc.p7b"))
    assert len(rsa_certs) == 5
    ecc_certs = vectors.certificates_of(vectors.real("ecc-pkc.p7b"))
    self_made = vectors.SelfMadeChain()
    return {
        "tampered-leaf-signature": (vectors.certs_only([vectors.tampered_signature(rsa_certs[0])] + rsa_certs[1:]),
                                    "signature failure"),
        "tampered-ecc-leaf-signature": (vectors.certs_only([vectors.tampered_signature(ecc_certs[0])] + ecc_certs[1:]),
                                        "signature failure"),
        "tampered-tbs": (vectors.certs_only([vectors.tampered_tbs(rsa_certs[0])] + rsa_certs[1:]),
                         "signature failure"),
        "certificate-missing": (vectors.certs_only(rsa_certs[:2] + rsa_certs[3:]),
                                "PKC rule 'chain' fails: the chain stops at 'CN=Luna K7-521174"),
        "self-made-chain": (self_made.pkcs7(), "chain to the trust anchors fails"),
        "leaf-without-pkc-eku": (vectors.SelfMadeChain(roles=[0, 12, 8, 7, 1]).pkcs7(),
                                 "PKC rule 'one-leaf' fails: 0 certificates carry the key-attestation EKU"),
        "roles-swapped": (vectors.SelfMadeChain(roles=[13, 8, 12, 7, 1]).pkcs7(),
                          "PKC rule 'roles' fails: certificate 'CN=Luna K7-521174"),
        "truncated": (vectors.real("rsa-pkc.p7b")[:700],
                      "PKC rule 'pkcs7' fails: the file is truncated: its ContentInfo runs past the end"),
        "signed-message": (vectors.signed_message(), "PKC rule 'certs-only' fails"),
    }, self_made


def test_negative_cases_fail_with_the_right_reason(env, tmp_path):
    cases, _ = negative_cases(tmp_path)
    for name, (data, reason) in cases.items():
        path = tmp_path / f"{name}.p7b"
        path.write_bytes(data)
        result = pkc_cli(env, "verify", path)
        assert result.returncode == 1, (name, result.stdout)
        assert reason in result.stdout.decode(), (name, result.stdout.decode())
        store = ossl(env, "storeutl", "-certs", f"pkc:{path}", check=False)
        assert store.returncode in (0, 1), name  # no crash through the provider either
        if "PKC rule" in reason:
            assert store.returncode == 1 and reason.split(":")[0] in store.stderr.decode(), name


@pytest.mark.parametrize("data, reason", [(b"\x31" + os.urandom(2047), "not an attestation hsmprov-pkc knows"),
                                          (b"", "not an attestation hsmprov-pkc knows (a Luna PKC, a YubiKey PIV "
                                                "attestation, a Marvell attestation): the file is empty")])
def test_what_is_no_attestation_is_unreadable(env, tmp_path, data, reason):
    # Neither a PKCS#7 nor certificates: no verdict, exit status 2 (as for a file that cannot be read).
    path = tmp_path / "unknown.p7b"
    path.write_bytes(data)
    result = pkc_cli(env, "verify", path)
    assert result.returncode == 2 and result.stdout == b""
    assert reason in result.stderr.decode()


def test_self_made_chain_passes_with_its_own_root(env, tmp_path):
    _, self_made = negative_cases(tmp_path)
    pkc, root, csr = tmp_path / "self.p7b", tmp_path / "self-root.pem", tmp_path / "self.csr"
    pkc.write_bytes(self_made.pkcs7())
    root.write_bytes(self_made.root_pem())
    csr.write_bytes(self_made.csr())
    assert pkc_cli(env, "verify", pkc).returncode == 1
    result = pkc_cli(env, "verify", "--roots", root, "--csr", csr, pkc)
    assert result.returncode == 0, result.stdout
    other = pkc_cli(env, "verify", "--roots", root, "--csr", DATA / "rsa-test.csr", pkc)
    assert other.returncode == 1 and b"the CSR's public key is not the attested key" in other.stdout


def test_csr_of_another_key(env):
    result = pkc_cli(env, "verify", "--csr", DATA / "ecc-test.csr", DATA / "rsa-pkc.p7b")
    assert result.returncode == 1
    assert b"the CSR's public key is not the attested key" in result.stdout


def test_pem_armour_is_accepted(env, tmp_path):
    pem = tmp_path / "rsa.pem"
    run(["openssl", "pkcs7", "-inform", "DER", "-in", DATA / "rsa-pkc.p7b", "-out", pem], env)
    assert pkc_cli(env, "verify", pem).returncode == 0
    assert ossl(env, "storeutl", "-certs", f"pkc:{pem}").stdout.count(b": Certificate\n") == 5
