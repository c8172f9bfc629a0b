"""The command line: info, syscalls, help, usage errors."""
from __future__ import annotations

import json

import pytest

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
    out, err, rc = run_cli("syscalls", "--format", "json", "--all")
    every = {r["name"]: r for r in json.loads(out)}
    missing = {n for n, r in every.items() if r["support"] == "missing"}
    assert missing and not missing & set(rows)          # --all adds the undeclared ones
    assert every["io_setup"]["support"] == "error" and every["io_setup"]["note"]


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


# ---- bad values: one line, exit status 2, never a traceback --------------------------
BAD = {
    "cores 0": (["exec", "--cores", "0", "hello"], "at least 1 core"),
    "cores -1": (["exec", "--cores", "-1", "hello"], "at least 1 core"),
    "cores above the machine": (["exec", "--cores", "5000", "hello"], "at most 1024 cores"),
    "cores not a number": (["exec", "--cores", "many", "hello"], "not a whole number"),
    "mem 1T": (["exec", "--mem", "1T", "hello"], "more than this host's memory"),
    "mem too small": (["exec", "--mem", "4M", "hello"], "at least 16M"),
    "negative spin": (["exec", "--mode", "lwk", "--fwk-spin-us", "-5", "hello"], "cannot be negative"),
    "fwk timeout 0": (["exec", "--mode", "lwk", "--fwk-timeout", "0", "hello"], "more than 0 s"),
    "fwk timeout words": (["exec", "--mode", "lwk", "--fwk-timeout", "soon", "hello"], "not a number"),
    "bench iterations 0": (["bench", "getpid", "--iterations", "0"], "at least 1 iteration"),
    "bench repeat 0": (["bench", "getpid", "--repeat", "0"], "at least 1 repeat"),
    "unknown mode": (["exec", "--mode", "windows", "hello"], "invalid choice"),
    "missing machine file": (["run", "/nonexistent/m.toml"], "No such file"),
    "bad --out": (["run", "--out", "/nonexistent", "three"], "not a directory"),
    "unknown example": (["examples", "no-such-thing"], "no such example"),
    "example name climbing out": (["examples", "../../../../../../etc/passwd"], "no such example"),
    "build without inputs": (["build"], "no input files"),
    "build bad libc": (["build", "--libc", "bionic", "x.c"], "choose glibc or musl"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_are_one_line_and_exit_2(case):
    argv, words = BAD[case]
    out, err, rc = run_cli(*argv)
    lines = err.decode().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and words in lines[0], err
    assert b"Traceback" not in err and b"internal error" not in err
    if case == "missing machine file":
        assert lines[0].count("/nonexistent/m.toml") == 1


def test_bad_machine_file_values(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text('[[partition]]\nkernel = "lwk"\ncores = 0\nprogram = "hello"\n')
    out, err, rc = run_cli("run", "--no-live", "--out", str(tmp_path), str(m))
    assert rc == 2 and len(err.splitlines()) == 1 and b"at least 1 core" in err
    m.write_text('[[partition]]\nkernel = "lwk"\nmemory = "1T"\nprogram = "hello"\n')
    out, err, rc = run_cli("run", "--no-live", "--out", str(tmp_path), str(m))
    assert rc == 2 and len(err.splitlines()) == 1 and b"host's memory" in err
    m.write_text('[[partition]]\nkernel = "lwk"\nroot = "nowhere"\nprogram = "hello"\n')
    out, err, rc = run_cli("run", "--no-live", "--out", str(tmp_path), str(m))
    assert rc == 2 and len(err.splitlines()) == 1 and b"root nowhere: not a directory" in err
    m.write_text('[[partition]]\nkernel = "lwk"\nro = "yes"\nprogram = "hello"\n')
    out, err, rc = run_cli("run", "--no-live", "--out", str(tmp_path), str(m))
    assert rc == 2 and len(err.splitlines()) == 1 and b"ro must be true or false" in err


def test_version():
    from azemu import __version__
    out, err, rc = run_cli("--version")
    assert rc == 0 and out.decode().strip() == f"azemu {__version__}"


def test_unknown_flag_shows_the_subcommands_usage():
    out, err, rc = run_cli("exec", "--bad-flag", "hello")
    assert rc == 2
    assert err.startswith(b"usage: azemu exec ") and b"unrecognized arguments: --bad-flag" in err
    out, err, rc = run_cli("syscalls", "--nope")
    assert rc == 2 and err.startswith(b"usage: azemu syscalls ")


def test_every_subcommand_explains_itself():
    """--help of every subcommand: a description, help for every option, an example."""
    import argparse

    from azemu.cli import build_parser
    parser = build_parser()
    subs = parser.command_parsers
    assert set(subs) >= {"exec", "build", "cc", "run", "bench", "calibrate", "info", "syscalls",
                         "examples"}
    for name, sub in subs.items():
        assert sub.description and len(sub.description) > 40, name
        assert sub.epilog and sub.epilog.startswith("examples:\n  ") and "azemu" in sub.epilog, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"azemu {name}: {action.option_strings or action.dest} has no help"
        out, err, rc = run_cli(name, "--help")
        assert rc == 0 and b"examples:" in out, name


def test_quiet_silences_unsupported_syscall_notices():
    out, err, rc = run_cli("exec", "-q", guest("glibc", "nosys"))
    assert rc == 0 and err == b"" and b"io_setup: ret=-1 errno=ENOSYS" in out


def test_shipped_programs_run_by_name():
    for name in ("hello", "glibc/hello", "musl/hello"):
        out, err, rc = run_cli("exec", name)
        assert rc == 0 and out.startswith(b"Hello, world!"), (name, err)
    out, err, rc = run_cli("examples")
    assert rc == 0 and b"glibc/getpid_loop" in out and b"three" in out
    out, err, rc = run_cli("examples", "libos/glibc/getpid_loop")
    assert rc == 0 and out.strip().endswith(b"libos/glibc/getpid_loop")
