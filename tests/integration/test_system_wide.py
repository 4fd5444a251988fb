"""hsmprov in the OpenSSL config every program reads: loading it costs no
PKCS#11 call, the token's own tools keep working, a broken module or token
stays silent until a token key is used, and an application that initialised
the module itself keeps it."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (BUILD, ROOT, SANITIZE, SOFTHSM_MODULE, TSAN, assert_documented, error_text, run,
                      skip_if_hangs_under_asan)

SPY_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so"
CERT_SUBJECT = "/CN=system-wide"


@pytest.fixture(scope="module")
def token(softhsm):
    softhsm.genpkey("wide-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    return softhsm


@pytest.fixture
def spied(token, tmp_path):
    """The token's config with OpenSC's pkcs11-spy in front of SoftHSM: the
    spy's log exists only once the module has been loaded."""
    if not Path(SPY_MODULE).exists():
        pytest.skip("pkcs11-spy (package opensc-pkcs11) is not installed")
    log = tmp_path / "spy.log"

    def env_for(extra=""):
        config = token.write_config(tmp_path / "spy.cnf", extra=extra)
        config.write_text(config.read_text().replace(token.module, SPY_MODULE))
        return dict(token.env, OPENSSL_CONF=str(config), PKCS11SPY=SOFTHSM_MODULE, PKCS11SPY_OUTPUT=str(log))

    return env_for, log


def pkcs11_calls(log: Path):
    return [line for line in log.read_text().splitlines() if ": C_" in line] if log.exists() else []


def test_programs_that_use_no_token_key_make_no_pkcs11_call(token, spied, tmp_path):
    env_for, log = spied
    env = env_for()
    run(["openssl", "version"], env)
    run(["openssl", "list", "-providers"], env)
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", tmp_path / "sw.pem"],
        env)
    run(["openssl", "req", "-new", "-x509", "-key", tmp_path / "sw.pem", "-subj", CERT_SUBJECT, "-out",
         tmp_path / "sw.crt"], env)
    run(["/usr/bin/python3", "-c", "import ssl; ssl.create_default_context()"], env)
    if not SANITIZE:  # curl hangs at start with the ASan runtime preloaded
        run(["curl", "-s", "-o", "/dev/null", "--cacert", tmp_path / "sw.crt", "https://127.0.0.1:1/"], env,
            check=False)
    assert pkcs11_calls(log) == []
    # The same config, a token key: now the module is loaded.
    run(["openssl", "pkey", "-in", token.uri(object="wide-ec", type="private"), "-pubout"], env)
    assert pkcs11_calls(log)[:2] == ["0: C_GetFunctionList", "1: C_Initialize"]


def test_early_load_behaviour_loads_the_module_with_the_provider(spied):
    env_for, log = spied
    run(["openssl", "version"], env_for("pkcs11-module-load-behavior = early"))
    assert "1: C_Initialize" in pkcs11_calls(log)


def test_load_behaviour_takes_early_or_lazy_only(token, tmp_path):
    config = token.write_config(tmp_path / "bad.cnf", extra="pkcs11-module-load-behavior = eager")
    env = dict(token.env, OPENSSL_CONF=str(config))
    assert run(["openssl", "list", "-providers"], env).stderr == b""  # not early: nothing before the first use
    used = run(["openssl", "pkey", "-in", token.uri(object="wide-ec", type="private"), "-pubout"], env, check=False)
    assert "config key 'pkcs11-module-load-behavior': 'eager' is not early or lazy" in error_text(used)


def test_early_load_with_a_section_it_cannot_follow_says_so_at_load(token, tmp_path):
    config = token.write_config(tmp_path / "bad-early.cnf",
                                extra="pkcs11-module-load-behavior = early\npkcs11-modul-path = /x.so")
    listed = run(["openssl", "list", "-providers"], dict(token.env, OPENSSL_CONF=str(config)), check=False)
    assert ("hsmprov: the provider is not loaded: hsmprov's config (provider 'hsmprov' in "
            f"{config}): unknown config key 'pkcs11-modul-path' (value '/x.so')") in error_text(listed)


def test_pkc_store_needs_no_module(token, tmp_path):
    config = token.write_config(tmp_path / "nomodule.cnf")
    config.write_text(config.read_text().replace(token.module, "/nonexistent/libpkcs11.so"))
    pkc = ROOT / "tests/data/luna-pkc/rsa-pkc.p7b"
    out = run(["openssl", "storeutl", "-certs", f"pkc:{pkc}"], dict(token.env, OPENSSL_CONF=str(config)))
    assert "Total found: 5" in out.stdout.decode()
    assert error_text(out) == ""


@pytest.mark.parametrize("tool", [
    ["softhsm2-util", "--show-slots"],
    ["pkcs11-tool", "--module", SOFTHSM_MODULE, "--list-objects"],
    ["p11tool", "--list-tokens"],
    ["p11-kit", "list-modules"],
], ids=["softhsm2-util", "pkcs11-tool", "p11tool", "p11-kit"])
def test_token_tools_work_with_hsmprov_in_the_config(token, tool):
    # SoftHSM loads OpenSSL's config inside its own C_Initialize; that loads
    # hsmprov, which must not call SoftHSM again from there.
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} is not installed")
    skip_if_hangs_under_asan(tool[0])
    out = run(tool, token.env)
    assert "test token" in out.stdout.decode() or tool[0] == "pkcs11-tool"


def test_module_is_not_entered_again_from_its_own_initialisation(shimmed, tmp_path):
    # The test shim loads the config into a library context of its own from
    # inside C_Initialize, as SoftHSM does; that config loads hsmprov early,
    # which must refuse to call C_Initialize again from there.
    shimmed.genpkey("reentry-ec", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    config = shimmed.write_config(tmp_path / "early.cnf", extra="pkcs11-module-load-behavior = early")
    trace, result = tmp_path / "trace", tmp_path / "result"
    env = dict(shimmed.env, OPENSSL_CONF=str(config), HSMPROV_SHIM_CONFIG_ON_INIT=str(config),
               HSMPROV_SHIM_CONFIG_RESULT=str(result), HSMPROV_SHIM_TRACE=str(trace))
    out = run(["openssl", "pkey", "-in", shimmed.uri(object="reentry-ec", type="private"), "-pubout"], env,
              timeout=60)
    assert out.stdout.decode().startswith("-----BEGIN PUBLIC KEY-----")
    assert trace.read_text().splitlines().count("C_Initialize") == 1
    assert result.read_text() == "hsmprov is not up\n"
    message = "the PKCS#11 module called back into hsmprov from its own C_Initialize"
    assert f"hsmprov: the provider is not loaded: {message}" in error_text(out)
    assert_documented(message)


def test_pkcs11_tool_lists_the_keys_with_hsmprov_in_the_config(token):
    out = run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", token.label, "--login", "--pin",
               token.pin, "--list-objects", "--type", "privkey"], token.env)
    assert "label:      wide-ec" in out.stdout.decode()


def test_application_that_initialised_the_module_keeps_it(token):
    helper = BUILD / "tests" / "hsmprov_shared_module"
    env = dict(token.env, HSMPROV_TEST_PIN=token.pin)
    out = run([helper, SOFTHSM_MODULE, token.label, token.config, token.uri(object="wide-ec", type="private")], env)
    assert "signed, module still initialised" in out.stdout.decode()
    assert "was initialised by the application: shared" in token.debug_log.read_text()


@pytest.fixture
def readable_dir():
    """A directory another user can read (pytest's own are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="hsmprov-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def as_nobody(args, env, check=True):
    if os.geteuid() != 0:
        pytest.skip("running a program as another user needs root")
    return run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *args], env, check=check)


def broken_env(token, directory: Path, softhsm_conf: str, extra=""):
    """Config, SoftHSM config and the provider where another user can read
    them (a checkout under /root is not readable to nobody)."""
    config = token.write_config(directory / "openssl.cnf", extra=extra)
    (directory / "softhsm2.conf").write_text(softhsm_conf)
    modules = directory / "modules"
    modules.mkdir()
    shutil.copy(BUILD / "provider" / "hsmprov.so", modules)
    for f in [*directory.iterdir(), *modules.iterdir()]:
        f.chmod(0o755 if f.is_dir() else 0o644)
    env = dict(token.env, OPENSSL_CONF=str(config), SOFTHSM2_CONF=str(directory / "softhsm2.conf"),
               OPENSSL_MODULES=str(modules))
    env.pop("HSMPROV_DEBUG")  # the debug log lives in root's directory
    return env


def assert_silent(args, env, user=None):
    result = (as_nobody(args, env) if user == "nobody" else run(args, env))
    assert result.returncode == 0
    assert error_text(result) == ""


@pytest.mark.skipif(SANITIZE or TSAN,
                    reason="sanitized builds link the C++ runtime as a shared library")
def test_loading_the_module_writes_little_and_carries_no_demangler():
    # With a system-wide config every OpenSSL program loads hsmprov. The
    # dynamic linker writes every page of its relocated data at load, each a
    # page fault (tens of microseconds in a virtual machine): that data stays
    # within 16 KiB (it was 21 KiB with libstdc++'s verbose terminate handler
    # and per-key-type copies of the parameter tables).
    module = BUILD / "provider" / "hsmprov.so"
    segments = subprocess.run(["readelf", "-lW", module], capture_output=True, text=True, check=True).stdout
    writable = [line.split() for line in segments.splitlines() if line.split()[:1] == ["LOAD"] and "RW" in line]
    assert len(writable) == 1, segments
    assert int(writable[0][4], 16) <= 4 * 4096, segments  # its size in the file: what relocation writes
    symbols = subprocess.run(["nm", module], capture_output=True, text=True, check=True).stdout
    assert "cplus_demangle" not in symbols


def test_missing_module_costs_programs_without_token_keys_nothing(token, tmp_path):
    config = token.write_config(tmp_path / "nomodule.cnf")
    config.write_text(config.read_text().replace(token.module, "/nonexistent/libpkcs11.so"))
    env = dict(token.env, OPENSSL_CONF=str(config))
    assert_silent(["openssl", "version"], env)
    assert_silent(["/usr/bin/python3", "-c", "import ssl; ssl.create_default_context()"], env)
    listed = run(["openssl", "list", "-providers"], env)
    assert "hsmprov" in listed.stdout.decode() and error_text(listed) == ""
    used = run(["openssl", "storeutl", "pkcs11:"], env, check=False)
    assert used.returncode != 0
    assert ("cannot load PKCS#11 module '/nonexistent/libpkcs11.so' (named by pkcs11-module-path): /nonexistent/libpkcs11.so: cannot open shared "
            "object file: No such file or directory") in error_text(used)


def test_missing_pin_file_costs_nothing_until_a_private_key_is_used(token, tmp_path):
    config = token.write_config(tmp_path / "nopinfile.cnf")
    config.write_text(config.read_text().replace(str(token.pin_file), "/nonexistent/token.pin"))
    env = dict(token.env, OPENSSL_CONF=str(config))
    assert_silent(["openssl", "version"], env)
    used = run(["openssl", "pkey", "-in", token.uri(object="wide-ec", type="private"), "-pubout"], env, check=False)
    assert used.returncode != 0
    assert "cannot read the PIN file '/nonexistent/token.pin': No such file or directory" in error_text(used)


# Servers take key files, which OpenSSL reads through its decoders; it drops
# the errors of all but the first decoder of a chain, which raises the cause
# again. Both ways a server reads a key file: OSSL_STORE (s_server, apps) and
# PEM_read_bio_PrivateKey (nginx).
@pytest.mark.parametrize("broken, cause", [
    ("/nonexistent/libpkcs11.so", "cannot load PKCS#11 module '/nonexistent/libpkcs11.so' (named by pkcs11-module-path): /nonexistent/libpkcs11.so: "
                                  "cannot open shared object file: No such file or directory"),
    ("/nonexistent/token.pin", "cannot read the PIN file '/nonexistent/token.pin': No such file or directory")])
def test_key_file_names_the_cause_of_a_broken_section(token, tmp_path, broken, cause):
    config = token.write_config(tmp_path / "broken.cnf")
    replaced = token.module if broken.endswith(".so") else str(token.pin_file)
    config.write_text(config.read_text().replace(replaced, broken))
    env = dict(token.env, OPENSSL_CONF=str(config))
    reference = token.tmp / "wide-ec.ref.pem"
    used = run(["openssl", "pkey", "-in", reference, "-pubout"], env, check=False)
    assert used.returncode != 0 and cause in error_text(used), error_text(used)
    cert = tmp_path / "any.crt"  # servers read the certificate first; any will do
    run(["openssl", "req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", tmp_path / "any.key", "-subj", "/CN=localhost", "-days", "2", "-out", cert],
        dict(env, OPENSSL_CONF="/dev/null"))
    # Python takes a set errno for the cause of a failed call: hsmprov leaves
    # errno as it found it (a failed dlopen or open set ENOENT).
    python = run(["/usr/bin/python3", "-c", "import ssl, sys; ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)"
                  ".load_cert_chain(sys.argv[1], sys.argv[2])", cert, reference], env, check=False)
    assert python.returncode != 0 and "ssl.SSLError" in error_text(python), error_text(python)
    if shutil.which("nginx") is None:
        return
    nginx_conf = tmp_path / "nginx.conf"
    nginx_conf.write_text(f"""error_log {tmp_path}/error.log;
pid {tmp_path}/nginx.pid;
events {{}}
http {{ server {{ listen 127.0.0.1:1 ssl; ssl_certificate {cert}; ssl_certificate_key {reference}; }} }}
""")
    checked = run(["nginx", "-t", "-c", nginx_conf], env, check=False)
    assert checked.returncode != 0 and cause in error_text(checked), error_text(checked)
    if broken.endswith(".so"):  # the line the guide quotes, its file name and the cause shortened
        line = re.search(r'cannot load certificate key "([^"]*)": (PEM_read_bio_PrivateKey\(\) failed \(SSL: '
                         r'error:[0-9A-F]+:hsmprov::cannot load the PKCS#11 module:)', error_text(checked))
        assert line, error_text(checked)
        assert_documented(f"cannot load certificate key ... {line.group(2)}...)")


def first_use_as_nobody(token, env):
    """Silent for a program that uses no token key; the first use fails: its error."""
    assert_silent(["openssl", "version"], env, user="nobody")
    used = as_nobody(["openssl", "storeutl", token.uri(type="cert")], env, check=False)
    assert used.returncode != 0
    return error_text(used)


def test_token_unreadable_for_the_user_is_silent_then_named(token, readable_dir):
    # SoftHSM can list the token directory but not the token in it (root's, 0700).
    (readable_dir / "tokens").mkdir()
    shutil.copytree(token.tmp / "tokens", readable_dir / "tokens", dirs_exist_ok=True)
    (readable_dir / "tokens").chmod(0o755)
    env = broken_env(token, readable_dir, f"directories.tokendir = {readable_dir}/tokens\nobjectstore.backend = file\n")
    message = ("no token matches the pkcs11: URI; module '/usr/lib/softhsm/libsofthsm2.so' shows 1 slot to uid 65534 "
               "(nobody): 1 uninitialised token; if the token exists, check that this user can read it")
    assert message in first_use_as_nobody(token, env)
    assert_documented(message, ("uid 65534 (nobody)", "uid 33 (www-data)"))


def test_token_directory_unreadable_for_the_user_is_silent_then_named(token, readable_dir):
    env = broken_env(token, readable_dir, f"directories.tokendir = {token.tmp}/tokens\nobjectstore.backend = file\n")
    message = ("C_Initialize: CKR_GENERAL_ERROR as uid 65534 (nobody); if the module keeps its tokens in files (SoftHSM "
               "does), check that this user can read its config and token directory")
    assert message in first_use_as_nobody(token, env)
    assert_documented(message, ("uid 65534 (nobody)", "uid 33 (www-data)"))


def stock_openssl_cnf() -> str:
    """This system's own openssl.cnf, as its distribution installs it
    (Debian 12's or 13's): the file the system-wide setup (docs/configuration.md) adds one line to."""
    out = subprocess.run(["openssl", "version", "-d"], capture_output=True, text=True, check=True).stdout
    return (Path(out.split('"')[1]) / "openssl.cnf").read_text()


def system_wide_env(token, tmp_path, extra=""):
    """openssl.cnf ends with `.include hsmprov.cnf`, the documented setup,
    hsmprov.cnf being the example the package ships, pointed at the token."""
    text = (ROOT / "hsmprov.cnf.example").read_text()
    text = text.replace("pkcs11-module-path = /usr/lib/softhsm/libsofthsm2.so", f"pkcs11-module-path = {token.module}")
    text = text.replace("file:/etc/hsmprov/token.pin", f"file:{token.pin_file}")
    text = text.replace("[hsmprov_sect]\n", f"[hsmprov_sect]\n{extra}\n")
    assert str(token.module) in text and str(token.pin_file) in text
    included = tmp_path / "hsmprov.cnf"
    included.write_text(text)
    main = tmp_path / "openssl.cnf"
    main.write_text(stock_openssl_cnf() + f"\n.include {included}\n")
    return dict(token.env, OPENSSL_CONF=str(main))


def test_system_wide_include_loads_hsmprov_and_default(token, tmp_path):
    env = system_wide_env(token, tmp_path)
    assert_silent(["openssl", "version"], env)
    listed = run(["openssl", "list", "-providers"], env).stdout.decode()
    assert "hsmprov" in listed and "default" in listed
    out = run(["openssl", "pkey", "-in", token.uri(object="wide-ec", type="private"), "-pubout"], env)
    assert out.stdout == token.public_key_pem("wide-ec")


def test_system_wide_include_refuses_an_unknown_key_on_first_use_only(token, tmp_path):
    env = system_wide_env(token, tmp_path, extra="pkcs11-module-cache-key = false")
    assert_silent(["openssl", "version"], env)
    assert_silent(["/usr/bin/python3", "-c", "import ssl; ssl.create_default_context()"], env)
    used = run(["openssl", "pkey", "-in", token.uri(object="wide-ec", type="private"), "-pubout"], env, check=False)
    assert used.returncode != 0
    assert "unknown config key 'pkcs11-module-cache-key' (value 'false')" in error_text(used)
