"""hsmprov-pkc verify as a CA uses it: Thales' published roots as trust
anchors (a name and a public key, RFC 5280 §6.1.1 (d)), the code-signing key
policy, the versioned JSON verdict with every reason and the keys'
fingerprints, and the command line's conventions."""
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pkc_vectors as vectors
from conftest import BUILD, ROOT, run
from pkc_cli import cli_env, pkc_cli, verdicts

DATA = ROOT / "tests" / "data" / "luna-pkc"
THALES_RSA_ROOT = DATA / "luna-rsa-root-certificate.pem"   # serial 804500000007, no basicConstraints
THALES_ECC_ROOT = DATA / "luna-ecc-root-certificate.pem"


@pytest.fixture(scope="module")
def env():
    return cli_env()


def csr_spki_sha256(name):
    csr = x509.load_pem_x509_csr((DATA / name).read_bytes())
    der = csr.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("roots", [[THALES_RSA_ROOT], [THALES_ECC_ROOT], "both in one file"])
def test_thales_published_roots_are_trust_anchors_as_they_come(env, tmp_path, roots):
    if roots == "both in one file":
        bundle = tmp_path / "thales-roots.pem"
        bundle.write_bytes(THALES_RSA_ROOT.read_bytes() + THALES_ECC_ROOT.read_bytes())
        roots = [bundle]
    for name, csr, root in [("rsa-pkc.p7b", "rsa-test.csr", THALES_RSA_ROOT),
                            ("ecc-pkc.p7b", "ecc-test.csr", THALES_ECC_ROOT)]:
        result = pkc_cli(env, "verify", "--roots", roots[0], "--csr", DATA / csr, "--at", "2025-06-01T00:00:00Z",
                         DATA / name)
        anchored = roots[0] == root or roots[0].name == "thales-roots.pem"
        assert result.returncode == (0 if anchored else 1), (name, result.stdout)
        assert (b": VALID" in result.stdout) == anchored


@pytest.mark.parametrize("profile, root", [(vectors.RSA_PROFILE, THALES_RSA_ROOT),
                                           (vectors.ECC_PROFILE, THALES_ECC_ROOT)])
def test_real_names_under_a_self_made_key_fail_against_thales_roots(env, tmp_path, profile, root):
    forged = tmp_path / "forged.p7b"
    forged.write_bytes(vectors.SelfMadeChain(profile=profile).pkcs7())
    for roots in [root, ROOT / "data" / "luna-roots.pem"]:
        result = pkc_cli(env, "verify", "--roots", roots, forged)
        assert result.returncode == 1
        assert b"chain to the trust anchors fails" in result.stdout


def test_a_root_inside_the_file_is_never_an_anchor(env, tmp_path):
    # A self-made chain whose root is in the file: valid only when that root is given as an anchor.
    chain = vectors.SelfMadeChain()
    pkc, root = tmp_path / "self.p7b", tmp_path / "self-root.pem"
    pkc.write_bytes(chain.pkcs7())
    root.write_bytes(chain.root_pem())
    assert pkc_cli(env, "verify", "--roots", THALES_RSA_ROOT, pkc).returncode == 1
    assert pkc_cli(env, "verify", "--roots", root, pkc).returncode == 0


def test_code_signing_policy_refuses_the_2048_bit_rsa_sample(env):
    result = pkc_cli(env, "verify", "--policy", "code-signing", "--csr", DATA / "rsa-test.csr", DATA / "rsa-pkc.p7b")
    assert result.returncode == 1
    out = result.stdout.decode()
    assert ": INVALID" in out
    assert "reason:    policy code-signing: RSA 2048 bits; code signing needs 3072 or more" in out
    assert "CSR:       matches the attested key" in out  # the other checks still ran and passed
    without = pkc_cli(env, "verify", "--csr", DATA / "rsa-test.csr", DATA / "rsa-pkc.p7b")
    assert without.returncode == 0  # the same file, no policy asked


def test_code_signing_policy_accepts_p256_and_p384(env, tmp_path):
    status, [report] = verdicts(env, "--policy", "code-signing", DATA / "ecc-pkc.p7b")
    assert status == 0 and report["valid"] is True
    assert report["policy"] == {"name": "code-signing", "passed": True, "rules": [
        {"rule": "key-type-and-size", "passed": True, "detail": "EC P-256"},
        {"rule": "generated-in-hsm", "passed": True, "detail": report["policy"]["rules"][1]["detail"]}]}
    assert "1.3.6.1.4.1.12383.1.13" in report["policy"]["rules"][1]["detail"]
    chain = vectors.SelfMadeChain(profile=vectors.ECC_PROFILE)  # P-384 keys throughout
    pkc, root = tmp_path / "p384.p7b", tmp_path / "p384-root.pem"
    pkc.write_bytes(chain.pkcs7())
    root.write_bytes(chain.root_pem())
    status, [report] = verdicts(env, "--policy", "code-signing", "--roots", root, pkc)
    assert status == 0 and report["policy"]["rules"][0]["detail"] == "EC P-384"


def test_json_verdict_has_schema_every_reason_and_fingerprints(env):
    status, [report] = verdicts(env, "--roots", THALES_ECC_ROOT, "--policy", "code-signing",
                                "--csr", DATA / "ecc-test.csr", DATA / "rsa-pkc.p7b")
    assert status == 1
    assert report["schema"] == "hsmprov-attestation-verdict/2"
    assert (report["evidence"], report["vendor"]) == ("luna-pkc", "Thales")
    assert report["verdict"] == "INVALID" and report["valid"] is False
    reasons = report["reasons"]
    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("chain to the trust anchors fails")
    assert reasons[1] == "the CSR's public key is not the attested key"
    assert reasons[2] == "policy code-signing: RSA 2048 bits; code signing needs 3072 or more"
    assert report["reason"] == reasons[0]
    assert report["key_sha256"] == csr_spki_sha256("rsa-test.csr")
    assert report["csr_key_sha256"] == csr_spki_sha256("ecc-test.csr")
    assert report["csr_checked"] is True and report["csr_matches"] is False
    assert (report["key_type"], report["key_bits"], report["key_curve"], report["key"]) == ("RSA", 2048, "", "RSA 2048")
    assert report["policy"]["passed"] is False


def test_json_verdict_of_a_valid_file_and_of_a_broken_one(env, tmp_path):
    broken = tmp_path / "broken.p7b"
    broken.write_bytes(b"not a pkc")
    truncated = tmp_path / "truncated.p7b"
    truncated.write_bytes((DATA / "ecc-pkc.p7b").read_bytes()[:300])
    status, reports = verdicts(env, "--csr", DATA / "ecc-test.csr", DATA / "ecc-pkc.p7b", truncated)
    assert status == 1
    good, bad = reports
    assert good["reasons"] == [] and good["policy"] is None and good["csr_matches"] is True
    assert good["key_sha256"] == good["csr_key_sha256"] == csr_spki_sha256("ecc-test.csr")
    assert bad["valid"] is False and len(bad["reasons"]) == 1 and "PKC rule 'pkcs7' fails" in bad["reasons"][0]
    assert "key_sha256" not in bad and bad["schema"] == "hsmprov-attestation-verdict/2"
    assert bad["evidence"] == "luna-pkc" and "device" not in bad and "luna" not in bad
    # A file that is no attestation at all gets no verdict: exit status 2, the reason on stderr.
    status, reports = verdicts(env, "--csr", DATA / "ecc-test.csr", DATA / "ecc-pkc.p7b", broken)
    assert status == 2 and [r["file"] for r in reports] == [str(DATA / "ecc-pkc.p7b")]


def test_json_verdict_v2_keeps_the_v1_luna_fields(env):
    status, [report] = verdicts(env, DATA / "rsa-pkc.p7b")
    assert status == 0
    luna = {"profile": "rsa", "ouid": "41000000ae000002d6f30700", "hsm_serial": "521174", "firmware": "7.8.4",
            "model": "Luna K7"}
    assert report["luna"] == luna
    assert {name: report[name] for name in luna} == luna  # where version 1 had them
    assert report["device"] == {"model": "Luna K7", "serial": "521174", "firmware": "7.8.4"}
    assert [set(entry) for entry in report["chain"]] == [{"subject", "validity", "signature_reencoded"}] * 5


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["verify", "--help"], ["get", "--help"]])
def test_help_goes_to_stdout_with_status_0(env, args):
    result = pkc_cli(env, *args)
    assert result.returncode == 0 and result.stderr == b""
    assert b"usage: hsmprov-pkc" in result.stdout


def test_version(env):
    result = pkc_cli(env, "--version")
    assert result.returncode == 0
    version = (ROOT / "CMakeLists.txt").read_text().split("project(hsmprov VERSION ")[1].split()[0]
    assert result.stdout.decode() == f"hsmprov-pkc {version}\n"


@pytest.mark.parametrize("args", [["--frobnicate"], ["verify", "--frobnicate", "x.p7b"], ["get", "--frobnicate"],
                                  ["verify", "--policy", "nonsense", "x.p7b"], []])
def test_wrong_usage_goes_to_stderr_with_status_2(env, args):
    result = pkc_cli(env, *args)
    assert result.returncode == 2 and result.stdout == b""
    assert b"usage: hsmprov-pkc" in result.stderr


def test_man_page_documents_every_option():
    page = (ROOT / "docs" / "man" / "hsmprov-pkc.1").read_text()
    for option in ["--policy", "--roots", "--intermediate", "--chain", "--json", "--csr", "--at", "--help", "--version",
                   "code-signing"]:
        assert option.replace("-", r"\-") in page or option in page, option


@pytest.mark.parametrize("leaf_eku", ["1.3.6.1.4.1.12383.1.13.99",   # the OID plus an extra arc
                                      "1.3.6.1.4.1.12383.1.4294967309",  # 13 after a 32-bit wrap-around
                                      "1.3.6.1.4.1.12383.1",         # a prefix of it
                                      "1.3.6.1.4.1.12383.1.130"])    # another arc starting with 13
def test_role_ekus_are_compared_exactly(env, tmp_path, leaf_eku):
    chain = vectors.SelfMadeChain(roles=[leaf_eku, 12, 8, 7, 1])
    pkc, root = tmp_path / "near.p7b", tmp_path / "near-root.pem"
    pkc.write_bytes(chain.pkcs7())
    root.write_bytes(chain.root_pem())
    result = pkc_cli(env, "verify", "--roots", root, pkc)
    assert result.returncode == 1
    assert b"PKC rule 'one-leaf' fails: 0 certificates carry the key-attestation EKU" in result.stdout
    exact = vectors.SelfMadeChain(roles=["1.3.6.1.4.1.12383.1.13", 12, 8, 7, 1])
    pkc.write_bytes(exact.pkcs7())
    root.write_bytes(exact.root_pem())
    assert pkc_cli(env, "verify", "--roots", root, pkc).returncode == 0


def test_fuzz_finding_unreadable_leaf_key(env):
    # Found by fuzz_pkc: an ECC PKC whose leaf key OpenSSL cannot read crashed the report and the policy.
    finding = ROOT / "tests" / "data" / "fuzz" / "pkc-unreadable-leaf-key.p7b"
    for args in [[], ["--policy", "code-signing", "--json"]]:
        result = pkc_cli(env, "verify", *args, finding)
        assert result.returncode == 1
        assert b"PKC rule 'leaf-key' fails: the attested public key of" in result.stdout
    store = run(["openssl", "storeutl", "-provider", "hsmprov", "-provider", "default", "-certs", f"pkc:{finding}"],
                dict(env, OPENSSL_MODULES=str(BUILD / "provider")), check=False)
    assert store.returncode == 1 and b"PKC rule 'leaf-key' fails" in store.stderr
