"""The PIN in a core dump. An `openssl s_server` logs in through hsmprov and
signs a TLS handshake with a token key; then its core is taken with gcore
(Debian's gdb package) and searched for the token's PIN (random, made for
the token), for each place the PIN can come from: the config
(`pkcs11-module-token-pin` given literally, or as `file:PATH`), the URI
(`pin-value`, `pin-source`), and `pin-value` in the URI of a key file.

hsmprov keeps the PIN only in locked pages (mlock, MADV_DONTDUMP: not in a
core) and wipes every other copy it makes. OpenSSL and the program keep
copies of their own that hsmprov cannot reach; so that those cannot hide
hsmprov's, s_server runs with `pin_memory_preload.c` preloaded, and every
occurrence of the PIN is attributed by its address:

- the process's malloc (hsmprov's C++ code, p11-kit, the PKCS#11 module,
  libc) never reuses memory in that run: a copy freed without being wiped
  stays, instead of being overwritten, or not, by chance. Occurrences there,
  on a stack or in any library's data are what hsmprov must not leave:
  none is allowed;
- OpenSSL's allocator (CRYPTO_set_mem_functions) serves from an arena of its
  own, also never reused: OpenSSL's parsed config and the provider
  parameters it keeps, its error strings ("calling stat(pkcs11:...)" from
  the file store OpenSSL tries first), the key file it decodes, the stdio
  buffer it read the config file through (fopen is interposed to give it
  one from that arena). Allocations from hsmprov's own OPENSSL_malloc calls
  (OpenSSL passes each call's file name; hsmprov's start with src/ or
  provider/) go to malloc instead, and count as hsmprov's;
- the program's arguments and environment: the range /proc/PID/stat gives
  (arg_start to env_end), where the kernel put argv;
- the locked pages: mappings /proc/PID/smaps flags `dd` (MADV_DONTDUMP),
  outside the two arenas. gcore leaves them out (gdb's
  `dump-excluded-mappings` is off by default), which is checked; should a
  gdb dump them, a copy there counts as the locked page's (at most one a
  page).

The counts per place are printed and in every failure message. With a PIN
from a file, no copy may be anywhere. Each run checks its own method: for
the config literal OpenSSL's copy of the config must be found in its arena,
for pin-value the argument in argv, so a search that finds nothing cannot
pass.
"""
import mmap
import shutil
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import OUTPUTS, SANITIZE, TSAN, pkcs11_provider_key_file

PRELOAD_SOURCE = Path(__file__).with_name("pin_memory_preload.c")
KEY = "pin-memory"


@pytest.fixture(scope="module")
def preload(tmp_path_factory):
    if SANITIZE or TSAN:
        pytest.skip("the sanitizer runtimes own the allocator; the normal build runs this test")
    if shutil.which("gcore") is None:
        pytest.skip("gcore is not installed (Debian package gdb; scripts/install-deps.sh installs it)")
    out = tmp_path_factory.mktemp("preload") / "pin_memory_preload.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(PRELOAD_SOURCE),
                    "-lcrypto", "-ldl", "-lpthread"], check=True)
    return out


@pytest.fixture(scope="module")
def server_key(softhsm):
    softhsm.genpkey(KEY, "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
    cert = softhsm.tmp / f"{KEY}.crt"
    softhsm.openssl("req", "-new", "-x509", "-key", softhsm.uri(object=KEY, type="private"), "-subj",
                    "/CN=localhost", "-days", "1", "-out", cert)
    return cert


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def handshake(port):
    """One TLS handshake (the token signs it) and one request; True if the
    server answered."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return tls.recv(100).startswith(b"HTTP/1.0 200")


def wait_for_listener(port, process):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"s_server did not listen:\n{process.stderr.read().decode(errors='replace')}")


def load_segments(core: bytes):
    """(vaddr, file offset, file size) of each PT_LOAD of an ELF64 core."""
    assert core[:4] == b"\x7fELF" and core[4] == 2, "not an ELF64 core"
    phoff, = struct.unpack_from("<Q", core, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", core, 0x36)
    segments = []
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align = struct.unpack_from(
            "<IIQQQQQQ", core, phoff + i * phentsize)
        if p_type == 1:
            segments.append((vaddr, offset, filesz))
    return segments


def occurrences(core: bytes, needle: bytes):
    at = core.find(needle)
    while at >= 0:
        yield at
        at = core.find(needle, at + 1)


def mappings(pid):
    """(start, end, name, dont_dump) of each mapping of the process."""
    found = []
    current = None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and not fields[0].endswith(":"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            current = [start, end, fields[5] if len(fields) > 5 else "[anonymous]", False]
            found.append(current)
        elif fields[0] == "VmFlags:":
            current[3] = "dd" in fields[1:]
    return found


def argument_range(pid):
    """arg_start to env_end: where the kernel put argv and the environment."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 48 to 51 of proc(5): arg_start, arg_end, env_start, env_end;
    # after the ")" of the command name the list starts at field 3.
    arg_start, _arg_end, _env_start, env_end = (int(x) for x in fields[45:49])
    return arg_start, env_end


def arenas(path: Path):
    """The ranges of the preload's two arenas: {"openssl": (start, end), "heap": (start, end)}."""
    ranges = {}
    for line in path.read_text().splitlines():
        name, start, end = line.split()
        ranges[name] = (int(start), int(end))
    return ranges


def where_the_pin_is(core_path: Path, pin: bytes, ranges, arguments, maps):
    """Counts of the PIN's occurrences in the core by place; where the ones
    outside OpenSSL's and the program's memory are; the MADV_DONTDUMP
    mappings outside the arenas (the locked page) that the core holds."""
    with open(core_path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as core:
        segments = load_segments(core)
        hits = list(occurrences(core, pin))

    def inside(address, name):
        return ranges[name][0] <= address < ranges[name][1]

    counts = {"hsmprov and the rest of the process": 0, "the locked page": 0, "OpenSSL's allocator": 0,
              "argv and environment": 0, "outside memory (core notes)": 0}
    elsewhere = []
    for offset in hits:
        address = next((vaddr + offset - start for vaddr, start, size in segments if start <= offset < start + size),
                       None)
        if address is None:
            counts["outside memory (core notes)"] += 1
            continue
        mapping = next((m for m in maps if m[0] <= address < m[1]), None)
        if inside(address, "openssl"):
            counts["OpenSSL's allocator"] += 1
        elif arguments[0] <= address < arguments[1]:
            counts["argv and environment"] += 1
        elif mapping is not None and mapping[3]:
            counts["the locked page"] += 1
        else:
            counts["hsmprov and the rest of the process"] += 1
            place = "the heap (malloc)" if inside(address, "heap") else mapping[2] if mapping else "no mapping"
            elsewhere.append(f"{address:#x} in {place}")
    locked = [m for m in maps if m[3] and not any(inside(m[0], name) for name in ranges)]
    dumped = [f"{m[0]:#x}-{m[1]:#x}" for m in locked
              if any(vaddr < m[1] and m[0] < vaddr + size for vaddr, _offset, size in segments if size > 0)]
    return counts, elsewhere, locked, dumped


CASES = ["config literal", "config file:", "URI pin-value", "URI pin-source", "key file pin-value"]


@pytest.mark.parametrize("source", CASES)
def test_no_copy_of_the_pin_in_a_core_but_the_locked_page(softhsm, server_key, preload, tmp_path, source):
    pin = softhsm.pin
    key = softhsm.uri(object=KEY, type="private")
    if source == "config literal":
        config = softhsm.write_config(tmp_path / "openssl.cnf", extra=f"pkcs11-module-token-pin = {pin}",
                                      pin_line=False)
    elif source == "config file:":
        config = softhsm.write_config(tmp_path / "openssl.cnf")
    elif source == "URI pin-source":
        config = softhsm.write_config(tmp_path / "openssl.cnf", pin_line=False)
        key += f"?pin-source=file:{softhsm.pin_file}"
    else:
        config = softhsm.write_config(tmp_path / "openssl.cnf", pin_line=False)
        key += f"?pin-value={pin}"
    if source == "key file pin-value":  # a key file holding that URI (as latchset/pkcs11-provider writes them)
        key_file = tmp_path / "key.pem"
        key_file.write_text(pkcs11_provider_key_file(key))
        key = str(key_file)
    arena_file = tmp_path / "arena"
    env = dict(softhsm.env, OPENSSL_CONF=str(config), LD_PRELOAD=str(preload), PIN_MEMORY_ARENA=str(arena_file),
               PIN_MEMORY_OWN_SOURCES="src/:provider/")
    port = free_port()
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", key, "-cert",
                               str(server_key), "-www"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_listener(port, server)
        assert handshake(port), "s_server did not answer over TLS"
        maps = mappings(server.pid)
        arguments = argument_range(server.pid)
        gcore = subprocess.run(["gcore", "-o", str(tmp_path / "core"), str(server.pid)], capture_output=True,
                               timeout=300)
        assert gcore.returncode == 0, gcore.stderr.decode(errors="replace")
        assert server.poll() is None, "s_server ended before its core was taken"
    finally:
        server.terminate()
        OUTPUTS.append(server.communicate(timeout=30)[1])
    core_path = tmp_path / f"core.{server.pid}"
    counts, elsewhere, locked, dumped = where_the_pin_is(core_path, pin.encode(), arenas(arena_file), arguments,
                                                         maps)
    summary = f"{source}: {counts}; outside OpenSSL's and the program's memory: {elsewhere}"
    print(summary)
    assert locked, f"no MADV_DONTDUMP mapping (hsmprov's locked page) in s_server; {summary}"
    if dumped:  # this gdb dumps MADV_DONTDUMP mappings: the locked pages then hold one copy each, at most
        pages = sum((end - start) // mmap.PAGESIZE for start, end, _name, _dd in locked)
        assert counts["the locked page"] <= pages, f"gcore dumped {dumped}; {summary}"
    else:
        assert counts["the locked page"] == 0, summary
    # The method finds what is there: OpenSSL's own copies of the config, the URI in argv.
    if source == "config literal":
        assert counts["OpenSSL's allocator"] > 0, summary
    if source == "URI pin-value":
        assert counts["argv and environment"] > 0, summary
    assert counts["hsmprov and the rest of the process"] == 0, summary
    # From a file, the PIN is nowhere but in the locked pages: what docs/keys-and-uris.md recommends.
    if source in ("config file:", "URI pin-source"):
        assert sum(counts.values()) - counts["the locked page"] == 0, summary
    core_path.unlink()
