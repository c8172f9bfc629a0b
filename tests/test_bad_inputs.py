"""Files that are not runnable x86-64 programs: one clear line, a shell's exit
status (126 cannot execute, 127 not found), never a traceback."""
from __future__ import annotations

import struct

import pytest

from conftest import guest, run_azemu


def _elf64(machine=62, etype=2, phnum=1, truncate_at=None, phoff=64):
    hdr = bytearray(b"\x7fELF" + bytes([2, 1, 1]) + bytes(9))
    hdr += struct.pack("<HHIQQQIHHHHHH", etype, machine, 1, 0x401000, phoff, 0, 0, 64, 56, phnum, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x2000, 0x2000, 0x1000)
    data = bytes(hdr + ph * phnum) + bytes(32)
    return data[:truncate_at] if truncate_at else data


def _elf32_i386():
    hdr = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    hdr += struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, 0, 0x8048000, 0x8048000, 0x100, 0x100, 5, 0x1000)
    return hdr + ph + bytes(200)


CASES = {
    "text_file": (b"echo hello\n", 126, "Exec format error"),
    "script_without_interpreter": (b"#!\necho hello\n", 126, "Exec format error"),
    "script_with_missing_interpreter": (b"#!/bin/nothing\necho hello\n", 127, "bad interpreter"),
    "empty_file": (b"", 126, "Exec format error"),
    "random_bytes": (bytes(range(256)) * 4, 126, "Exec format error"),
    "elf_header_cut": (_elf64(truncate_at=40), 126, "truncated"),
    "elf_segments_past_end": (_elf64(phnum=1), 126, "truncated"),
    "elf_phdrs_past_end": (_elf64(phoff=4000), 126, "ELF"),
    "elf_32bit_i386": (_elf32_i386(), 126, "32-bit"),
    "elf_aarch64": (_elf64(machine=183), 126, "AArch64"),
    "elf_arm": (_elf64(machine=40), 126, "ARM"),
    "elf_relocatable": (_elf64(etype=1), 126, "not an executable"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_file(tmp_path, name):
    data, status, words = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o755)
    out, err, rc = run_azemu([str(path)])
    lines = err.decode().strip().splitlines()
    assert rc == status, err
    assert len(lines) == 1, err
    assert words in lines[0] and str(path) in lines[0]
    assert b"Traceback" not in err and out == b""


def test_truncated_real_binary(tmp_path):
    data = open(guest("glibc", "hello"), "rb").read()
    path = tmp_path / "hello-cut"
    path.write_bytes(data[: len(data) // 3])
    out, err, rc = run_azemu([str(path)])
    assert rc == 126 and len(err.decode().strip().splitlines()) == 1 and b"truncated" in err


def test_missing_file(tmp_path):
    out, err, rc = run_azemu([str(tmp_path / "nothing-here")])
    assert rc == 127
    assert err.decode().strip().splitlines() == [f"azemu: {tmp_path / 'nothing-here'}: No such file or directory"]


def test_directory(tmp_path):
    out, err, rc = run_azemu([str(tmp_path)])
    assert rc == 126
    assert err.decode().strip().splitlines() == [f"azemu: {tmp_path}: Is a directory"]


def test_unreadable_file(tmp_path):
    import os
    if os.geteuid() == 0:
        pytest.skip("root can read anything")
    path = tmp_path / "secret"
    path.write_bytes(open(guest("glibc", "hello"), "rb").read())
    path.chmod(0)
    out, err, rc = run_azemu([str(path)])
    assert rc == 126 and b"Permission denied" in err
