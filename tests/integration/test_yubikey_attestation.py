"""hsmprov-pkc verify on YubiKey PIV attestations: the real samples of a
YubiKey 5 FIPS (slots 9a and 9c) against Yubico's pinned root, the device's
f9 certificate given in the file or by --intermediate, Yubico's extensions
decoded strictly, the code-signing policy, and the failures a forger or a
damaged file meets."""
import datetime
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

import pkc_vectors as vectors
from conftest import ROOT, run
from pkc_cli import cli_env, pkc_cli, verdict

DATA = ROOT / "tests" / "data" / "attestation" / "yubikey-piv"
ATTESTATION_9A = DATA / "attestation-9a.crt"           # P-256
ATTESTATION_9C = DATA / "attestation-9c.crt"           # RSA 2048
INTERMEDIATE = DATA / "attestation-intermediate.crt"  # the device's f9 certificate
YUBICO_ROOT = DATA / "attestation-root.crt"            # as Yubico publishes it
PINNED = ROOT / "data" / "yubico-piv-roots.pem"
# The serial number's extension holds 02 04 01 b3 be f6: 0x01b3bef6.
SERIAL = "28557046"
YUBICO = "1.3.6.1.4.1.41482.3."


@pytest.fixture(scope="module")
def env():
    return cli_env()


def with_intermediate(tmp_path, attestation=ATTESTATION_9A):
    """The attestation and the device's f9 certificate in one PEM file, as a user sends them."""
    both = tmp_path / f"{attestation.stem}-with-f9.pem"
    both.write_bytes(attestation.read_bytes() + INTERMEDIATE.read_bytes())
    return both


def der_of(path):
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)


def test_9a_is_valid_with_its_facts_in_text(env, tmp_path):
    result = pkc_cli(env, "verify", "--policy", "code-signing", with_intermediate(tmp_path))
    out = result.stdout.decode()
    assert result.returncode == 0, out
    assert ": VALID\n" in out
    assert "evidence:  YubiKey PIV attestation (Yubico)" in out
    assert f"device:    model YubiKey USB-A keychain FIPS, serial {SERIAL}, firmware 5.4.3" in out
    assert (f"facts:     slot 9a, serial {SERIAL}, firmware 5.4.3, PIN policy once, touch policy never, "
            "form factor USB-A keychain, FIPS edition yes, CSPN edition no") in out
    assert "key:       EC 256 bits (P-256)" in out
    assert "    CN=YubiKey PIV Attestation 9a\n" in out and "    CN=Yubico PIV Attestation\n" in out
    assert "ok   generated-in-device: generated on the YubiKey: a YubiKey attests only keys generated on it" in out
    assert "ok   pin-policy: PIN policy once" in out


def test_9a_is_valid_with_its_facts_in_json(env, tmp_path):
    status, report = verdict(env, "--policy", "code-signing", with_intermediate(tmp_path))
    assert status == 0 and report["valid"] is True and report["verdict"] == "VALID"
    assert report["schema"] == "hsmprov-attestation-verdict/2"
    assert (report["evidence"], report["vendor"]) == ("yubikey-piv", "Yubico")
    assert report["yubikey"] == {"slot": "9a", "serial": SERIAL, "firmware": "5.4.3", "pin_policy": "once",
                                 "touch_policy": "never", "form_factor": "USB-A keychain", "fips": True,
                                 "cspn": False}
    assert report["device"] == {"model": "YubiKey USB-A keychain FIPS", "serial": SERIAL, "firmware": "5.4.3"}
    assert (report["key"], report["key_type"], report["key_bits"], report["key_curve"]) == ("EC 256", "EC", 256, "P-256")
    cert = x509.load_pem_x509_certificate(ATTESTATION_9A.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert report["key_sha256"] == hashlib.sha256(spki).hexdigest()
    assert [c["subject"] for c in report["chain"]] == ["CN=YubiKey PIV Attestation 9a", "CN=Yubico PIV Attestation"]
    assert report["chain"][0]["validity"] == "2016-03-14T00:00:00Z .. 2052-04-17T00:00:00Z"
    assert report["dates_checked"] is False and report["csr_checked"] is False
    assert [rule["rule"] for rule in report["policy"]["rules"]] == ["key-type-and-size", "generated-in-device",
                                                                     "pin-policy"]
    assert report["policy"]["passed"] is True
    assert "luna" not in report and "hsm_serial" not in report  # the Luna fields are Luna's


def test_9c_rsa_2048_is_invalid_for_code_signing_and_valid_without_a_policy(env, tmp_path):
    evidence = with_intermediate(tmp_path, ATTESTATION_9C)
    status, report = verdict(env, "--policy", "code-signing", evidence)
    assert status == 1 and report["valid"] is False
    assert report["reasons"] == ["policy code-signing: RSA 2048 bits; code signing needs 3072 or more"]
    assert report["yubikey"]["slot"] == "9c" and report["yubikey"]["pin_policy"] == "always"
    assert report["policy"]["rules"][2] == {"rule": "pin-policy", "passed": True,
                                            "detail": "PIN policy always: the PIN is asked before every use of the key"}
    text = pkc_cli(env, "verify", "--policy", "code-signing", evidence)
    assert text.returncode == 1
    assert b"reason:    policy code-signing: RSA 2048 bits; code signing needs 3072 or more" in text.stdout
    without = pkc_cli(env, "verify", evidence)
    assert without.returncode == 0 and b": VALID" in without.stdout


def test_intermediate_in_the_file_by_option_or_missing(env, tmp_path):
    assert pkc_cli(env, "verify", with_intermediate(tmp_path)).returncode == 0
    by_option = pkc_cli(env, "verify", "--intermediate", INTERMEDIATE, ATTESTATION_9A)
    assert by_option.returncode == 0 and b": VALID" in by_option.stdout
    der = tmp_path / "9a.der"  # one DER certificate is evidence too
    der.write_bytes(der_of(ATTESTATION_9A))
    assert pkc_cli(env, "verify", "--intermediate", INTERMEDIATE, der).returncode == 0
    status, report = verdict(env, ATTESTATION_9A)
    assert status == 1
    assert report["reasons"] == ["chain to the trust anchors fails at 'CN=YubiKey PIV Attestation 9a': "
                                 "unable to get local issuer certificate"]
    assert [c["subject"] for c in report["chain"]] == ["CN=YubiKey PIV Attestation 9a"]


def test_intermediate_option_refuses_a_file_without_certificates(env, tmp_path):
    empty = tmp_path / "none.pem"
    empty.write_text("nothing here\n")
    result = pkc_cli(env, "verify", "--intermediate", empty, ATTESTATION_9A)
    assert result.returncode == 2 and b"no certificate in the intermediates" in result.stderr


def test_the_published_root_and_other_roots(env, tmp_path):
    evidence = with_intermediate(tmp_path)
    assert pkc_cli(env, "verify", "--roots", YUBICO_ROOT, evidence).returncode == 0
    assert pkc_cli(env, "verify", "--roots", PINNED, evidence).returncode == 0
    luna_only = pkc_cli(env, "verify", "--roots", ROOT / "data" / "luna-roots.pem", evidence)
    assert luna_only.returncode == 1 and b"chain to the trust anchors fails" in luna_only.stdout
    # The root inside the evidence file is never an anchor.
    with_root = tmp_path / "with-root.pem"
    with_root.write_bytes(evidence.read_bytes() + YUBICO_ROOT.read_bytes())
    assert pkc_cli(env, "verify", "--roots", ROOT / "data" / "luna-roots.pem", with_root).returncode == 1


def test_luna_and_yubikey_files_in_one_call_with_the_default_roots(env, tmp_path):
    luna = ROOT / "tests" / "data" / "luna-pkc" / "ecc-pkc.p7b"
    result = pkc_cli(env, "verify", "--json", luna, with_intermediate(tmp_path))
    reports = json.loads(result.stdout)
    assert result.returncode == 0, reports
    assert [(r["evidence"], r["vendor"], r["valid"]) for r in reports] == [("luna-pkc", "Thales", True),
                                                                           ("yubikey-piv", "Yubico", True)]
    assert set(reports[0]) - set(reports[1]) == {"luna", "profile", "ouid", "hsm_serial", "firmware", "model"}
    assert set(reports[1]) - set(reports[0]) == {"yubikey"}


def test_flipped_signature_byte_is_invalid(env, tmp_path):
    tampered = tmp_path / "tampered.der"
    tampered.write_bytes(vectors.tampered_signature(der_of(ATTESTATION_9A)))
    result = pkc_cli(env, "verify", "--intermediate", INTERMEDIATE, tampered)
    assert result.returncode == 1
    assert b"chain to the trust anchors fails at 'CN=YubiKey PIV Attestation 9a': certificate signature failure" \
        in result.stdout


def test_dates_checked_at_a_given_time(env, tmp_path):
    evidence = with_intermediate(tmp_path)
    status, report = verdict(env, "--at", "now", evidence)
    assert status == 0 and report["dates_checked"] is True
    late = pkc_cli(env, "verify", "--at", "2052-05-01T00:00:00Z", evidence)
    assert late.returncode == 1 and b"certificate has expired" in late.stdout


def test_csr_of_another_key_is_invalid(env, tmp_path):
    key, csr = tmp_path / "other.key", tmp_path / "other.csr"
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
         "-subj", "/CN=YubiKey PIV Attestation 9a", "-out", csr], env)
    status, report = verdict(env, "--csr", csr, with_intermediate(tmp_path))
    assert status == 1
    assert report["reasons"] == ["the CSR's public key is not the attested key"]
    assert report["csr_checked"] is True and report["csr_matches"] is False
    assert report["csr_key_sha256"] != report["key_sha256"]
    text = pkc_cli(env, "verify", "--csr", csr, with_intermediate(tmp_path))
    assert text.returncode == 1 and b"CSR:       no match" in text.stdout


@pytest.mark.parametrize("cut", ["pem", "der"])
def test_truncated_file_is_unreadable(env, tmp_path, cut):
    whole = with_intermediate(tmp_path).read_bytes() if cut == "pem" else der_of(ATTESTATION_9A)
    truncated = tmp_path / f"truncated.{cut}"
    truncated.write_bytes(whole[:len(whole) // 3])
    result = pkc_cli(env, "verify", "--json", truncated, with_intermediate(tmp_path))
    assert result.returncode == 2
    assert f"{truncated}: cannot be read as an attestation" in result.stderr.decode()
    assert [r["valid"] for r in json.loads(result.stdout)] == [True]  # the other file is still checked


def test_a_certificate_without_yubico_extensions_is_no_attestation(env):
    result = pkc_cli(env, "verify", DATA / "ipxe-sb-cs-g1a.crt")
    assert result.returncode == 2 and result.stdout == b""
    assert b"not an attestation hsmprov-pkc knows (a Luna PKC, a YubiKey PIV attestation, a Marvell attestation)" in result.stderr


def test_two_attestations_in_one_file_are_refused(env, tmp_path):
    both = tmp_path / "9a-and-9c.pem"
    both.write_bytes(ATTESTATION_9A.read_bytes() + ATTESTATION_9C.read_bytes() + INTERMEDIATE.read_bytes())
    result = pkc_cli(env, "verify", both)
    assert result.returncode == 2 and result.stdout == b""
    assert b"more than one certificate is a YubiKey attestation; a file holds one" in result.stderr


class SelfMadeChain:
    """Yubico's names and extensions under self-made keys: root, f9 intermediate, attestation leaf."""
    START = datetime.datetime(2016, 3, 14, tzinfo=datetime.timezone.utc)
    END = datetime.datetime(2052, 4, 17, tzinfo=datetime.timezone.utc)

    def __init__(self, extensions=None, subject="YubiKey PIV Attestation 9a"):
        if extensions is None:
            extensions = {"3": bytes([5, 4, 3]), "7": bytes.fromhex("020401b3bef6"), "8": bytes([2, 1]),
                          "9": bytes([0x81])}
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        f9_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self.certificate("Yubico PIV Root CA Serial 263751", self.root_key.public_key(),
                                     "Yubico PIV Root CA Serial 263751", self.root_key, ca=True)
        self.f9 = self.certificate("Yubico PIV Attestation", f9_key.public_key(), "Yubico PIV Root CA Serial 263751",
                                   self.root_key, ca=True, extensions={"3": bytes([5, 4, 3])})
        self.leaf = self.certificate(subject, leaf_key.public_key(), "Yubico PIV Attestation", f9_key,
                                     extensions=extensions)

    def certificate(self, subject, public_key, issuer, signer, ca=False, extensions=None):
        name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(self.START).not_valid_after(self.END))
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        for arc, value in (extensions or {}).items():
            builder = builder.add_extension(x509.UnrecognizedExtension(ObjectIdentifier(YUBICO + arc), value),
                                            critical=False)
        return builder.sign(signer, hashes.SHA256())

    def pem(self, *certificates):
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def test_self_made_chain_with_the_real_names_fails_against_the_pinned_root(env, tmp_path):
    chain = SelfMadeChain()
    evidence, root = tmp_path / "forged.pem", tmp_path / "forged-root.pem"
    evidence.write_bytes(chain.pem(chain.leaf, chain.f9, chain.root))  # its root inside: never an anchor
    root.write_bytes(chain.pem(chain.root))
    for roots in [[], ["--roots", PINNED], ["--roots", YUBICO_ROOT]]:
        status, report = verdict(env, *roots, evidence)
        assert status == 1, roots
        assert report["reasons"][0].startswith("chain to the trust anchors fails"), report
        assert report["yubikey"]["serial"] == SERIAL  # the facts are read, and worth nothing without the chain
    assert verdict(env, "--roots", root, evidence)[0] == 0  # the same file under its own root


@pytest.mark.parametrize("arc, value, reason", [
    ("3", bytes([5, 4]), f"extension {YUBICO}3 (firmware version) has 2 bytes; Yubico's has 3"),
    ("8", bytes([2, 1, 0]), f"extension {YUBICO}8 (PIN and touch policy) has 3 bytes; Yubico's has 2"),
    ("9", b"", f"extension {YUBICO}9 (form factor) has 0 bytes; Yubico's has 1"),
    ("7", bytes.fromhex("0404deadbeef"), f"extension {YUBICO}7 (serial number) is not one DER INTEGER"),
    ("7", bytes.fromhex("020401b3bef600"), f"extension {YUBICO}7 (serial number) is not one DER INTEGER"),
])
def test_yubico_extensions_are_decoded_strictly(env, tmp_path, arc, value, reason):
    extensions = {"3": bytes([5, 4, 3]), "7": bytes.fromhex("020401b3bef6"), "8": bytes([2, 1]), "9": bytes([0x81])}
    extensions[arc] = value
    chain = SelfMadeChain(extensions)
    evidence, root = tmp_path / "strict.pem", tmp_path / "strict-root.pem"
    evidence.write_bytes(chain.pem(chain.leaf, chain.f9))
    root.write_bytes(chain.pem(chain.root))
    status, report = verdict(env, "--roots", root, evidence)
    assert status == 1
    assert len(report["reasons"]) == 1 and report["reasons"][0].startswith("YubiKey attestation: " + reason)
    assert "yubikey" not in report and report["evidence"] == "yubikey-piv"


def test_older_firmware_without_policy_and_form_factor(env, tmp_path):
    chain = SelfMadeChain({"3": bytes([4, 3, 5]), "7": bytes.fromhex("020400bc614e")})
    evidence, root = tmp_path / "old.pem", tmp_path / "old-root.pem"
    evidence.write_bytes(chain.pem(chain.leaf, chain.f9))
    root.write_bytes(chain.pem(chain.root))
    status, report = verdict(env, "--roots", root, "--policy", "code-signing", evidence)
    assert status == 0, report
    assert report["yubikey"] == {"slot": "9a", "serial": "12345678", "firmware": "4.3.5", "pin_policy": "",
                                 "touch_policy": "", "form_factor": "", "fips": None, "cspn": None}
    assert report["policy"]["rules"][2]["detail"] == "PIN policy not given (older firmware)"
    text = pkc_cli(env, "verify", "--roots", root, evidence).stdout.decode()
    assert ("facts:     slot 9a, serial 12345678, firmware 4.3.5, PIN policy (not given), touch policy (not given), "
            "form factor (not given), FIPS edition (not given), CSPN edition (not given)") in text


def test_the_subject_must_name_the_slot(env, tmp_path):
    chain = SelfMadeChain(subject="YubiKey PIV Attestation")
    evidence, root = tmp_path / "noslot.pem", tmp_path / "noslot-root.pem"
    evidence.write_bytes(chain.pem(chain.leaf, chain.f9))
    root.write_bytes(chain.pem(chain.root))
    status, report = verdict(env, "--roots", root, evidence)
    assert status == 1
    assert report["reasons"] == ["YubiKey attestation: the subject 'CN=YubiKey PIV Attestation' is not "
                                 "CN=YubiKey PIV Attestation <slot>"]
