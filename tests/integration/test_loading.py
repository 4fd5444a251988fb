"""Issue 2, point 1: loading, installation and configuration of the provider."""
import os
import subprocess
import time
from pathlib import Path

from conftest import BUILD, assert_documented, error_text, run, sanitizer_env


def test_list_providers_shows_name_version_status(softhsm):
    out = softhsm.openssl("list", "-providers", "-provider", "hsmprov").stdout.decode()
    assert "hsmprov" in out
    assert "name: hsmprov PKCS#11 provider" in out
    assert "version: 0.1.0" in out
    assert "status: active" in out


def test_build_tree_works_with_openssl_modules_and_no_config(softhsm):
    # Without a config the provider uses p11-kit's proxy, which offers SoftHSM
    # (registered with p11-kit by Debian's package).
    env = dict(softhsm.env, OPENSSL_CONF="/dev/null")
    out = run(["openssl", "list", "-providers", "-provider", "hsmprov"], env).stdout.decode()
    assert "status: active" in out


def test_cmake_install_puts_module_where_openssl_looks(tmp_path):
    modules_dir = subprocess.run(["openssl", "version", "-m"], capture_output=True, text=True).stdout
    modules_dir = modules_dir.split('"')[1]
    subprocess.run(["cmake", "--install", str(BUILD)], check=True, capture_output=True,
                   env=dict(os.environ, DESTDIR=str(tmp_path)))
    installed = tmp_path / modules_dir.lstrip("/") / "hsmprov.so"
    assert installed.is_file()
    assert (tmp_path / "usr/local/share/hsmprov/luna-roots.pem").is_file()  # issue 3: the pinned roots
    assert (tmp_path / "usr/local/share/hsmprov/yubico-piv-roots.pem").is_file()
    assert (tmp_path / "usr/local/bin/hsmprov-pkc").is_file()
    env = dict(os.environ, OPENSSL_MODULES=str(installed.parent), OPENSSL_CONF="/dev/null", **sanitizer_env())
    assert "status: active" in run(["openssl", "list", "-providers", "-provider", "hsmprov"], env).stdout.decode()


PKC_TOOL = BUILD / "src" / "hsmprov-pkc"


def assert_refused_on_first_use(token, config, expected):
    """A section hsmprov cannot follow costs a program that never uses
    hsmprov nothing and prints nothing; the first use fails with the reason,
    naming the key, its value and the file; hsmprov-pkc check-config says
    the same on demand."""
    env = dict(token.env, OPENSSL_CONF=str(config))
    where = f"hsmprov's config (provider 'hsmprov' in {config}): "
    for program in (["openssl", "version"], ["openssl", "list", "-providers"]):
        quiet = run(program, env)
        assert quiet.stderr == b"", quiet.stderr
    assert "status: active" in run(["openssl", "list", "-providers", "-verbose"], env).stdout.decode()
    used = run(["openssl", "storeutl", "pkcs11:"], env, check=False)
    assert used.returncode != 0
    assert where + expected in error_text(used), error_text(used)
    checked = run([PKC_TOOL, "check-config"], env, check=False)
    assert checked.returncode == 1 and where + expected in error_text(checked), error_text(checked)


def config_refused(token, tmp_path, extra, expected):
    assert_refused_on_first_use(token, token.write_config(tmp_path / "bad.cnf", extra=extra), expected)


def test_unknown_key_is_named_on_first_use(softhsm, tmp_path):
    config_refused(softhsm, tmp_path, "pkcs11-modul-path = /usr/lib/softhsm/libsofthsm2.so",
                   "unknown config key 'pkcs11-modul-path' (value '/usr/lib/softhsm/libsofthsm2.so')")
    assert_documented(f"hsmprov's config (provider 'hsmprov' in {tmp_path}/bad.cnf): unknown config key "
                      "'pkcs11-modul-path' (value '/usr/lib/softhsm/libsofthsm2.so')",
                      (f"{tmp_path}/bad.cnf", "/etc/ssl/openssl.cnf"))


def test_unknown_key_that_may_hold_a_pin_keeps_its_value_back(softhsm, tmp_path):
    config_refused(softhsm, tmp_path, "pkcs11-module-token-pn = 0000sekret",
                   "unknown config key 'pkcs11-module-token-pn' (its value not shown: it may be a PIN)")


def test_check_config_says_a_good_section_can_be_followed(softhsm):
    out = run([PKC_TOOL, "check-config"], softhsm.env).stdout.decode()
    assert f"provider 'hsmprov' in {softhsm.config}): can be followed; PKCS#11 module {softhsm.module}" in out


def in_a_library_context(token, tmp_path, label, default_extra, default_pin, own_pin, own_extra=""):
    """An application that loads its own config into a library context,
    while OPENSSL_CONF names another file with a section of hsmprov's."""
    token.genpkey(label, "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    default = token.write_config(tmp_path / "default.cnf", extra=default_extra, pin_line=default_pin)
    own = token.write_config(tmp_path / "own.cnf", extra=own_extra, pin_line=own_pin)
    helper = BUILD / "tests" / "hsmprov_libctx_config"
    return run([helper, own, token.uri(object=label, type="private")],
               dict(token.env, OPENSSL_CONF=str(default)), check=False)


def test_own_config_is_not_judged_by_the_default_files_keys(softhsm, tmp_path):
    # The default file's section has a key hsmprov does not know (so hsmprov
    # refuses to work from it); the application's own section, which
    # OpenSSL loaded into its context, has none.
    result = in_a_library_context(softhsm, tmp_path, "own-typo", "pkcs11-modul-path = /x.so", default_pin=True,
                                  own_pin=True, own_extra="pkcs11-module-cache-keys = no")
    assert result.returncode == 0, error_text(result)
    assert b"signed" in result.stdout


def test_own_config_takes_no_pin_from_the_default_file(softhsm, tmp_path):
    # Only the default file gives a PIN: the application's section, which
    # has none, must not sign with it.
    result = in_a_library_context(softhsm, tmp_path, "own-no-pin", "", default_pin=True, own_pin=False)
    assert result.returncode != 0, result.stdout
    assert "PIN" in error_text(result), error_text(result)


def test_bad_value_is_named_on_first_use(softhsm, tmp_path):
    config_refused(softhsm, tmp_path, "pkcs11-module-cache-keys = sometimes",
                   "config key 'pkcs11-module-cache-keys': 'sometimes' is not yes or no")


def test_literal_pin_in_config(softhsm, tmp_path):
    softhsm.genpkey("literal-pin", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    config = softhsm.write_config(tmp_path / "literal.cnf", extra=f"pkcs11-module-token-pin = {softhsm.pin}",
                                  pin_line=False)
    env = dict(softhsm.env, OPENSSL_CONF=str(config))
    out = run(["openssl", "pkey", "-in", softhsm.uri(object="literal-pin", type="private"), "-pubout"], env)
    assert b"BEGIN PUBLIC KEY" in out.stdout


def no_pin_env(token, tmp_path):
    config = token.write_config(tmp_path / "nopin.cnf", pin_line=False)
    return dict(token.env, OPENSSL_CONF=str(config))


def test_pin_from_uri_pin_source(softhsm, tmp_path):
    softhsm.genpkey("pin-source", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    uri = softhsm.uri(object="pin-source", type="private") + f"?pin-source=file:{softhsm.pin_file}"
    out = run(["openssl", "pkey", "-in", uri, "-pubout"], no_pin_env(softhsm, tmp_path))
    assert out.stdout == softhsm.public_key_pem("pin-source")


def test_pin_from_uri_pin_value(softhsm, tmp_path):
    softhsm.genpkey("pin-value", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    uri = softhsm.uri(object="pin-value", type="private") + f"?pin-value={softhsm.pin}"
    out = run(["openssl", "pkey", "-in", uri, "-pubout"], no_pin_env(softhsm, tmp_path))
    assert b"BEGIN PUBLIC KEY" in out.stdout


def test_pin_from_openssl_passphrase_prompt(softhsm, tmp_path):
    softhsm.genpkey("prompted", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    out = run(["openssl", "pkey", "-in", softhsm.uri(object="prompted", type="private"), "-pubout",
               "-passin", f"file:{softhsm.pin_file}"], no_pin_env(softhsm, tmp_path))
    assert out.stdout == softhsm.public_key_pem("prompted")


def wait_for_echo_off(fd, seconds=20.0):
    """OpenSSL prints its prompt before it turns the terminal's echo off:
    typing at the prompt alone races it (the PIN was echoed 3 runs in 10)."""
    import termios
    deadline = time.monotonic() + seconds
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.monotonic() < deadline, "the terminal's echo never went off"
        time.sleep(0.01)


def test_pin_typed_at_the_terminal(softhsm, tmp_path):
    """A real pseudo-terminal: OpenSSL's prompt names the token, the PIN typed there logs in."""
    import pty
    softhsm.genpkey("typed", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    pid, fd = pty.fork()
    if pid == 0:
        env = no_pin_env(softhsm, tmp_path)
        os.execvpe("openssl", ["openssl", "pkey", "-in", softhsm.uri(object="typed", type="private"), "-pubout"],
                   env)
    transcript = b""
    while b"pass phrase" not in transcript.lower():
        transcript += os.read(fd, 1024)
    wait_for_echo_off(fd)
    os.write(fd, softhsm.pin.encode() + b"\n")
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            transcript += chunk
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, transcript
    assert b"PKCS#11 token 'test token'" in transcript
    assert b"BEGIN PUBLIC KEY" in transcript
    assert softhsm.pin.encode() not in transcript  # not echoed


def test_no_pin_anywhere_is_a_clear_error(softhsm, tmp_path):
    env = dict(no_pin_env(softhsm, tmp_path))
    result = run(["openssl", "pkey", "-in", softhsm.uri(type="private"), "-pubout", "-passin", "pass:"], env,
                 check=False)
    assert result.returncode != 0
    assert "needs a PIN for private keys" in error_text(result)
