"""The README's first command, examples/demo.sh, runs the whole workflow on a
SoftHSM token and prints each step's proof: the key made and used in the
token, the real Luna PKCs verified against both root sets, the code-signing
verdicts, and the BYOK wrap and unwrap round trip; the PIN is never printed."""
import os
import subprocess

from conftest import BUILD, ROOT, printed, sanitizer_env


def steps_of(out: str) -> dict:
    """Each "== " step's header mapped to the lines printed under it."""
    steps, current = {}, None
    for line in out.splitlines():
        if line.startswith("== "):
            current = steps.setdefault(line[3:], [])
        elif current is not None:
            current.append(line)
    return {header: "\n".join(lines) for header, lines in steps.items()}


def step(steps: dict, start: str) -> str:
    matching = [text for header, text in steps.items() if header.startswith(start)]
    assert len(matching) == 1, f"no single step '{start}...' in: {list(steps)}"
    return matching[0]


def test_demo_runs_the_whole_workflow(tmp_path):
    env = dict(os.environ, HSMPROV_DEMO_DIR=str(tmp_path / "demo"), HSMPROV_BUILD_DIR=str(BUILD),
               **sanitizer_env())
    env.pop("OPENSSL_CONF", None)
    result = subprocess.run([ROOT / "examples" / "demo.sh"], capture_output=True, env=env, timeout=300)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    steps = steps_of(out)

    # 1. a key generated and used in the token
    assert "-----BEGIN HSMPROV KEY REFERENCE-----" in out
    assert "Certificate request self-signature verify OK" in printed(result)
    assert "=> the CSR carries the token key's public key" in out
    assert "the private key cannot leave the token" in out
    assert "PRIVATE KEY-----" not in out

    # 2. both real PKCs, with their CSRs, against the pinned and the published roots
    for start in ("against the pinned roots", "against the roots Thales publishes"):
        text = step(steps, start)
        for kind in ("rsa", "ecc"):
            assert f"tests/data/luna-pkc/{kind}-pkc.p7b: VALID" in text, text
        assert text.count("CSR:       matches the attested key") == 2, text
        assert "INVALID" not in text, text

    # 3. the code-signing key rules: RSA 2048 fails (exit status 1, expected), P-256 passes
    text = step(steps, "the RSA sample under --policy code-signing")
    assert "tests/data/luna-pkc/rsa-pkc.p7b: INVALID" in text, text
    assert "reason:    policy code-signing: RSA 2048 bits; code signing needs 3072 or more" in text, text
    assert "=> a 2048-bit RSA key is refused for code signing: RSA 2048 bits; code signing needs 3072 or more" in text
    text = step(steps, "the ECC sample under --policy code-signing")
    assert "tests/data/luna-pkc/ecc-pkc.p7b: VALID" in text, text
    assert "ok   key-type-and-size: EC P-256" in text, text

    # 4. BYOK: wrapped in the token, unwrapped in software, the same key
    assert "demo-aes.wrapped: 424 bytes" in out
    assert "stand-in KMS imported a 32-byte key" in out
    assert "two wraps under two KMS keys: different blobs, the same 32 bytes unwrapped from both" in out
    assert "=> BYOK round trip: both unwraps passed RFC 5649's integrity check and gave the same 32-byte " \
           "AES-256 key, the token's" in out
    assert not list((tmp_path / "demo").rglob("*import*.key"))  # no unwrapped key is left behind

    pin = (tmp_path / "demo" / "token.pin").read_text().strip()
    assert pin not in out + result.stderr.decode()
