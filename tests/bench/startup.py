#!/usr/bin/python3
"""Start-up benchmark: two programs that never use a token key, with hsmprov
in the OpenSSL config against the same config without it, and against a
provider that does nothing (what OpenSSL spends on loading any provider
module), and against latchset's pkcs11-provider where it is installed
(Debian 13's package), configured alike. The programs: `openssl version`,
and Python making a default TLS
client context (which reads the system's CA bundle: OpenSSL 3.0 decodes
every certificate's key through the decoders of all providers). Each config
is this system's own openssl.cnf (as a system-wide setup has it) with a
providers section of the variant's. Runs alternate one by one between the
variants, so drift and bursts of load hit all alike; times are medians.
    tests/bench/startup.py [RUNS_PER_VARIANT (2000; a tenth of it for Python)]
Needs a build in build/ (tests/run.sh makes one)."""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HSMPROV_BUILD_DIR", ROOT / "build"))
PKCS11_PROVIDER = Path("/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so")

PROVIDERS = """
[bench_init]
providers = bench_providers
[bench_providers]
default = bench_default
{provider_line}
[bench_default]
activate = 1
{provider_section}"""


def system_config() -> str:
    """The system's openssl.cnf, with openssl_conf pointing at our section."""
    directory = subprocess.run(["openssl", "version", "-d"], capture_output=True, text=True).stdout.split('"')[1]
    lines = (Path(directory) / "openssl.cnf").read_text().splitlines()
    lines = [line for line in lines if not re.match(r"\s*openssl_conf\s*=", line)]
    return "openssl_conf = bench_init\n" + "\n".join(lines) + "\n"


def configs(work: Path):
    base = system_config()
    variants = {
        "without hsmprov": ("", ""),
        # Not named "null": OpenSSL would take its built-in null provider and never load the module.
        "a provider that does nothing": ("nothing = bench_nothing", f"[bench_nothing]\nmodule = {BUILD}/tests/"
                                         "hsmprov_null_provider.so\nactivate = 1\n"),
        "with hsmprov": ("hsmprov = bench_hsmprov", "[bench_hsmprov]\npkcs11-module-path = "
                         f"/usr/lib/softhsm/libsofthsm2.so\npkcs11-module-token-pin = file:{work}/token.pin\n"
                         "activate = 1\n"),
    }
    if PKCS11_PROVIDER.exists():
        variants["with pkcs11-provider"] = ("pkcs11 = bench_pkcs11", f"[bench_pkcs11]\nmodule = {PKCS11_PROVIDER}\n"
                                            "pkcs11-module-path = /usr/lib/softhsm/libsofthsm2.so\n"
                                            f"pkcs11-module-token-pin = file:{work}/token.pin\nactivate = 1\n")
    paths = {}
    for name, (line, section) in variants.items():
        paths[name] = work / f"{len(paths)}.cnf"
        paths[name].write_text(base + PROVIDERS.format(provider_line=line, provider_section=section))
    return paths


PROGRAMS = {
    "`openssl version`": ["/usr/bin/openssl", "version"],
    "Python: `ssl.create_default_context()`": ["/usr/bin/python3", "-c", "import ssl; ssl.create_default_context()"],
}


def one_run(argv, env):
    """Seconds the run took, and the page faults it made: in a virtual machine
    each first touch of a page costs microseconds, and they explain most of
    what loading a module costs."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    assert status == 0, f"{argv} failed"
    return time.perf_counter() - start, usage.ru_minflt + usage.ru_majflt


def measure(argv, variants, runs):
    """Median seconds and median page faults of each variant."""
    runs_of = {name: [] for name in variants}
    names = list(variants)
    for i in range(runs * len(names)):
        name = names[i % len(names)]
        runs_of[name].append(one_run(argv, variants[name]))
    return {name: (statistics.median(t for t, _ in values), statistics.median(f for _, f in values))
            for name, values in runs_of.items()}


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        variants = {name: dict(os.environ, OPENSSL_CONF=str(path), OPENSSL_MODULES=str(BUILD / "provider"))
                    for name, path in configs(Path(tmp)).items()}
        print("This system's openssl.cnf plus a providers section; runs alternate between the configs.")
        for program, argv in PROGRAMS.items():
            program_runs = runs if argv[0].endswith("openssl") else max(runs // 10, 1)
            medians = measure(argv, variants, program_runs)
            base = medians["without hsmprov"][0]
            print(f"\n{program}, {program_runs} runs each:\n")
            print("| config | median ms | without hsmprov / this | page faults |\n|---|---|---|---|")
            for name, (median, faults) in medians.items():
                print(f"| {name} | {median * 1e3:.3f} | {base / median:.3f} | {faults:.0f} |")


if __name__ == "__main__":
    main()
