"""Programs we do not control, with a token key through hsmprov: what they
pass in the environment (PKCS11_MODULE_PATH, PKCS11_PROVIDER_MODULE), what
they ask of a key (its private values), and the signing tools of a PKI
(openssl ca, ocsp, ts; osslsigncode, sbsign), each result checked by a program that
does not load hsmprov (OPENSSL_CONF=/dev/null)."""
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BUILD, SANITIZE, SOFTHSM_MODULE, assert_documented, error_text, run

NO_HSMPROV = {"OPENSSL_CONF": "/dev/null"}


def without_module_line(token, tmp_path):
    """The token's config with no pkcs11-module-path: the module then comes
    from the environment, else p11-kit's proxy."""
    config = token.write_config(tmp_path / "no-module.cnf")
    text = re.sub(r"(?m)^pkcs11-module-path = .*\n", "", config.read_text())
    config.write_text(text)
    return config


@pytest.fixture(scope="module")
def signer(softhsm):
    """An RSA key in the token, its key reference file and a self-signed
    certificate made with it."""
    reference = softhsm.genpkey("programs-rsa", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    cert = softhsm.tmp / "programs-rsa.crt"
    softhsm.openssl("req", "-new", "-x509", "-key", reference, "-subj", "/CN=hsmprov signer", "-days", "2",
                    "-addext", "extendedKeyUsage=codeSigning,OCSPSigning",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-out", cert)
    return reference, cert


def need_uninstrumented(program, package):
    """Skips, saying why, where `program` is missing or the build is under
    the sanitizers (the program is not instrumented)."""
    if shutil.which(program) is None:
        pytest.skip(f"{package} is not installed")
    if SANITIZE:
        pytest.skip(f"{program} is not instrumented; the normal build runs this test")


def plain(token, *args, check=True):
    """openssl without hsmprov: what checks our results."""
    return run(["openssl", *args], dict(token.env, **NO_HSMPROV), check=check)


@pytest.mark.parametrize("variable", ["PKCS11_MODULE_PATH", "PKCS11_PROVIDER_MODULE"])
def test_the_environment_names_the_module_a_config_does_not(softhsm, signer, tmp_path, variable):
    # osslsigncode 2.10 passes its -pkcs11module as PKCS11_MODULE_PATH (as libp11 reads it);
    # pkcs11-provider's users set PKCS11_PROVIDER_MODULE.
    reference, _cert = signer
    env = dict(softhsm.env, OPENSSL_CONF=str(without_module_line(softhsm, tmp_path)), **{variable: SOFTHSM_MODULE})
    out = run(["openssl", "pkey", "-in", reference, "-pubout"], env)
    assert out.stdout == softhsm.public_key_pem("programs-rsa")
    assert f"loading PKCS#11 module '{SOFTHSM_MODULE}' (named by {variable})" in softhsm.debug_log.read_text()


def test_a_module_the_environment_names_that_does_not_load_is_an_error(softhsm, signer, tmp_path):
    reference, _cert = signer
    env = dict(softhsm.env, OPENSSL_CONF=str(without_module_line(softhsm, tmp_path)),
               PKCS11_MODULE_PATH=str(tmp_path / "no-such-module.so"))
    out = run(["openssl", "pkey", "-in", reference, "-pubout"], env, check=False)
    assert out.returncode != 0 and out.stdout == b""
    message = f"cannot load PKCS#11 module '{tmp_path}/no-such-module.so' (named by PKCS11_MODULE_PATH)"
    assert message in error_text(out), error_text(out)
    assert_documented(message, (f"{tmp_path}/no-such-module.so", "/x.so"))


@pytest.fixture
def setuid_helper():
    """A copy of hsmprov_libctx_config (it loads the config file it is
    given, as a setuid program would, since OpenSSL ignores OPENSSL_CONF
    there) in a directory every user can enter, and a debug log file
    www-data may append to."""
    if os.geteuid() != 0:
        pytest.skip("a setuid-root program run by another user: the test needs root")
    if SANITIZE:
        pytest.skip("the sanitizer runtimes refuse setuid programs; the normal build runs this test")
    base = Path(tempfile.mkdtemp(prefix="hsmprov-setuid-"))
    base.chmod(0o755)
    program = base / "libctx_config"
    shutil.copy(BUILD / "tests" / "hsmprov_libctx_config", program)
    log = base / "debug.log"
    log.touch()
    shutil.chown(log, "www-data")
    yield base, program, log
    shutil.rmtree(base, ignore_errors=True)


def test_a_setuid_program_ignores_the_module_and_the_debug_log_its_caller_names(softhsm, setuid_helper):
    # Its caller must not choose the module it loads or a file it appends to.
    base, program, log = setuid_helper
    text = without_module_line(softhsm, base).read_text()
    config = base / "no-module.cnf"
    config.write_text(text.replace("[hsmprov_sect]\n", f"[hsmprov_sect]\nmodule = {BUILD}/provider/hsmprov.so\n"))
    config.chmod(0o644)
    env = {"PATH": "/usr/bin:/bin", "PKCS11_MODULE_PATH": "/nonexistent/module.so",
           "HSMPROV_DEBUG": f"level:2,file:{log}"}
    args = [program, config, softhsm.uri(object="programs-rsa", type="private")]

    def as_www_data():
        result = subprocess.run(args, env=env, user="www-data", capture_output=True, timeout=60)
        return result.stderr.decode(errors="replace")

    # Not setuid: the environment names the module, and the log is written.
    assert "cannot load PKCS#11 module '/nonexistent/module.so' (named by PKCS11_MODULE_PATH)" in as_www_data()
    assert "named by PKCS11_MODULE_PATH" in log.read_text()
    log.write_text("")
    program.chmod(0o4755)  # setuid root
    errors = as_www_data()
    # The module a config without one gets: p11-kit's proxy.
    assert "p11-kit-proxy.so" in errors and "/nonexistent" not in errors, errors
    assert log.read_text() == ""


def test_the_config_module_wins_over_the_environment(softhsm, signer, tmp_path):
    reference, _cert = signer
    env = dict(softhsm.env, PKCS11_MODULE_PATH=str(tmp_path / "no-such-module.so"))
    out = run(["openssl", "pkey", "-in", reference, "-pubout"], env)
    assert out.stdout == softhsm.public_key_pem("programs-rsa")


def test_python_cryptography_is_refused_the_private_values_and_the_log_says_so(softhsm, signer, tmp_path):
    # cryptography turns every key it loads into a legacy RSA/EC structure,
    # which needs the private values: a token key cannot be one of its keys.
    reference, _cert = signer
    softhsm.debug_log.write_text("")
    # cryptography loads OpenSSL's legacy provider, from OPENSSL_MODULES when it is set: hsmprov by path instead.
    config = softhsm.write_config(tmp_path / "by-path.cnf", extra=f"module = {BUILD}/provider/hsmprov.so")
    env = dict(softhsm.env, OPENSSL_CONF=str(config), HSMPROV_DEBUG=f"level:1,file:{softhsm.debug_log}")
    env.pop("OPENSSL_MODULES")
    out = run(["/usr/bin/python3", "-c", "import sys\n"
               "from cryptography.hazmat.primitives.serialization import load_pem_private_key\n"
               "load_pem_private_key(open(sys.argv[1], 'rb').read(), None)", reference], env, check=False)
    if b"No module named 'cryptography'" in out.stderr:
        pytest.skip("python3-cryptography is not installed")
    assert out.returncode != 0
    log = softhsm.debug_log.read_text()
    assert re.search(r"program 'python3(\.\d+)?' asked for the private values of token 'test token', "
                     r"object 'programs-rsa'; refused: they never leave the token", log), log


def test_signing_does_not_ask_for_the_private_values(softhsm, signer, tmp_path):
    reference, _cert = signer
    softhsm.debug_log.write_text("")
    env = dict(softhsm.env, HSMPROV_DEBUG=f"level:1,file:{softhsm.debug_log}")
    (tmp_path / "m").write_bytes(b"message")
    run(["openssl", "dgst", "-sha256", "-sign", reference, "-out", tmp_path / "sig", tmp_path / "m"], env)
    assert "private values" not in softhsm.debug_log.read_text()


def test_openssl_ca_signs_a_request_with_the_token_key(softhsm, signer, tmp_path):
    reference, cert = signer
    (tmp_path / "index.txt").write_text("")
    (tmp_path / "serial").write_text("1000\n")
    (tmp_path / "ca.cnf").write_text(f"""[ca]
default_ca = token_ca
[token_ca]
database = {tmp_path}/index.txt
serial = {tmp_path}/serial
new_certs_dir = {tmp_path}
certificate = {cert}
private_key = {reference}
default_md = sha256
default_days = 1
policy = anything
[anything]
commonName = supplied
""")
    plain(softhsm, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
          tmp_path / "leaf.key", "-subj", "/CN=leaf", "-out", tmp_path / "leaf.csr")
    softhsm.openssl("ca", "-batch", "-config", tmp_path / "ca.cnf", "-in", tmp_path / "leaf.csr", "-out",
                    tmp_path / "leaf.crt")
    out = plain(softhsm, "verify", "-CAfile", cert, tmp_path / "leaf.crt")
    assert out.stdout.decode().strip().endswith(": OK")


def test_openssl_ocsp_responds_with_the_token_key(softhsm, signer, tmp_path):
    reference, cert = signer
    index = tmp_path / "index.txt"
    index.write_text("")
    plain(softhsm, "ocsp", "-issuer", cert, "-cert", cert, "-no_nonce", "-reqout", tmp_path / "req.der")
    softhsm.openssl("ocsp", "-index", index, "-CA", cert, "-rsigner", cert, "-rkey", reference, "-reqin",
                    tmp_path / "req.der", "-respout", tmp_path / "resp.der")
    out = plain(softhsm, "ocsp", "-respin", tmp_path / "resp.der", "-CAfile", cert, "-issuer", cert, "-cert",
                cert)
    assert "Response verify OK" in error_text(out) + out.stdout.decode()
    assert ": unknown" in out.stdout.decode()  # the empty index knows no certificate


def test_openssl_ts_stamps_with_the_token_key(softhsm, signer, tmp_path):
    reference, _cert = signer
    cert = tmp_path / "tsa.crt"  # a TSA's certificate has timeStamping as its only, critical, purpose
    softhsm.openssl("req", "-new", "-x509", "-key", reference, "-subj", "/CN=hsmprov TSA", "-days", "2",
                    "-addext", "extendedKeyUsage=critical,timeStamping", "-out", cert)
    (tmp_path / "data").write_bytes(b"what was there at that time")
    (tmp_path / "serial").write_text("01\n")
    (tmp_path / "ts.cnf").write_text(f"""[tsa]
default_tsa = token_tsa
[token_tsa]
serial = {tmp_path}/serial
signer_cert = {cert}
signer_key = {reference}
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
ess_cert_id_alg = sha256
""")
    plain(softhsm, "ts", "-query", "-data", tmp_path / "data", "-sha256", "-cert", "-out", tmp_path / "q.tsq")
    softhsm.openssl("ts", "-reply", "-config", tmp_path / "ts.cnf", "-queryfile", tmp_path / "q.tsq", "-out",
                    tmp_path / "r.tsr")
    out = plain(softhsm, "ts", "-verify", "-data", tmp_path / "data", "-in", tmp_path / "r.tsr", "-CAfile", cert)
    assert "Verification: OK" in out.stdout.decode()


def minimal_pe() -> bytes:
    """A PE32+ image of one section (a `ret`): the smallest file
    osslsigncode signs and verifies as Windows would."""
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x22)
    optional = bytearray(240)
    struct.pack_into("<HBBIIIII", optional, 0, 0x20B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000)
    struct.pack_into("<QIIHHHHHHIIIIHHQQQQII", optional, 24, 0x140000000, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0,
                     0x2000, 0x200, 0, 3, 0x8160, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    section = struct.pack("<8sIIIIIIHHI", b".text", 0x1000, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    header = bytes(dos) + b"PE\0\0" + coff + bytes(optional) + section
    return header + bytes(0x200 - len(header)) + b"\xc3" + bytes(0x1FF)


def test_osslsigncode_signs_with_a_key_reference_file(softhsm, signer, tmp_path):
    need_uninstrumented("osslsigncode", "osslsigncode (bookworm-backports and trixie have it)")
    reference, cert = signer
    (tmp_path / "a.exe").write_bytes(minimal_pe())
    softhsm.program("osslsigncode", "sign", "-certs", cert, "-key", reference, "-h", "sha256", "-in",
                    tmp_path / "a.exe", "-out", tmp_path / "signed.exe")
    out = run(["osslsigncode", "verify", "-in", tmp_path / "signed.exe", "-CAfile", cert],
              dict(softhsm.env, **NO_HSMPROV))
    assert "Signature verification: ok" in out.stdout.decode()
    tampered = bytearray((tmp_path / "signed.exe").read_bytes())
    tampered[0x200] = 0x90  # the code: the signature no longer covers it
    (tmp_path / "tampered.exe").write_bytes(tampered)
    out = run(["osslsigncode", "verify", "-in", tmp_path / "tampered.exe", "-CAfile", cert],
              dict(softhsm.env, **NO_HSMPROV), check=False)
    assert out.returncode != 0


def test_sbsign_signs_an_efi_image_with_a_key_reference_file(softhsm, signer, tmp_path):
    need_uninstrumented("sbsign", "sbsigntool")
    reference, _cert = signer
    cert = tmp_path / "db.crt"  # as a Secure Boot db key's: sbverify refuses a certificate limited to other uses
    softhsm.openssl("req", "-new", "-x509", "-key", reference, "-subj", "/CN=hsmprov db", "-days", "2", "-out", cert)
    (tmp_path / "a.efi").write_bytes(minimal_pe())
    softhsm.program("sbsign", "--key", reference, "--cert", cert, "--output", tmp_path / "signed.efi",
                    tmp_path / "a.efi")
    checked = run(["sbverify", "--cert", cert, tmp_path / "signed.efi"], dict(softhsm.env, **NO_HSMPROV))
    assert "Signature verification OK" in checked.stdout.decode()
    tampered = bytearray((tmp_path / "signed.efi").read_bytes())
    tampered[0x200] = 0x90
    (tmp_path / "tampered.efi").write_bytes(tampered)
    checked = run(["sbverify", "--cert", cert, tmp_path / "tampered.efi"], dict(softhsm.env, **NO_HSMPROV),
                  check=False)
    assert checked.returncode != 0


def test_check_config_names_the_module_the_environment_gives(softhsm, tmp_path):
    env = dict(softhsm.env, OPENSSL_CONF=str(without_module_line(softhsm, tmp_path)),
               PKCS11_PROVIDER_MODULE=SOFTHSM_MODULE)
    out = run([BUILD / "src" / "hsmprov-pkc", "check-config"], env).stdout.decode()
    assert f"PKCS#11 module {SOFTHSM_MODULE} (named by PKCS11_PROVIDER_MODULE)" in out


def node(token, env, script, *args):
    need_uninstrumented("node", "Node.js")
    return run(["node", *args, "-e", script], env, check=False, timeout=60)


def test_node_signs_with_a_key_reference_file_given_the_shared_config(softhsm, signer, tmp_path):
    # Node reads only its own nodejs_conf section unless told to read OpenSSL's.
    reference, cert = signer
    script = ("const crypto = require('crypto'), fs = require('fs');\n"
              f"const key = crypto.createPrivateKey(fs.readFileSync('{reference}'));\n"
              f"fs.writeFileSync('{tmp_path}/sig', crypto.sign('sha256', Buffer.from('message'), key));")
    out = node(softhsm, softhsm.env, script, "--openssl-shared-config")
    assert out.returncode == 0, error_text(out)
    (tmp_path / "m").write_bytes(b"message")
    plain(softhsm, "x509", "-in", cert, "-pubkey", "-noout", "-out", tmp_path / "pub.pem")
    checked = plain(softhsm, "dgst", "-sha256", "-verify", tmp_path / "pub.pem", "-signature", tmp_path / "sig",
                    tmp_path / "m")
    assert checked.stdout.decode().strip() == "Verified OK"
    without = node(softhsm, softhsm.env, script)
    assert without.returncode != 0 and "DECODER routines::unsupported" in error_text(without)


def test_node_key_details_need_the_private_values_and_the_log_says_so(softhsm, signer):
    reference, _cert = signer
    softhsm.debug_log.write_text("")
    env = dict(softhsm.env, HSMPROV_DEBUG=f"level:1,file:{softhsm.debug_log}")
    script = ("const crypto = require('crypto'), fs = require('fs');\n"
              f"console.log(crypto.createPrivateKey(fs.readFileSync('{reference}')).asymmetricKeyDetails);")
    out = node(softhsm, env, script, "--openssl-shared-config")
    assert out.returncode != 0  # Node asserts that the RSA structure exists, and aborts
    message = "program 'node' asked for the private values of token 'test token', object 'programs-rsa'; refused: " \
              "they never leave the token"
    assert message in softhsm.debug_log.read_text()
    assert_documented(message, ("'test token'", "'web'"), ("'programs-rsa'", "'tls'"))
