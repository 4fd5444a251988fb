"""hsmprov-pkc verify on Marvell LiquidSecurity attestations: Google Cloud
HSM's public sample (an EC P-256 key) with its two chains against the
pinned manufacturer and owner roots, at a time inside every validity
period and now (after the manufacturer root's end); test doubles with
self-made keys for what no real sample gives (an extractable key, a key
not generated in the HSM, an RSA key); and the failures a forger or a
damaged file meets."""
import datetime
import gzip
import hashlib
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import marvell_vectors as vectors
from conftest import ROOT, run
from pkc_cli import cli_env, pkc_cli, verdict

DATA = ROOT / "tests" / "data" / "attestation" / "marvell"
SAMPLE = DATA / "attestation.dat.gz"
CHAIN = DATA / "chain.pem"
INSIDE = "2024-06-01T00:00:00Z"  # inside every certificate's validity
MANUFACTURER_ROOT = "CN=localca.liquidsecurity.cavium.com"


@pytest.fixture(scope="module")
def env():
    return cli_env()


def written(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def sample_blob():
    return gzip.decompress(SAMPLE.read_bytes())


def test_sample_is_valid_inside_every_validity_period(env):
    status, report = verdict(env, "--chain", CHAIN, "--at", INSIDE, "--policy", "code-signing", SAMPLE)
    assert status == 0 and report["valid"] is True, report
    assert (report["evidence"], report["vendor"], report["schema"]) == ("marvell", "Marvell",
                                                                      "hsmprov-attestation-verdict/2")
    assert (report["key_type"], report["key_bits"], report["key_curve"]) == ("EC", 256, "P-256")
    assert report["device"]["serial"] == "5.3G1953-ICM001225"
    facts = report["marvell"]
    assert (facts["extractable"], facts["never_extractable"], facts["local"]) == (False, True, True)
    assert facts["partition"] == "1" and facts["key_label"] == "app_key"
    assert [rule["rule"] for rule in report["policy"]["rules"]] == ["key-type-and-size", "generated-in-hsm",
                                                                   "never-extractable"]


def test_key_fingerprint_is_the_sha256_of_the_points_spki(env):
    # Computed here from the blob's EC point (the public object's attribute 0x120), independently of hsmprov.
    blob = sample_blob()
    point = blob[blob.index(bytes.fromhex("0000012000000041")) + 8:][:65]
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    _, report = verdict(env, "--chain", CHAIN, SAMPLE)
    assert report["key_sha256"] == hashlib.sha256(spki).hexdigest()


def test_raw_blob_is_read_as_the_gzip_one(env, tmp_path):
    raw = written(tmp_path, "attestation.dat", sample_blob())
    status, report = verdict(env, "--chain", CHAIN, "--at", INSIDE, raw)
    assert status == 0 and report["evidence"] == "marvell"


def test_now_is_after_the_manufacturer_roots_end(env):
    status, report = verdict(env, "--chain", CHAIN, "--at", "now", SAMPLE)
    assert status == 1 and report["valid"] is False
    reason = report["reason"]
    assert MANUFACTURER_ROOT in reason and "certificate has expired" in reason
    assert "the trust anchor, valid 2015-11-19T13:55:25Z .. 2025-11-16T13:55:25Z" in reason


def test_without_the_chains_no_signer_is_found(env):
    status, report = verdict(env, "--at", INSIDE, SAMPLE)
    assert status == 1 and "no certificate given with --chain made the attestation's signature" in report["reason"]


def test_one_chain_is_not_enough(env, tmp_path):
    # Only the owner's partition certificate: the manufacturer's chain is missing.
    pems = CHAIN.read_bytes().split(b"-----END CERTIFICATE-----\n")
    owner_only = written(tmp_path, "owner.pem", pems[2] + b"-----END CERTIFICATE-----\n")
    status, report = verdict(env, "--chain", owner_only, "--at", INSIDE, SAMPLE)
    assert status == 1 and "chains to 1 trust anchor; a Marvell attestation needs two" in report["reason"]


def test_flipped_signature_byte_is_invalid(env, tmp_path):
    blob = bytearray(sample_blob())
    blob[-10] ^= 1
    status, report = verdict(env, "--chain", CHAIN, "--at", INSIDE, written(tmp_path, "flipped.dat", bytes(blob)))
    assert status == 1 and "made the attestation's signature" in report["reason"]


def test_flipped_attribute_byte_is_invalid(env, tmp_path):
    # CKA_EXTRACTABLE of the private object turned true: the signature no longer holds.
    blob = bytearray(sample_blob())
    at = blob.index(bytes.fromhex("000001620000000100"), 916)  # the private object's CKA_EXTRACTABLE = 0
    blob[at + 8] = 1
    status, report = verdict(env, "--chain", CHAIN, "--at", INSIDE, "--policy", "code-signing",
                             written(tmp_path, "extractable.dat", bytes(blob)))
    assert status == 1 and "made the attestation's signature" in report["reasons"][0]


@pytest.mark.parametrize("cut", [100, 1000, 2111])
def test_truncated_blob_is_invalid_and_says_truncated(env, tmp_path, cut):
    # Still a Marvell header, so a verdict: INVALID, naming the truncation.
    status, report = verdict(env, "--chain", CHAIN, written(tmp_path, "cut.dat", sample_blob()[:cut]))
    assert status == 1 and "truncated" in report["reason"], report


def test_truncated_gzip_is_invalid(env, tmp_path):
    status, report = verdict(env, "--chain", CHAIN, written(tmp_path, "cut.dat.gz", SAMPLE.read_bytes()[:400]))
    assert status == 1 and "the gzip data is truncated or damaged" in report["reason"]


def test_csr_of_another_key_is_invalid(env, tmp_path):
    key = tmp_path / "other.key"
    csr = tmp_path / "other.csr"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-subj", "/CN=other", "-out", csr], check=True, capture_output=True,
                   env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    status, report = verdict(env, "--chain", CHAIN, "--at", INSIDE, "--csr", csr, SAMPLE)
    assert status == 1 and report["reasons"] == ["the CSR's public key is not the attested key"]
    assert report["csr_checked"] is True and report["csr_matches"] is False


def self_made(tmp_path, **flags):
    """A test double: an attestation of a fresh key under self-made chains with the real names."""
    chains = vectors.SelfMadeChains()
    key = flags.pop("key", None) or ec.generate_private_key(ec.SECP384R1())
    blob = written(tmp_path, "self.dat.gz", vectors.blob(key, chains.partition_key, **flags))
    return chains, key, blob, written(tmp_path, "self-chain.pem", chains.chain_pem()), \
        written(tmp_path, "self-roots.pem", chains.roots_pem())


def test_real_names_under_self_made_keys_fail_against_the_pinned_roots(env, tmp_path):
    _, _, blob, chain, _ = self_made(tmp_path)
    status, report = verdict(env, "--chain", chain, "--at", INSIDE, blob)
    assert status == 1 and "chain to the trust anchors fails" in report["reason"], report
    assert "signature" in report["reason"] or "issuer" in report["reason"], report


def test_self_made_chains_pass_with_their_own_roots_and_the_key_matches(env, tmp_path):
    _, key, blob, chain, roots = self_made(tmp_path)
    csr = tmp_path / "self.csr"
    key_file = written(tmp_path, "self.key", key.private_bytes(serialization.Encoding.PEM,
                                                               serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
    subprocess.run(["openssl", "req", "-new", "-key", key_file, "-subj", "/CN=self", "-out", csr], check=True,
                   capture_output=True, env=dict(os.environ, OPENSSL_CONF="/dev/null"))
    status, report = verdict(env, "--roots", roots, "--chain", chain, "--at", INSIDE, "--csr", csr,
                             "--policy", "code-signing", blob)
    assert status == 0, report
    assert report["csr_matches"] is True and report["key_curve"] == "P-384"


@pytest.mark.parametrize("flags, rule, detail", [
    ({"extractable": True}, "never-extractable", "is extractable (CKA_EXTRACTABLE true)"),
    ({"never_extractable": False}, "never-extractable", "was extractable once (CKA_NEVER_EXTRACTABLE false)"),
    ({"local": False}, "generated-in-hsm", "CKA_LOCAL is false: the key was not shown to be generated in the HSM"),
    ({"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, "key-type-and-size",
     "RSA 2048 bits; code signing needs 3072 or more"),
])
def test_code_signing_refuses_what_the_attributes_rule_out(env, tmp_path, flags, rule, detail):
    _, _, blob, chain, roots = self_made(tmp_path, **flags)
    assert verdict(env, "--roots", roots, "--chain", chain, "--at", INSIDE, blob)[0] == 0  # valid without a policy
    status, report = verdict(env, "--roots", roots, "--chain", chain, "--at", INSIDE, "--policy", "code-signing", blob)
    assert status == 1
    failed = [r for r in report["policy"]["rules"] if not r["passed"]]
    assert [r["rule"] for r in failed] == [rule] and detail in failed[0]["detail"]


def test_expired_manufacturer_root_of_a_self_made_chain(env, tmp_path):
    chains = vectors.SelfMadeChains(manufacturer_not_after=datetime.datetime(2023, 1, 1))
    blob = written(tmp_path, "old.dat.gz", vectors.blob(ec.generate_private_key(ec.SECP256R1()), chains.partition_key))
    chain = written(tmp_path, "old-chain.pem", chains.chain_pem())
    roots = written(tmp_path, "old-roots.pem", chains.roots_pem())
    assert verdict(env, "--roots", roots, "--chain", chain, "--at", "2022-06-01T00:00:00Z", blob)[0] == 0
    status, report = verdict(env, "--roots", roots, "--chain", chain, "--at", INSIDE, blob)
    assert status == 1 and "(the trust anchor, valid 2020-01-01T00:00:00Z .. 2023-01-01T00:00:00Z)" in report["reason"]


def test_text_output_names_the_vendor_and_the_rules(env):
    result = pkc_cli(env, "verify", "--chain", CHAIN, "--at", INSIDE, "--policy", "code-signing", SAMPLE)
    out = result.stdout.decode()
    assert result.returncode == 0 and f"{SAMPLE}: VALID" in out
    assert "evidence:  Marvell LiquidSecurity attestation (Marvell)" in out
    assert "ok   never-extractable" in out and "serial 5.3G1953-ICM001225" in out


def test_public_and_private_objects_of_different_keys_are_invalid(env, tmp_path):
    # A genuine never-extractable private key must not vouch for another public key.
    chains = vectors.SelfMadeChains()
    other = ec.generate_private_key(ec.SECP384R1())
    blob = written(tmp_path, "mixed.dat.gz", vectors.blob(ec.generate_private_key(ec.SECP384R1()),
                                                          chains.partition_key, public_key_of=other))
    status, report = verdict(env, "--roots", written(tmp_path, "roots.pem", chains.roots_pem()), "--chain",
                             written(tmp_path, "chain.pem", chains.chain_pem()), "--at", INSIDE, blob)
    assert status == 1
    assert "the public and private objects do not describe the same key (attribute 288)" in report["reason"]


def test_gzip_of_something_else_is_no_attestation(env, tmp_path):
    other = written(tmp_path, "cert.pem.gz", gzip.compress(CHAIN.read_bytes()))
    result = pkc_cli(env, "verify", "--chain", CHAIN, other)
    assert result.returncode == 2 and b"not an attestation hsmprov-pkc knows" in result.stderr


def test_control_characters_in_the_label_are_escaped(env, tmp_path):
    blob = bytearray(sample_blob())
    at = blob.index(b"app_key", 916)  # the private object's CKA_LABEL
    blob[at + 3] = 0x0a  # "app\nkey"
    # The signature no longer holds (INVALID), but the report still shows the label: escaped.
    status, report = verdict(env, "--chain", CHAIN, written(tmp_path, "label.dat", bytes(blob)))
    assert status == 1 and report["marvell"]["key_label"] == "app\\x0akey"
