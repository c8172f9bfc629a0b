"""Every guest_bins program, both libc builds: same stdout, stderr, exit status
and files under azemu as natively."""
from __future__ import annotations

import os

import pytest

from conftest import LIBCS, assert_same, guest, run_azemu, run_native, tree

SIMPLE = [
    ("hello", []),
    ("args", ["one", "two words", "", "-x"]),
    ("mallocstress", []),
    ("timeprog", []),
    ("getpid_loop", []),
    ("exit_code", []),
    ("exit_code", ["42"]),
    ("sysinfo", []),
    ("compute", ["200000"]),
    ("badptr", []),
    ("signals", []),
]


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,args", SIMPLE, ids=[f"{n}{'-' + a[0] if a else ''}" for n, a in SIMPLE])
def test_same_as_native(libc, name, args):
    exe = guest(libc, name)
    env = dict(os.environ, AZEMU_ONE="1", AZEMU_TWO="two words")
    assert_same(run_native([exe, *args], env=env), run_azemu([exe, *args], env=env))


def test_static_pie():
    exe = guest("glibc", "hello-pie")
    assert_same(run_native([exe]), run_azemu([exe]))


@pytest.mark.parametrize("libc", LIBCS)
def test_stdin_to_stdout(libc):
    data = os.urandom(200_000) + b"\n" + bytes(range(256)) * 100
    exe = guest(libc, "cat_stdin")
    native = run_native([exe], stdin=data)
    assert native[0] == data
    assert_same(native, run_azemu([exe], stdin=data))


@pytest.mark.parametrize("libc", LIBCS)
def test_file_io_leaves_the_same_files(libc, tmp_path):
    exe = guest(libc, "fileio")
    (tmp_path / "n" / "work").mkdir(parents=True)
    (tmp_path / "a" / "work").mkdir(parents=True)
    native = run_native([exe, str(tmp_path / "n" / "work")])
    emulated = run_azemu([exe, str(tmp_path / "a" / "work")])
    strip = lambda r, d: (r[0].replace(str(tmp_path / d).encode(), b"X"), r[1], r[2])  # noqa: E731
    assert_same(strip(native, "n"), strip(emulated, "a"))
    assert tree(tmp_path / "n") == tree(tmp_path / "a")
    assert tree(tmp_path / "a")                 # it did leave files behind


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,signal", [("crash_null", 11), ("abort_prog", 6)])
def test_killed_by_signal(libc, name, signal):
    exe = guest(libc, name)
    n_out, n_err, n_status = run_native([exe])
    a_out, a_err, a_status = run_azemu([exe])
    assert n_status == a_status == 128 + signal
    assert a_out == n_out                        # what the program printed first
    assert b"Traceback" not in a_err


@pytest.mark.parametrize("libc", LIBCS)
def test_crash_report(libc):
    out, err, status = run_azemu([guest(libc, "crash_null")])
    text = err.decode()
    assert status == 139
    assert "Segmentation fault (SIGSEGV)" in text and "at 0x0" in text
    assert "mov dword ptr [rax], 1" in text      # the faulting instruction, disassembled
    assert "rax 0000000000000000" in text        # the registers
    assert "in crash_null[" in text              # where rip was


@pytest.mark.parametrize("name,status,insn", [("crash_ill", 132, "ud2"), ("crash_fpe", 136, "idiv rcx")])
def test_cpu_exceptions(name, status, insn):
    exe = guest("raw", name)
    n_out, _, n_status = run_native([exe])
    a_out, a_err, a_status = run_azemu([exe])
    assert n_status == a_status == status
    assert a_out == n_out
    assert insn in a_err.decode() and b"Traceback" not in a_err


@pytest.mark.parametrize("name,arg,status", [("getpid_raw", "1000", 0), ("compute_raw", "1000", None)])
def test_raw_programs(name, arg, status):
    exe = guest("raw", name)
    native = run_native([exe, arg])
    assert status is None or native[2] == status
    assert_same(native, run_azemu([exe, arg]))
