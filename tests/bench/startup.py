#!/usr/bin/python3
"""Start-up benchmark: `openssl version` with hsmprov in the OpenSSL config
against the same config without it, and against a provider that does
nothing (what OpenSSL spends on loading any provider). Each config is this
system's own openssl.cnf (as a system-wide setup has it) with a providers
section of the variant's. Runs alternate one by one between the variants,
so drift and bursts of load hit all alike; times are medians over all runs.
    tests/bench/startup.py [RUNS_PER_VARIANT (2000)]
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
        "a provider that does nothing": ("null = bench_null", f"[bench_null]\nmodule = {BUILD}/tests/"
                                         "hsmprov_null_provider.so\nactivate = 1\n"),
        "with hsmprov": ("hsmprov = bench_hsmprov", "[bench_hsmprov]\npkcs11-module-path = "
                         f"/usr/lib/softhsm/libsofthsm2.so\npkcs11-module-token-pin = file:{work}/token.pin\n"
                         "activate = 1\n"),
    }
    paths = {}
    for name, (line, section) in variants.items():
        paths[name] = work / f"{len(paths)}.cnf"
        paths[name].write_text(base + PROVIDERS.format(provider_line=line, provider_section=section))
    return paths


def one_run(env):
    start = time.perf_counter()
    pid = os.posix_spawn("/usr/bin/openssl", ["openssl", "version"], env,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status = os.waitpid(pid, 0)
    assert status == 0, "openssl version failed"
    return time.perf_counter() - start


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        variants = {name: dict(os.environ, OPENSSL_CONF=str(path), OPENSSL_MODULES=str(BUILD / "provider"))
                    for name, path in configs(Path(tmp)).items()}
        times = {name: [] for name in variants}
        names = list(variants)
        for i in range(runs * len(names)):
            name = names[i % len(names)]
            times[name].append(one_run(variants[name]))
    base = statistics.median(times["without hsmprov"])
    print(f"`openssl version`, this system's openssl.cnf plus a providers section, {runs} runs each, "
          "alternating:\n")
    print("| config | median ms | without hsmprov / this |\n|---|---|---|")
    for name in names:
        median = statistics.median(times[name])
        print(f"| {name} | {median * 1e3:.3f} | {base / median:.3f} |")


if __name__ == "__main__":
    main()
