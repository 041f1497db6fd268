"""Bad configuration input cannot hang, crash or exhaust pamexplorer (issue 9 §4).

Each class is checked against what real libpam does with the same files where libpam
finishes; where libpam itself never returns (a FIFO, /dev/zero) the test shows that too, with
a timeout, and that pamexplorer says so instead of hanging.
"""

from __future__ import annotations

import os
import resource
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pamexplorer.cli import main
from pamexplorer.pam.operation import parse_operation
from pamexplorer.stack.elf import MAX_SECTIONS, dynamic_symbols, read_module
from pamexplorer.stack.lint import lint
from pamexplorer.stack.resolve import MAX_FILE_SIZE, MAX_RULES, clear_caches, resolve
from pamexplorer.stack.simulate import simulate
from tests.stack.stack_realpam import run_real

ServiceDir = Callable[[dict[str, str]], Path]
AUTH = [("pam_authenticate", 0)]
MODULES = Path("/lib/x86_64-linux-gnu/security")


def predicted(service: str, confdir: Path) -> tuple[int | str, tuple[int, ...]]:
    stack = resolve(service, str(confdir))
    if stack.start.crash:
        return stack.start.crash.split(":", 1)[0], ()
    result = simulate(stack, [parse_operation("authenticate")])
    return result.start.code, tuple(c.code for c in result.calls)


def real(service: str, confdir: Path, timeout: int = 0) -> tuple[int | str, tuple[int, ...]]:
    got = run_real(service, confdir, AUTH, timeout=timeout)
    if got.crash:
        return got.crash, ()
    assert got.start is not None
    return got.start, got.calls


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


def test_fifo_and_dev_zero_do_not_hang(service_dir: ServiceDir, tmp_path: Path) -> None:
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/zero"):
        (confdir / "svc").write_text(f"auth include {target}\n")
        assert real("svc", confdir, timeout=2) == ("SIGALRM", ())  # libpam never returns
        stack = resolve("svc", str(confdir))
        assert stack.start.crash and stack.start.crash.startswith("hang")
        assert any("never returns" in f.message for f in lint(stack))
    (confdir / "svc").unlink()
    os.mkfifo(confdir / "svc")  # the service file itself
    assert resolve("svc", str(confdir)).start.crash.startswith("hang")  # type: ignore[union-attr]


def test_directory_and_dev_null_read_as_empty(service_dir: ServiceDir) -> None:
    confdir = service_dir({"other": "auth required pam_deny.so\n"})
    (confdir / "svc").mkdir()
    assert predicted("svc", confdir) == real("svc", confdir) == (0, (7,))
    (confdir / "svc").rmdir()
    (confdir / "svc").symlink_to("/dev/null")
    assert predicted("svc", confdir) == real("svc", confdir) == (0, (7,))


def test_sparse_files_are_read_as_libpam_reads_them(service_dir: ServiceDir) -> None:
    """A rule, then 64 MiB of holes, then a rule: libpam reads through the NUL bytes (blank
    lines to it); pamexplorer reads 1 MiB and refuses the rest, which holds data."""
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    path = confdir / "svc"
    with open(path, "wb") as f:
        f.write(b"auth required pam_permit.so\n")
        f.truncate(64 << 20)
    assert predicted("svc", confdir) == real("svc", confdir) == (0, (0,))
    with open(path, "ab") as f:
        f.write(b"\nauth required pam_deny.so\n")
    assert real("svc", confdir) == (0, (7,))
    stack = resolve("svc", str(confdir))
    assert stack.start.crash and stack.start.crash.startswith("not predicted")
    assert str(MAX_FILE_SIZE) in stack.start.crash
    with open(path, "wb") as f:  # 4 GiB, all holes after the first line: read in a moment
        f.write(b"auth required pam_deny.so\n")
        f.truncate(4 << 30)
    assert predicted("svc", confdir) == (0, (7,))


def test_nul_bytes_end_what_libpam_sees(service_dir: ServiceDir) -> None:
    confdir = service_dir({"other": "auth required pam_permit.so\n"})
    (confdir / "svc").write_bytes(b"auth required pam_deny.so\0 nothing /x\0y\n")
    assert predicted("svc", confdir) == real("svc", confdir) == (0, (7,))
    (confdir / "svc").write_bytes(b"\0auth required pam_deny.so\n")
    assert predicted("svc", confdir) == real("svc", confdir) == (0, (0,))
    (confdir / "svc").write_bytes(b"auth include /etc/pass\0wd\n")
    assert predicted("svc", confdir) == real("svc", confdir)
    stack = resolve("sv\0c", str(confdir) + "\0junk")  # names from a profile or an API caller
    assert stack.name == "sv" and any("NUL" in f.message for f in stack.findings)


def _chain(confdir: Path, depth: int) -> None:
    for i in range(depth):
        (confdir / f"f{i}").write_text(f"auth include {confdir}/f{i + 1}\n")
    (confdir / f"f{depth}").write_text("auth required pam_deny.so\n")
    (confdir / "svc").symlink_to(confdir / "f0")


@pytest.mark.parametrize("depth", [1000, 1100, 3000])
def test_deep_include_chains(tmp_path: Path, depth: int) -> None:
    """libpam keeps one file open per level: under a 1024 open-file limit 1000 levels work
    and 1100 fail at the include it cannot open; pamexplorer resolves them without recursion."""
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    _chain(confdir, depth)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    try:
        assert predicted("svc", confdir) == real("svc", confdir)
        assert predicted("svc", confdir) == (0, (7,) if depth <= 1000 else (6,))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    shutil.rmtree(confdir)


def test_include_mesh_is_bounded(tmp_path: Path) -> None:
    """Every file includes the next two: the expansion doubles per level. pamexplorer stops
    at MAX_RULES and says the stack is not predicted, instead of building 2**40 rules."""
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    for i in range(40):
        (confdir / f"f{i}").write_text(
            f"auth optional pam_permit.so\nauth include {confdir}/f{i + 1}\n"
            f"auth include {confdir}/f{i + 1}\n"
        )
    (confdir / "f40").write_text("auth optional pam_permit.so\n")
    stack = resolve("f0", str(confdir))
    assert stack.start.crash and stack.start.crash.startswith("not predicted")
    assert len(stack.rules) <= MAX_RULES
    assert main(["lint", "--confdir", str(confdir), "f0"]) == 1


def test_include_mesh_lints_every_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """215 files, each including two later ones for two types (about 1,000 rules a service):
    every service is linted, the shared files expanded once per state (no timing asserted)."""
    import random

    rng = random.Random(5)
    confdir = tmp_path / "pam.d"
    confdir.mkdir()
    for k in range(215):
        text = "auth optional pam_permit.so\naccount required pam_permit.so\n"
        for j in rng.sample(range(k + 1, 215), min(2, 214 - k)):
            text += f"auth include {confdir}/f{j}\naccount substack {confdir}/f{j}\n"
        (confdir / f"f{k}").write_text(text)
    assert main(["lint", "--confdir", str(confdir)]) == 1  # substacks nested past 16 levels
    out = capsys.readouterr().out
    assert "substack nesting deeper than 16 levels" in out
    assert out.count("has no session rules") == 215


def _patched_module(tmp_path: Path, patch: Callable[[bytearray], None]) -> Path:
    data = bytearray((MODULES / "pam_permit.so").read_bytes())
    patch(data)
    path = tmp_path / "pam_crafted.so"
    path.write_bytes(bytes(data))
    return path


def _dynsym_header(data: bytearray) -> int:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(shnum):
        at = shoff + i * shentsize
        if struct.unpack_from("<I", data, at + 4)[0] == 11:
            return at
    raise AssertionError("no .dynsym")


def test_crafted_elf_section_tables(tmp_path: Path, service_dir: ServiceDir) -> None:
    assert read_module(str(MODULES / "pam_permit.so")).symbols >= {"pam_sm_authenticate"}

    def huge_dynsym(data: bytearray) -> None:  # 2**40 bytes of symbols
        struct.pack_into("<Q", data, _dynsym_header(data) + 0x20, 1 << 40)

    def tiny_entries(data: bytearray) -> None:  # entsize 1: a symbol per byte
        struct.pack_into("<Q", data, _dynsym_header(data) + 0x38, 1)

    def many_sections(data: bytearray) -> None:
        struct.pack_into("<H", data, 0x3C, 0xFFFF)

    def bad_link(data: bytearray) -> None:
        struct.pack_into("<I", data, _dynsym_header(data) + 0x28, 0xFFFF)

    for patch in (huge_dynsym, tiny_entries, many_sections, bad_link):
        module = _patched_module(tmp_path, patch)
        clear_caches()
        info = read_module(str(module))
        assert info.exists and not info.loadable, patch.__name__
        confdir = service_dir({"svc": f"auth required {module}\n"})
        found = lint(resolve("svc", str(confdir)))
        assert any("not a loadable PAM module" in f.message for f in found)
    with pytest.raises(ValueError):
        dynamic_symbols(b"\x7fELF" + b"\x02\x01" + bytes(58))  # no section table at all
    assert MAX_SECTIONS < 0xFFFF
    fifo = tmp_path / "pam_fifo.so"
    os.mkfifo(fifo)
    assert not read_module(str(fifo)).loadable  # never opened
