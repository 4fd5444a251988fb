"""hsmprov-pkc as the attestation tests run it: its path, an environment
that loads no OpenSSL config (and finds the provider of this build), and
its JSON verdicts. Every run must end with 0, 1 or 2, never a crash."""
import json
import os

from conftest import BUILD, run, sanitizer_env

CLI = BUILD / "src" / "hsmprov-pkc"


def cli_env():
    return dict(os.environ, OPENSSL_CONF="/dev/null", OPENSSL_MODULES=str(BUILD / "provider"), **sanitizer_env())


def pkc_cli(env, *args):
    result = run([CLI, *args], env, check=False)
    assert result.returncode in (0, 1, 2), result  # never a crash
    return result


def verdicts(env, *args):
    """The exit status and the JSON reports of `hsmprov-pkc verify --json`."""
    result = pkc_cli(env, "verify", "--json", *args)
    return result.returncode, json.loads(result.stdout)


def verdict(env, *args):
    """The exit status and the one report of a single file."""
    status, reports = verdicts(env, *args)
    assert len(reports) == 1, reports
    return status, reports[0]
