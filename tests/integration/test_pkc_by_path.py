"""Luna PKC files by plain path (no pkc: prefix), through the PKC decoder:
stock openssl commands read a PKC (DER or PEM) as its leaf certificate or
its attested key, leave ordinary PKCS#7 files alone, and refuse a broken
PKC with the rule it breaks."""
import os

import pytest

import pkc_vectors as vectors
from conftest import BUILD, ROOT, common_name, run, sanitizer_env
from pkc_cli import cli_env

DATA = ROOT / "tests" / "data" / "luna-pkc"
ROOTS = ROOT / "data" / "luna-roots.pem"
OUIDS = {"rsa": "41000000ae000002d6f30700", "ecc": "43000000ae000002d6f30700"}


@pytest.fixture(scope="module")
def env():
    return cli_env()


@pytest.fixture(scope="module")
def config_env(tmp_path_factory):
    """hsmprov and default activated by configuration, as system-wide: no -provider option."""
    config = tmp_path_factory.mktemp("config") / "openssl.cnf"
    config.write_text("""openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
hsmprov = hsmprov_sect
[default_sect]
activate = 1
[hsmprov_sect]
pkcs11-module-path = /nonexistent/the-pkc-decoder-needs-no-module.so
activate = 1
""")
    return dict(os.environ, OPENSSL_CONF=str(config), OPENSSL_MODULES=str(BUILD / "provider"), **sanitizer_env())


def ossl(env, *args, check=True):
    return run(["openssl", *args[:1], "-provider", "hsmprov", "-provider", "default", *args[1:]], env, check=check)


def as_pem(der: bytes, before: str = "", newline: str = "\n") -> bytes:
    """PEM as OpenSSL writes it, with optional text before the block and other line ends."""
    import base64
    body = base64.b64encode(der).decode()
    lines = [before] if before else []
    lines += ["-----BEGIN PKCS7-----", *[body[i:i + 64] for i in range(0, len(body), 64)], "-----END PKCS7-----", ""]
    return newline.join(lines).encode()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Each sample as DER, as plain PEM, and as PEM with text before it and CRLF line ends."""
    directory = tmp_path_factory.mktemp("pkc")
    out = {}
    for profile in ("rsa", "ecc"):
        der = (DATA / f"{profile}-pkc.p7b").read_bytes()
        for form, content in [("der", der), ("pem", as_pem(der)),
                              ("crlf", as_pem(der, before="Attestation of key 1 from HSM 521174", newline="\r\n"))]:
            path = directory / f"{profile}-{form}.p7b"
            path.write_bytes(content)
            out[profile, form] = path
    return out


FORMS = [(profile, form) for profile in ("rsa", "ecc") for form in ("der", "pem", "crlf")]


@pytest.mark.parametrize("profile, form", FORMS)
def test_x509_reads_the_leaf_by_path(env, files, profile, form):
    out = ossl(env, "x509", "-in", files[profile, form], "-noout", "-subject").stdout.decode()
    assert common_name(out) == OUIDS[profile]


@pytest.mark.parametrize("profile", ["rsa", "ecc"])
def test_leaf_by_path_is_the_leaf_of_the_pkc_store(env, files, profile):
    # The same bytes as pkc: hands out (the ECC leaf's signature re-encoded as DER).
    by_path = ossl(env, "x509", "-in", files[profile, "pem"], "-outform", "DER").stdout
    by_store = ossl(env, "x509", "-in", f"pkc:{DATA / f'{profile}-pkc.p7b'}", "-outform", "DER").stdout
    assert by_path == by_store and by_path


@pytest.mark.parametrize("profile, form", FORMS)
def test_verify_takes_the_target_by_path(env, files, profile, form):
    path = files[profile, form]
    out = ossl(env, "verify", "-CAfile", ROOTS, "-untrusted", f"pkc:{path}", path).stdout.decode()
    assert out.strip() == f"{path}: OK"


@pytest.mark.parametrize("profile, form", FORMS)
def test_pkey_pubin_by_path_is_the_csr_key(env, files, profile, form):
    attested = ossl(env, "pkey", "-pubin", "-in", files[profile, form], "-outform", "DER").stdout
    csr_key = run(["openssl", "req", "-in", DATA / f"{profile}-test.csr", "-pubkey", "-noout"], env).stdout
    assert attested == run(["openssl", "pkey", "-pubin", "-outform", "DER"], env, input=csr_key).stdout


def test_by_path_with_hsmprov_from_the_config(config_env, files):
    # No -provider option and a module that does not exist: the PKC decoder needs no token.
    out = run(["openssl", "x509", "-in", files["ecc", "crlf"], "-noout", "-subject"], config_env).stdout.decode()
    assert common_name(out) == OUIDS["ecc"]
    path = files["rsa", "der"]
    out = run(["openssl", "verify", "-CAfile", ROOTS, "-untrusted", f"pkc:{path}", path], config_env).stdout.decode()
    assert out.strip() == f"{path}: OK"
    key = run(["openssl", "pkey", "-pubin", "-in", files["rsa", "pem"], "-noout", "-text"], config_env).stdout
    assert key.startswith(b"Public-Key: (2048 bit)")


@pytest.fixture(scope="module")
def ordinary_pkcs7(tmp_path_factory):
    """A certs-only PKCS#7 of an ordinary certificate, as `openssl crl2pkcs7` writes it, PEM and DER."""
    directory = tmp_path_factory.mktemp("ordinary")
    bare = dict(os.environ, OPENSSL_CONF="/dev/null")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", directory / "key.pem", "-subj", "/CN=ordinary", "-out", directory / "cert.pem"], bare)
    for form in ("PEM", "DER"):
        run(["openssl", "crl2pkcs7", "-nocrl", "-certfile", directory / "cert.pem", "-outform", form,
             "-out", directory / f"ordinary.{form.lower()}"], bare)
    return directory


@pytest.mark.parametrize("form", ["pem", "der"])
def test_ordinary_pkcs7_is_left_to_openssl(env, ordinary_pkcs7, form):
    path = ordinary_pkcs7 / f"ordinary.{form}"
    bare = dict(os.environ, OPENSSL_CONF="/dev/null")
    for command in (["x509", "-in", path, "-noout", "-subject"], ["pkey", "-pubin", "-in", path, "-noout"]):
        ours = ossl(env, *command, check=False)
        stock = run(["openssl", *command], bare, check=False)
        assert ours.returncode == stock.returncode != 0  # what stock OpenSSL does with it, we do
        assert b"hsmprov" not in ours.stderr
    listed = ossl(env, "pkcs7", "-inform", form.upper(), "-in", path, "-print_certs", "-noout").stdout
    assert b"subject=CN = ordinary" in listed or b"subject=CN=ordinary" in listed  # OpenSSL 3.0, 3.5


def broken_pkcs(tmp_path):
    """PKC-shaped files that break a rule, with the rule's words."""
    certificates = vectors.certificates_of(vectors.real("rsa-pkc.p7b"))
    missing_dac = vectors.certs_only([c for i, c in enumerate(certificates) if i != 1])
    truncated = vectors.real("ecc-pkc.p7b")[:700]
    cases = {"missing-dac.p7b": (as_pem(missing_dac), "PKC rule 'chain' fails: the chain stops at"),
             "signed-message.p7b": (vectors.signed_message(), "PKC rule 'certs-only' fails"),
             "truncated.p7b": (truncated, "PKC rule 'pkcs7' fails: the file is truncated")}
    for name, (content, _) in cases.items():
        (tmp_path / name).write_bytes(content)
    return {tmp_path / name: reason for name, (_, reason) in cases.items()}


def test_broken_pkc_by_path_decodes_to_nothing_with_the_rule(env, tmp_path):
    for path, reason in broken_pkcs(tmp_path).items():
        for command in (["x509", "-in", path, "-noout", "-subject"], ["pkey", "-pubin", "-in", path]):
            result = ossl(env, *command, check=False)
            assert result.returncode != 0 and b"subject=" not in result.stdout, path
            assert b"BEGIN PUBLIC KEY" not in result.stdout, path
            assert reason in result.stderr.decode(), (path, result.stderr)


def test_self_made_chain_with_the_real_names_is_read_but_not_trusted(env, tmp_path):
    # The decoder applies the structure rules, not trust: that is openssl verify's (or hsmprov-pkc's) job.
    path = tmp_path / "self-made.p7b"
    path.write_bytes(vectors.SelfMadeChain().pkcs7())
    assert b"subject=" in ossl(env, "x509", "-in", path, "-noout", "-subject").stdout
    result = ossl(env, "verify", "-CAfile", ROOTS, "-untrusted", f"pkc:{path}", path, check=False)
    assert result.returncode != 0 and b": OK" not in result.stdout


def test_cafile_never_reaches_a_provider_and_trusted_or_castore_do(env, files, tmp_path):
    # What the attestation guide's table (docs/attestation.md) says about -CAfile and its replacements.
    path = files["rsa", "der"]
    as_cafile = ossl(env, "verify", "-CAfile", f"pkc:{path}", path, check=False)
    assert as_cafile.returncode != 0 and b"hsmprov" not in as_cafile.stderr  # opened as a plain file
    for option, value in [("-trusted", ROOTS), ("-CAstore", f"file:{ROOTS}")]:
        out = ossl(env, "verify", option, value, "-untrusted", f"pkc:{path}", path).stdout.decode()
        assert out.strip() == f"{path}: OK"
