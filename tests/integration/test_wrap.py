"""Issue 4: wrapping token keys for cloud KMS import inside the token, with
stock `openssl pkeyutl`. The tests play the KMS: they make the RSA wrapping
key pair in software, the token wraps, the tests unwrap in software and show
the unwrapped key does exactly what the token's key does."""
import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

from conftest import BUILD, NSS_MODULE, ROOT, error_text, run

HELPER = BUILD / "tests" / "hsmprov_p11_objects"
BLOCK = bytes.fromhex("00112233445566778899aabbccddeeff")
HASHES = {"1": hashes.SHA1, "256": hashes.SHA256}


def rsa_aes(algorithm: str) -> bool:
    return "AES_KEY_WRAP" in algorithm or algorithm.endswith("_AES_256")


class Kms:
    """A software stand-in for the KMS's import wrapping key."""

    def __init__(self, tmp, bits):
        self.key = rsa.generate_private_key(65537, bits)
        self.public_der = tmp / f"kms-{bits}.der"
        self.public_der.write_bytes(self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.bits = bits

    def unwrap(self, algorithm: str, blob: bytes) -> bytes:
        sha = HASHES["256" if "SHA_256" in algorithm or "SHA256" in algorithm else "1"]
        oaep = padding.OAEP(mgf=padding.MGF1(sha()), algorithm=sha(), label=None)
        if not rsa_aes(algorithm):
            return self.key.decrypt(blob, oaep)
        k = self.bits // 8
        return aes_key_unwrap_with_padding(self.key.decrypt(blob[:k], oaep), blob[k:])


def helper(token, *args):
    init_args = token.init_args if token.module == NSS_MODULE else ""
    env = dict(token.tool_env() if hasattr(token, "tool_env") else token.env, HSMPROV_TEST_PIN=token.pin)
    env.pop("LD_PRELOAD", None)
    return run([HELPER, token.module, init_args, token.label, *args], env).stdout.decode().strip()


def wrap(token, kms_key, target, algorithm, *options, check=True, out=None):
    out = out or token.tmp / f"wrapped-{target}-{algorithm}.bin"
    inkey = ["-pubin", "-inkey", kms_key] + ([] if str(kms_key).startswith("pkcs11:") else ["-keyform", "DER"])
    result = token.openssl("pkeyutl", "-encrypt", "-propquery", "?provider=hsmprov", *inkey, "-pkeyopt",
                           f"hsmprov-wrap-target:{token.uri(object=target)}", "-pkeyopt",
                           f"hsmprov-wrap-algorithm:{algorithm}", *options, "-in", "/dev/null", "-out", out,
                           check=check)
    return result, out


def same_as_token_aes(token, label, key):
    software = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(BLOCK)
    assert helper(token, "ecb", label, BLOCK.hex()) == software.hex()


@pytest.fixture(scope="module")
def softhsm_keys(softhsm):
    helper(softhsm, "aes", "aes-256", "32", "extractable")
    helper(softhsm, "aes", "aes-128", "16", "extractable")
    helper(softhsm, "hmac", "hmac-key", "32")
    helper(softhsm, "aes", "locked-aes", "32", "fixed")
    helper(softhsm, "aes", "trusted-only", "32", "trusted-only")
    helper(softhsm, "rsa", "extractable-rsa", "2048")
    softhsm.kms = {bits: Kms(softhsm.tmp, bits) for bits in (2048, 3072, 4096)}
    return softhsm


@pytest.fixture(scope="module")
def nss_keys(nss):
    helper(nss, "aes", "aes-256", "32", "extractable")
    helper(nss, "rsa", "nss-rsa", "2048")
    helper(nss, "ec", "nss-ec")
    nss.kms = {3072: Kms(nss.tmp, 3072)}
    return nss


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_1"])
def test_softhsm_sha1_forms_round_trip(softhsm_keys, algorithm, bits):
    token, kms = softhsm_keys, softhsm_keys.kms[bits]
    _, out = wrap(token, kms.public_der, "aes-256", algorithm)
    blob = out.read_bytes()
    assert len(blob) == bits // 8 + (40 if rsa_aes(algorithm) else 0)  # RSA part, then KWP(32 bytes) = 40
    same_as_token_aes(token, "aes-256", kms.unwrap(algorithm, blob))


def test_aes128_and_hmac_targets(softhsm_keys):
    token, kms = softhsm_keys, softhsm_keys.kms[3072]
    _, out = wrap(token, kms.public_der, "aes-128", "RSA_AES_KEY_WRAP_SHA_1")
    same_as_token_aes(token, "aes-128", kms.unwrap("RSA_AES_KEY_WRAP_SHA_1", out.read_bytes()))
    _, out = wrap(token, kms.public_der, "hmac-key", "RSAES_OAEP_SHA_1")
    key = kms.unwrap("RSAES_OAEP_SHA_1", out.read_bytes())
    data = b"known message"
    assert helper(token, "sign-hmac", "hmac-key", data.hex()) == hmac.new(key, data, hashlib.sha256).hexdigest()


def test_google_names(softhsm_keys):
    token, kms = softhsm_keys, softhsm_keys.kms[3072]
    _, out = wrap(token, kms.public_der, "aes-256", "RSA_OAEP_3072_SHA1_AES_256")
    same_as_token_aes(token, "aes-256", kms.unwrap("RSA_AES_KEY_WRAP_SHA_1", out.read_bytes()))
    result, _ = wrap(token, softhsm_keys.kms[4096].public_der, "aes-256", "RSA_OAEP_3072_SHA1_AES_256", check=False)
    assert result.returncode != 0 and "needs an RSA-3072 wrapping key; this one has 4096 bits" in error_text(result)


def test_wrapping_key_on_the_token(softhsm_keys):
    token, kms = softhsm_keys, softhsm_keys.kms[2048]
    token.p11tool("--write-object", kms.public_der, "--type", "pubkey", "--label", "kms-wrapping-key", "--id", "f1")
    _, out = wrap(token, token.uri(object="kms-wrapping-key", type="public"), "aes-256", "RSAES_OAEP_SHA_1")
    same_as_token_aes(token, "aes-256", kms.unwrap("RSAES_OAEP_SHA_1", out.read_bytes()))


def test_nothing_is_left_on_the_token(softhsm_keys):
    token = softhsm_keys
    before = token.p11tool("--list-objects").stdout
    wrap(token, token.kms[3072].public_der, "aes-256", "RSA_AES_KEY_WRAP_SHA_1")
    assert token.p11tool("--list-objects").stdout == before


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"])
def test_nss_sha256_forms_round_trip(nss_keys, algorithm):
    token, kms = nss_keys, nss_keys.kms[3072]
    _, out = wrap(token, kms.public_der, "aes-256", algorithm)
    same_as_token_aes(token, "aes-256", kms.unwrap(algorithm, out.read_bytes()))


@pytest.mark.parametrize("label", ["nss-rsa", "nss-ec"])
def test_nss_private_keys_as_pkcs8(nss_keys, label):
    token, kms = nss_keys, nss_keys.kms[3072]
    _, out = wrap(token, kms.public_der, label, "RSA_AES_KEY_WRAP_SHA_256")
    private = serialization.load_der_private_key(kms.unwrap("RSA_AES_KEY_WRAP_SHA_256", out.read_bytes()), None)
    ours = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tokens = token.openssl("pkey", "-in", token.uri(object=label, type="private"), "-pubout", "-outform", "DER").stdout
    assert ours == tokens


def test_kwp_known_answers_on_nss(nss):
    """RFC 5649, section 6, through the token's CKM_AES_KEY_WRAP_KWP."""
    kek = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
    assert helper(nss, "kwp", kek, "c37b7e6492584340bed12207808941155068f738") == \
        "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
    assert helper(nss, "kwp", kek, "466f7250617369") == "afbeb0f07dfbf5419200f2ccb50bb24f"


def test_azure_byok(softhsm_keys):
    token, kms = softhsm_keys, softhsm_keys.kms[3072]
    kid = "https://example-vault.vault.azure.net/keys/KEK/0123456789abcdef"
    _, out = wrap(token, kms.public_der, "aes-256", "RSA_AES_KEY_WRAP_SHA_1", "-pkeyopt",
                  "hsmprov-wrap-format:azure-byok", "-pkeyopt", f"hsmprov-azure-kid:{kid}")
    byok = json.loads(out.read_text())
    assert byok["schema_version"] == "1.0.0"
    assert byok["header"] == {"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"}
    assert byok["generator"].startswith("hsmprov ")
    ciphertext = base64.urlsafe_b64decode(byok["ciphertext"] + "=" * (-len(byok["ciphertext"]) % 4))
    same_as_token_aes(token, "aes-256", kms.unwrap("RSA_AES_KEY_WRAP_SHA_1", ciphertext))


def refused(token, target, algorithm, expected, *options, kms_bits=3072, kms_key=None):
    result, _ = wrap(token, kms_key or token.kms[kms_bits].public_der, target, algorithm, *options, check=False)
    assert result.returncode != 0
    assert expected in error_text(result), error_text(result)
    return result


def test_refusals(softhsm_keys, tmp_path):
    token = softhsm_keys
    refused(token, "locked-aes", "RSAES_OAEP_SHA_1", "was created with CKA_EXTRACTABLE false")
    refused(token, "locked-aes", "RSAES_OAEP_SHA_1", "a Luna creates keys non-extractable unless told otherwise")
    refused(token, "trusted-only", "RSAES_OAEP_SHA_1", "has CKA_WRAP_WITH_TRUSTED")
    refused(token, "aes-256", "RSAES_OAEP_SHA_256", "C_WrapKey: CKR_ARGUMENTS_BAD")
    refused(token, "aes-256", "RSAES_OAEP_SHA_256", "this token can do: RSAES_OAEP_SHA_1")
    refused(token, "extractable-rsa", "RSAES_OAEP_SHA_1", "is a private key: it is wrapped as PKCS#8")
    refused(token, "extractable-rsa", "RSA_AES_KEY_WRAP_SHA_1", "has no RFC 5649 key wrap (CKM_AES_KEY_WRAP_KWP")
    refused(token, "aes-256", "RSAES_PKCS1_V1_5", "retired by AWS KMS in October 2023")
    refused(token, "aes-256", "ROT13", "unknown hsmprov-wrap-algorithm 'ROT13', one of: RSAES_OAEP_SHA_1")
    refused(token, "aes-256", "RSA_AES_KEY_WRAP_SHA_1", "Azure .byok output needs hsmprov-azure-kid",
            "-pkeyopt", "hsmprov-wrap-format:azure-byok")
    small = Kms(tmp_path, 1024)
    refused(token, "aes-256", "RSAES_OAEP_SHA_1", "wrapping keys under 2048 bits are refused", kms_key=small.public_der)
    refused(token, "no-such-key", "RSAES_OAEP_SHA_1", "matches 0 secret or private keys")


@pytest.mark.parametrize("yes", ["yes", "YES", "true", "on", "1"])
def test_legacy_pkcs1_only_when_asked(softhsm_keys, yes):
    token, kms = softhsm_keys, softhsm_keys.kms[2048]
    _, out = wrap(token, kms.public_der, "aes-256", "RSAES_PKCS1_V1_5", "-pkeyopt", f"hsmprov-wrap-legacy:{yes}")
    same_as_token_aes(token, "aes-256", kms.key.decrypt(out.read_bytes(), padding.PKCS1v15()))


def test_legacy_flag_takes_only_a_boolean(softhsm_keys):
    refused(softhsm_keys, "aes-256", "RSAES_PKCS1_V1_5", "hsmprov-wrap-legacy is yes or no", "-pkeyopt",
            "hsmprov-wrap-legacy:maybe", kms_bits=2048)
    refused(softhsm_keys, "aes-256", "RSAES_PKCS1_V1_5", "hsmprov-wrap-legacy:yes", "-pkeyopt",
            "hsmprov-wrap-legacy:no", kms_bits=2048)


def test_only_googles_import_method_names(softhsm_keys):
    # Google's methods are RSA_OAEP_3072_* and RSA_OAEP_4096_*: a 2048 name is no method of theirs.
    refused(softhsm_keys, "aes-256", "RSA_OAEP_2048_SHA256_AES_256",
            "unknown hsmprov-wrap-algorithm 'RSA_OAEP_2048_SHA256_AES_256', one of:", kms_bits=2048)


def test_input_must_be_empty(softhsm_keys, tmp_path):
    token = softhsm_keys
    data = tmp_path / "data.bin"
    data.write_bytes(b"not empty")
    result = token.openssl("pkeyutl", "-encrypt", "-propquery", "?provider=hsmprov", "-pubin", "-inkey",
                           token.kms[3072].public_der, "-keyform", "DER", "-pkeyopt",
                           f"hsmprov-wrap-target:{token.uri(object='aes-256')}", "-pkeyopt",
                           "hsmprov-wrap-algorithm:RSAES_OAEP_SHA_1", "-in", data, check=False)
    assert result.returncode != 0 and "give an empty input (-in /dev/null)" in error_text(result)


@pytest.mark.parametrize("script, extra", [
    ("aws-kms-byok.sh", {"ALGORITHM": "RSA_AES_KEY_WRAP_SHA_1"}),
    ("aws-kms-byok.sh", {"ALGORITHM": "RSAES_OAEP_SHA_1"}),
    ("azure-byok.sh", {}),
    ("gcp-import.sh", {}),
])
def test_examples_run_end_to_end_with_a_stand_in_kms(softhsm_keys, tmp_path, script, extra):
    token = softhsm_keys
    label = f"example-{script.split('-')[0]}-{len(extra.get('ALGORITHM', ''))}"
    env = dict(token.env, TOKEN_PIN_FILE=str(token.pin_file), **extra)
    result = run([ROOT / "examples" / script, token.label, label, tmp_path], env)
    out = result.stdout.decode()
    assert "stand-in KMS imported a 32-byte key" in out
    same_as_token_aes(token, label, (tmp_path / "imported.key").read_bytes())
    if script == "azure-byok.sh":
        assert json.loads((tmp_path / f"{label}.byok").read_text())["header"]["enc"] == "CKM_RSA_AES_KEY_WRAP"


def test_the_issue_command_with_hsmprov_loaded_first(softhsm_keys, tmp_path):
    """The form of the issue: -provider hsmprov -provider default, no -propquery,
    with hsmprov ahead of the default provider."""
    token, kms = softhsm_keys, softhsm_keys.kms[3072]
    config = token.write_config(tmp_path / "first.cnf")
    config.write_text(config.read_text().replace("default = default_sect\n", ""))
    out = tmp_path / "EncryptedKeyMaterial.bin"
    run(["openssl", "pkeyutl", "-encrypt", "-provider", "hsmprov", "-provider", "default", "-pubin", "-inkey",
         kms.public_der, "-keyform", "DER", "-pkeyopt",
         f"hsmprov-wrap-target:{token.uri(object='aes-256', type='secret-key')}", "-pkeyopt",
         "hsmprov-wrap-algorithm:RSA_AES_KEY_WRAP_SHA_1", "-in", "/dev/null", "-out", out],
        dict(token.env, OPENSSL_CONF=str(config)))
    same_as_token_aes(token, "aes-256", kms.unwrap("RSA_AES_KEY_WRAP_SHA_1", out.read_bytes()))
