"""Issue 2, point 7: the README's first command, examples/demo.sh, works."""
import os
import subprocess

from conftest import BUILD, ROOT, printed, sanitizer_env


def test_demo_runs_the_whole_workflow(tmp_path):
    env = dict(os.environ, HSMPROV_DEMO_DIR=str(tmp_path / "demo"), HSMPROV_BUILD_DIR=str(BUILD),
               **sanitizer_env())
    env.pop("OPENSSL_CONF", None)
    result = subprocess.run([ROOT / "examples" / "demo.sh"], capture_output=True, env=env, timeout=300)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "Certificate request self-signature verify OK" in printed(result)
    assert "the CSR carries the token key's public key" in out
    assert "the private key cannot leave the token" in out
    assert "-----BEGIN HSMPROV KEY REFERENCE-----" in out
    assert "PRIVATE KEY-----" not in out
    pin = (tmp_path / "demo" / "token.pin").read_text().strip()
    assert pin not in out + result.stderr.decode()
