"""Which ``pam_sm_*`` functions a module exports, read from its ELF file without loading it.

Loading a module (``dlopen``) would run its constructors; reading ``.dynsym`` does not. Results
are cached per path, modification time and size.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from dataclasses import dataclass

_SHT_DYNSYM = 11
_SHN_UNDEF = 0
_STB_GLOBAL = 1
_STB_WEAK = 2
#: Section headers pamexplorer reads at most (real modules have about 30).
MAX_SECTIONS = 4096
#: Symbols of ``.dynsym`` it reads at most (real modules have a few hundred).
MAX_SYMBOLS = 1 << 16


@dataclass(frozen=True)
class ModuleFile:
    """``exists``: the path names a file. ``loadable``: it is an ELF shared object we could read.
    ``symbols``: the defined global ``pam_sm_*`` symbols in its dynamic symbol table."""

    path: str
    exists: bool
    loadable: bool
    symbols: frozenset[str]
    problem: str = ""


_cache: dict[tuple[str, int, int], ModuleFile] = {}


def clear_module_cache() -> None:
    _cache.clear()


def read_module(path: str) -> ModuleFile:
    """What libpam would find in ``path``; never raises."""
    try:
        st = os.stat(path)
    except OSError:
        return ModuleFile(path, False, False, frozenset(), "no such file")
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _cache.get(key)
    if hit is None:
        hit = _read(path, st)
        _cache[key] = hit
    return hit


def _read(path: str, st: os.stat_result) -> ModuleFile:
    """Map the file (never read it whole) and read its symbol table; a FIFO or a device is not
    opened (dlopen would fail on it or block)."""
    if not stat.S_ISREG(st.st_mode):
        return ModuleFile(path, True, False, frozenset(), "not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "cannot be read"
        return ModuleFile(path, True, False, frozenset(), reason)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or now.st_size == 0:
            return ModuleFile(path, True, False, frozenset(), "not a loadable module: empty")
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as data:
            symbols = dynamic_symbols(data, b"pam_sm_")
    except (OSError, ValueError, struct.error, IndexError) as err:
        return ModuleFile(path, True, False, frozenset(), f"not a loadable module: {err}")
    finally:
        os.close(fd)
    return ModuleFile(path, True, True, frozenset(s for s in symbols if s.startswith("pam_sm_")))


def _within(size: int, offset: int, length: int, what: str) -> None:
    if offset < 0 or length < 0 or offset + length > size:
        raise ValueError(f"{what} lies outside the file")


def dynamic_symbols(data: bytes | mmap.mmap, prefix: bytes = b"") -> list[str]:
    """Names of the defined global and weak symbols in an ELF file's first ``.dynsym``
    (only those starting with ``prefix``). Every offset and count is checked against the file,
    so a crafted section table costs at most :data:`MAX_SECTIONS` + :data:`MAX_SYMBOLS` steps;
    raises ValueError (or struct.error) on a malformed file."""
    size = len(data)
    if size < 64 or data[:4] != b"\x7fELF":
        raise ValueError("no ELF header")
    klass, encoding = data[4], data[5]
    if klass not in (1, 2) or encoding not in (1, 2):
        raise ValueError("unknown ELF class or encoding")
    end = "<" if encoding == 1 else ">"
    is64 = klass == 2
    e_type = struct.unpack_from(end + "H", data, 16)[0]
    if e_type != 3:  # ET_DYN
        raise ValueError("not a shared object")
    if is64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        sh_fmt, sym_fmt = end + "IIQQQQIIQQ", end + "IBBHQQ"
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sh_fmt, sym_fmt = end + "IIIIIIIIII", end + "IIIBBH"
    if shentsize < struct.calcsize(sh_fmt):
        raise ValueError("section header entries too small")
    if shnum > MAX_SECTIONS:
        raise ValueError(f"more than {MAX_SECTIONS} sections")
    _within(size, shoff, shnum * shentsize, "the section table")
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    names: list[str] = []
    dynsym = next((sec for sec in sections if sec[1] == _SHT_DYNSYM), None)
    if dynsym is not None:
        offset, length, link, entsize = dynsym[4], dynsym[5], dynsym[6], dynsym[9]
        if link >= shnum:
            raise ValueError("the symbol table's string table does not exist")
        if entsize < struct.calcsize(sym_fmt):
            raise ValueError("symbol entries too small")
        _within(size, offset, length, "the symbol table")
        str_off, str_size = sections[link][4], sections[link][5]
        _within(size, str_off, str_size, "the string table")
        strings = bytes(data[str_off : str_off + str_size])
        count = length // entsize
        if count > MAX_SYMBOLS:
            raise ValueError(f"more than {MAX_SYMBOLS} dynamic symbols")
        for k in range(count):
            sym = struct.unpack_from(sym_fmt, data, offset + k * entsize)
            if is64:
                name_off, info, shndx = sym[0], sym[1], sym[3]
            else:
                name_off, info, shndx = sym[0], sym[3], sym[5]
            if shndx == _SHN_UNDEF or (info >> 4) not in (_STB_GLOBAL, _STB_WEAK):
                continue
            if name_off >= len(strings) or (prefix and not strings.startswith(prefix, name_off)):
                continue
            stop = strings.find(b"\0", name_off, name_off + 256)
            names.append(strings[name_off : stop if stop >= 0 else name_off + 256].decode(
                "ascii", "replace"))  # fmt: skip
    return names
