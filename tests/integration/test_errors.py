"""Issue 2, point 6: every failure reaches the error queue with the CKR name
and where it happened; the PIN never appears (checked after every test by
conftest.no_pin_in_any_output, over all output and the debug log)."""
import subprocess

import pytest

from conftest import error_text, printed, run


@pytest.fixture(scope="module")
def token(softhsm):
    softhsm.genpkey("err-rsa", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    return softhsm


@pytest.fixture(scope="module")
def shim(shimmed):
    shimmed.genpkey("shim-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    return shimmed


def fails_with(result, *fragments):
    assert result.returncode != 0
    text = error_text(result)
    for fragment in fragments:
        assert fragment in text, text
    return text


def load_with_pin(token, tmp_path, pin_spec):
    """openssl pkey on a private key, with `pin_spec` as the config's PIN."""
    config = token.write_config(tmp_path / "pin.cnf", extra=f"pkcs11-module-token-pin = {pin_spec}", pin_line=False)
    return token.openssl("pkey", "-in", token.uri(object="err-rsa", type="private"), "-pubout", check=False,
                         env=dict(token.env, OPENSSL_CONF=str(config)))


def test_wrong_pin(token, tmp_path):
    wrong = tmp_path / "wrong.pin"
    wrong.write_text("000000\n")
    token.debug_log.write_text("")
    text = fails_with(load_with_pin(token, tmp_path, f"file:{wrong}"), "token 'test token': C_Login: CKR_PIN_INCORRECT")
    assert "000000" not in text
    # Tried once: each wrong try counts toward locking a real token's PIN.
    # (The call's own log line; the error raised from it is logged as "error: ...".)
    calls = [line for line in token.debug_log.read_text().splitlines()
             if line == "hsmprov: token 'test token': C_Login: CKR_PIN_INCORRECT"]
    assert len(calls) == 1


def test_pin_file_gives_its_first_line(token, tmp_path):
    # As the example config says: a note on a second line (or a CRLF end) is not part of the PIN.
    noted = tmp_path / "noted.pin"
    noted.write_bytes(token.pin_file.read_text().strip().encode() + b"\r\nthe user PIN of 'test token'\n")
    result = load_with_pin(token, tmp_path, f"file:{noted}")
    assert result.returncode == 0, result.stderr
    assert b"BEGIN PUBLIC KEY" in result.stdout


def test_empty_pin_file_says_so(token, tmp_path):
    empty = tmp_path / "empty.pin"
    empty.write_text("\n")
    fails_with(load_with_pin(token, tmp_path, f"file:{empty}"), f"the PIN file '{empty}' is empty")


def test_unreadable_pin_file(token, tmp_path):
    fails_with(load_with_pin(token, tmp_path, f"file:{tmp_path}/absent"), f"cannot read the PIN file '{tmp_path}/absent'")


def test_missing_object(token):
    result = token.openssl("req", "-new", "-key", token.uri(object="no-such-key", type="private"), "-subj", "/CN=x",
                           check=False)
    fails_with(result, "no object on token 'test token' matches the pkcs11: URI")


def test_no_such_token(token):
    result = token.openssl("req", "-new", "-key", "pkcs11:token=not-here;object=k;type=private", "-subj", "/CN=x",
                           check=False)
    # Says what the module shows this user, so a wrong URI can be told from an
    # unreadable token.
    fails_with(result, "no token matches the pkcs11: URI", "shows 2 slots to uid", "token 'test token'",
               "1 uninitialised token", "check that this user can read it")


def test_uri_for_another_module_says_so(token):
    # Not "check that this user can read the token": the URI names another module.
    result = token.openssl("req", "-new", "-key", "pkcs11:library-manufacturer=Nobody;object=k;type=private",
                           "-subj", "/CN=x", check=False)
    fails_with(result, "the pkcs11: URI's library attributes do not match module", "library-manufacturer=SoftHSM",
               "library-version=2.")


def test_mechanism_the_token_refuses(token):
    """SoftHSM 2.6 decrypts OAEP with SHA-1 only."""
    public = token.tmp / "err-rsa.pub"
    public.write_bytes(token.public_key_pem("err-rsa"))
    plain, sealed = token.tmp / "p.bin", token.tmp / "s.bin"
    plain.write_bytes(b"secret")
    oaep256 = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256"]
    run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", public, *oaep256, "-in", plain, "-out", sealed],
        {"PATH": "/usr/bin:/bin"})
    result = token.openssl("pkeyutl", "-decrypt", "-inkey", token.uri(object="err-rsa", type="private"), *oaep256,
                           "-in", sealed, check=False)
    fails_with(result, "token 'test token', object 'err-rsa': C_DecryptInit: CKR_ARGUMENTS_BAD")


def test_unsupported_mechanism_injected(shim):
    shim.faults.write_text("C_SignInit CKR_MECHANISM_INVALID\n")
    try:
        result = shim.openssl("dgst", "-sha256", "-sign", shim.uri(object="shim-ec", type="private"), "/etc/hostname",
                              check=False)
    finally:
        shim.faults.write_text("")
    fails_with(result, "token 'shim token', object 'shim-ec': C_SignInit: CKR_MECHANISM_INVALID")


def certificate_for(shim, label):
    cert = shim.tmp / f"{label}.crt"
    if not cert.exists():
        shim.openssl("req", "-new", "-x509", "-key", shim.uri(object=label, type="private"), "-subj", "/CN=shim",
                     "-out", cert)
    return cert


def handshakes(shim, label, faults):
    """s_server keeps a key of the shimmed token; one handshake per entry of
    `faults`, each with that fault injected (None: none). Returns the
    clients' output and the server's stderr."""
    cert = certificate_for(shim, label)
    server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:0", "-key",
                               shim.uri(object=label, type="private"), "-cert", cert, "-tls1_3", "-naccept",
                               str(len(faults)), "-www"], env=shim.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outputs = []
    try:
        line = b""
        while not line.startswith(b"ACCEPT"):
            line = server.stdout.readline()
            assert server.poll() is None
        port = line.decode().strip().rsplit(":", 1)[-1]
        client = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-CAfile", cert, "-brief"]
        for fault in faults:
            shim.faults.write_text(fault + "\n" if fault else "")
            outputs.append(printed(run(client, {"PATH": "/usr/bin:/bin"}, input=b"GET / HTTP/1.0\r\n\r\n",
                                       check=False)))
    finally:
        shim.faults.write_text("")
        _, err = server.communicate(timeout=30)
    return outputs, err.decode()


def test_token_removed_mid_use_then_back(shim):
    """The token disappears for one handshake and comes back: the first
    fails with the CKR and where (after one recovery that found it gone
    still), the next succeeds."""
    (removed, back), err = handshakes(shim, "shim-ec", ["C_Sign CKR_DEVICE_REMOVED", None])
    assert "CONNECTION ESTABLISHED" not in removed
    assert "token 'shim token', object 'shim-ec': C_Sign: CKR_DEVICE_REMOVED" in err
    assert "CONNECTION ESTABLISHED" in back


@pytest.mark.parametrize("fault, asked_again", [("CKR_DEVICE_MEMORY", True), ("CKR_ACTION_PROHIBITED", False)])
def test_session_copy_failure_falls_back_to_the_token_object(shim, fault, asked_again):
    """A key's first operation uses the token object (a key used once needs
    no copy); a copy that fails signs with the token object; a token that
    forbids copies is not asked again, after any other failure the next use asks."""
    label = f"copy-{fault.lower()}"
    shim.genpkey(label, "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    certificate_for(shim, label)
    shim.debug_log.write_text("")
    outputs, _ = handshakes(shim, label, [None, f"C_CopyObject {fault}", None])
    assert all("CONNECTION ESTABLISHED" in output for output in outputs), outputs
    log = shim.debug_log.read_text()
    assert f"object '{label}': C_CopyObject: {fault}" in log
    assert (f"object '{label}': C_CopyObject: CKR_OK" in log) == asked_again


def test_token_gone_before_use(shim):
    shim.faults.write_text("C_OpenSession CKR_TOKEN_NOT_PRESENT\n")
    try:
        result = shim.openssl("pkey", "-in", shim.uri(object="shim-ec", type="private"), "-pubout", check=False)
    finally:
        shim.faults.write_text("")
    fails_with(result, "token 'shim token': C_OpenSession: CKR_TOKEN_NOT_PRESENT")


@pytest.mark.parametrize("setting, complaint", [
    ("1", "HSMPROV_DEBUG: '1' is neither level:N nor file:PATH; ignored"),
    ("level:x", "HSMPROV_DEBUG: 'level:x': the level is 0, 1 or 2; ignored"),
    ("level:1,file:/nonexistent/hsmprov.log",
     "HSMPROV_DEBUG: cannot append to '/nonexistent/hsmprov.log': No such file or directory; logging to stderr"),
])
def test_debug_setting_that_cannot_be_followed_is_said(token, setting, complaint):
    result = token.openssl("pkey", "-in", token.uri(object="err-rsa", type="private"), "-pubout",
                           env=dict(token.env, HSMPROV_DEBUG=setting))
    assert b"BEGIN PUBLIC KEY" in result.stdout
    assert complaint in error_text(result)
    if setting.startswith("level:1"):  # the log goes on, to stderr
        assert "hsmprov: loading PKCS#11 module" in error_text(result)
