"""Which ``pam_sm_*`` functions a module exports, read from its ELF file without loading it.

Loading a module (``dlopen``) would run its constructors; reading ``.dynsym`` does not. Results
are cached per path, modification time and size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

_SHT_DYNSYM = 11
_SHN_UNDEF = 0
_STB_GLOBAL = 1
_STB_WEAK = 2


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
        hit = _read(path)
        _cache[key] = hit
    return hit


def _read(path: str) -> ModuleFile:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        return ModuleFile(path, True, False, frozenset(), err.strerror or "cannot be read")
    try:
        symbols = dynamic_symbols(data, b"pam_sm_")
    except (ValueError, struct.error, IndexError) as err:
        return ModuleFile(path, True, False, frozenset(), f"not a loadable module: {err}")
    return ModuleFile(path, True, True, frozenset(s for s in symbols if s.startswith("pam_sm_")))


def dynamic_symbols(data: bytes, prefix: bytes = b"") -> list[str]:
    """Names of the defined global and weak symbols in an ELF file's ``.dynsym``
    (only those starting with ``prefix``)."""
    if data[:4] != b"\x7fELF":
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
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    names: list[str] = []
    for sec in sections:
        if sec[1] != _SHT_DYNSYM:
            continue
        offset, size, link, entsize = sec[4], sec[5], sec[6], sec[9]
        strtab = sections[link]
        str_off, str_size = strtab[4], strtab[5]
        strings = data[str_off : str_off + str_size]
        for k in range(size // entsize if entsize else 0):
            sym = struct.unpack_from(sym_fmt, data, offset + k * entsize)
            if is64:
                name_off, info, shndx = sym[0], sym[1], sym[3]
            else:
                name_off, info, shndx = sym[0], sym[3], sym[5]
            if shndx == _SHN_UNDEF or (info >> 4) not in (_STB_GLOBAL, _STB_WEAK):
                continue
            if prefix and not strings.startswith(prefix, name_off):
                continue
            stop = strings.find(b"\0", name_off)
            names.append(strings[name_off:stop].decode("ascii", "replace"))
    return names
