"""The command line: info, syscalls, help, usage errors."""
from __future__ import annotations

import json

from conftest import guest, run_cli


def test_info_static_and_pie():
    out, err, rc = run_cli("info", guest("glibc", "hello"))
    assert rc == 0 and b"ET_EXEC, static" in out and b"LOAD" in out and b"image size" in out
    assert b"binary compatibility" in out
    out, err, rc = run_cli("info", guest("glibc", "hello-pie"))
    assert rc == 0 and b"static-pie" in out
    out, err, rc = run_cli("info", guest("libos/musl", "hello"))
    assert rc == 0 and b"source compatibility" in out and b"image size" in out


def test_info_bad_file(tmp_path):
    p = tmp_path / "x"
    p.write_text("not elf")
    out, err, rc = run_cli("info", str(p))
    assert rc == 126 and len(err.splitlines()) == 1


def test_syscalls_json_comes_from_the_table():
    out, err, rc = run_cli("syscalls", "--format", "json")
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["read"]["support"] == "full" and rows["read"]["nr"] == 0
    assert rows["mmap"]["support"] == "partial" and rows["mmap"]["note"]
    assert "io_setup" not in rows
    out, err, rc = run_cli("syscalls", "--format", "json", "--all")
    assert {r["name"]: r for r in json.loads(out)}["io_setup"]["support"] == "missing"


def test_syscalls_table_prints():
    out, err, rc = run_cli("syscalls")
    assert rc == 0 and b"getpid" in out and b"exit_group" in out


def test_help_and_usage():
    out, err, rc = run_cli("--help")
    assert rc == 0 and b"exec" in out
    out, err, rc = run_cli("exec", "--help")
    assert rc == 0 and b"--mem" in out
    out, err, rc = run_cli()
    assert rc == 2 and b"Traceback" not in err


def test_mem_option_is_checked():
    out, err, rc = run_cli("exec", "--mem", "4M", guest("musl", "hello"))
    assert rc == 2 and b"at least 16M" in err and b"Traceback" not in err
    out, err, rc = run_cli("exec", "--mem", "lots", guest("musl", "hello"))
    assert rc == 2 and b"not a size" in err
    out, err, rc = run_cli("exec", "--mem", "32M", guest("musl", "hello"))
    assert rc == 0 and out.startswith(b"Hello")


def test_program_larger_than_memory(tmp_path):
    from conftest import guest as g
    import struct
    big = tmp_path / "big"
    data = bytearray(open(g("musl", "hello"), "rb").read())
    # grow the bss of the last PT_LOAD to 64 MiB: it cannot fit in --mem 16M
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    last = max(i for i in range(phnum) if struct.unpack_from("<I", data, phoff + 56 * i)[0] == 1)
    struct.pack_into("<Q", data, phoff + 56 * last + 40, 64 << 20)
    big.write_bytes(bytes(data))
    out, err, rc = run_cli("exec", "--mem", "16M", str(big))
    assert rc == 126 and b"Cannot allocate memory" in err and len(err.splitlines()) == 1
