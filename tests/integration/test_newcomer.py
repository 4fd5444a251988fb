"""What a newcomer meets before any token: the man pages on a minimal
system (no UTF-8 locale), their FILES against what the build installs, the
README's commands without root and without sudo, and a checkout the demo
leaves clean."""
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = ["hsmprov.7", "hsmprov-pkc.1"]


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders_in_plain_ascii(page):
    # man prints a glyph it cannot show in the C locale as <name> (<section> for §).
    if shutil.which("man") is None:
        pytest.skip("man is not installed (tests/run.sh installs man-db)")
    out = subprocess.run(["man", "-l", ROOT / "docs" / "man" / page], capture_output=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "MANWIDTH": "80"}).stdout
    text = out.decode("ascii")  # fails on anything else
    assert not re.search(r"<[a-z]+>", text), re.search(r".*<[a-z]+>.*", text).group(0)


def test_files_of_hsmprov_7_name_every_installed_file_a_user_needs():
    page = (ROOT / "docs" / "man" / "hsmprov.7").read_text()
    files = page[page.index(".SH FILES"):page.index(".SH SEE ALSO")].replace("\\-", "-")
    cmake = (ROOT / "CMakeLists.txt").read_text()
    roots = re.search(r"install\(FILES ((?:data/\S+ )+)DESTINATION", cmake).group(1).split()
    assert len(roots) == 3
    for installed in [os.path.basename(r) for r in roots] + ["openssl.cnf.example", "hsmprov-pkc", "hsmprov.so"]:
        assert installed in files, installed


def test_without_root_and_without_sudo_the_commands_say_what_to_install():
    if os.geteuid() != 0:
        pytest.skip("runs the check as another user: the test needs root")
    # A PATH with what install-deps.sh uses, and no sudo, where nobody reaches it.
    tools = Path(tempfile.mkdtemp(prefix="hsmprov-no-sudo-"))
    try:
        tools.chmod(0o755)
        for tool in ("dpkg-query", "id", "grep", "apt-cache"):
            (tools / tool).symlink_to(shutil.which(tool))
        script = f"source {ROOT}/scripts/install-deps.sh; hsmprov_install_deps hsmprov-no-such-package"
        result = subprocess.run([shutil.which("runuser"), "-u", "nobody", "--", "/bin/bash", "-c", script],
                                capture_output=True, env={"PATH": str(tools), "LANG": "C"}, timeout=60)
    finally:
        shutil.rmtree(tools)
    message = result.stderr.decode()
    assert result.returncode != 0
    assert "not root and has no sudo" in message and "apt-get install hsmprov-no-such-package" in message, message


def test_the_demo_directory_is_no_change_to_the_checkout():
    # examples/demo.sh works in ./demo by default.
    result = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", "demo/token.pin"], capture_output=True)
    if b"not a git repository" in result.stderr:
        pytest.skip("not a git checkout")
    assert result.returncode == 0


def configure_as(script_line: str, build: Path) -> str:
    """CMake's configure step of the g++ build, with the options the demo
    and tests/run.sh take (scripts/build-options.sh); what CMake printed."""
    command = f'source "{ROOT}/scripts/build-options.sh"; {script_line}'
    result = subprocess.run(["bash", "-c", command, "configure", str(ROOT), str(build)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_test_command_goes_on_from_the_demos_build(tmp_path):
    build = tmp_path / "build"
    # As examples/demo.sh configures a new build, then as tests/run.sh does.
    first = configure_as('cmake -S "$1" -B "$2" "${hsmprov_gcc_build_options[@]}"', build)
    assert "The CXX compiler identification is" in first, first
    again = configure_as('cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${hsmprov_gcc_build_options[@]}"',
                         build)
    # A cache deleted starts again: the compilers found anew, everything rebuilt.
    assert "cache to be deleted" not in again, again
    assert "The CXX compiler identification is" not in again, again
    for script in ("examples/demo.sh", "tests/run.sh"):
        assert "hsmprov_gcc_build_options[@]" in (ROOT / script).read_text(), script
