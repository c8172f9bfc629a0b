"""Every guest_bins program, both libc builds, on every kernel: same stdout,
stderr, exit status and files under azemu as natively.

Variants: linux, lwk and unikernel-binary run the very binary that runs
natively; unikernel-source runs the same program rebuilt with `azemu build`
(guest_bins/bin/libos/) and is compared with the native build."""
from __future__ import annotations

import os

import pytest

from conftest import LIBCS, ROOT, assert_same, guest, run_azemu, run_native, tree

VARIANTS = ("linux", "lwk", "unikernel-binary", "unikernel-source")


def under(variant, libc, name, args, **kw):
    """Run program `name` under azemu in `variant`."""
    mode = variant.split("-")[0]
    exe = guest(f"libos/{libc}", name) if variant == "unikernel-source" else guest(libc, name)
    return run_azemu([exe, *args], extra=["--mode", mode], **kw)

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
    ("offload_loop", ["300", "/"]),
    ("readfile", [str(ROOT / "guest_bins" / "README.md"), "4096"]),
    ("fsprobe", ["stat", "/", "list", str(ROOT / "guest_bins" / "src"), "read",
                 str(ROOT / "guest_bins" / "README.md"), "getcwd", "open", "/nonexistent"]),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,args", SIMPLE, ids=[f"{n}{'-' + a[0] if a else ''}" for n, a in SIMPLE])
def test_same_as_native(variant, libc, name, args):
    exe = guest(libc, name)
    env = dict(os.environ, AZEMU_ONE="1", AZEMU_TWO="two words")
    native = run_native([exe, *args], env=env)
    if name == "args":          # argv[0] is the path each was started by
        argv0 = guest(f"libos/{libc}", name) if variant == "unikernel-source" else exe
        native = (native[0].replace(exe.encode(), argv0.encode()), native[1], native[2])
    assert_same(native, under(variant, libc, name, args, env=env))


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
def test_static_pie(mode):
    exe = guest("glibc", "hello-pie")
    assert_same(run_native([exe]), run_azemu([exe], extra=["--mode", mode]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_stdin_to_stdout(variant, libc):
    data = os.urandom(200_000) + b"\n" + bytes(range(256)) * 100
    exe = guest(libc, "cat_stdin")
    native = run_native([exe], stdin=data)
    assert native[0] == data
    assert_same(native, under(variant, libc, "cat_stdin", [], stdin=data))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_file_io_leaves_the_same_files(variant, libc, tmp_path):
    exe = guest(libc, "fileio")
    (tmp_path / "n" / "work").mkdir(parents=True)
    (tmp_path / "a" / "work").mkdir(parents=True)
    native = run_native([exe, str(tmp_path / "n" / "work")])
    emulated = under(variant, libc, "fileio", [str(tmp_path / "a" / "work")])
    strip = lambda r, d: (r[0].replace(str(tmp_path / d).encode(), b"X"), r[1], r[2])  # noqa: E731
    assert_same(strip(native, "n"), strip(emulated, "a"))
    assert tree(tmp_path / "n") == tree(tmp_path / "a")
    assert tree(tmp_path / "a")                 # it did leave files behind


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,signal", [("crash_null", 11), ("abort_prog", 6)])
def test_killed_by_signal(variant, libc, name, signal):
    exe = guest(libc, name)
    n_out, n_err, n_status = run_native([exe])
    a_out, a_err, a_status = under(variant, libc, name, [])
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


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
@pytest.mark.parametrize("name,status,insn", [("crash_ill", 132, "ud2"), ("crash_fpe", 136, "idiv rcx")])
def test_cpu_exceptions(mode, name, status, insn):
    exe = guest("raw", name)
    n_out, _, n_status = run_native([exe])
    a_out, a_err, a_status = run_azemu([exe], extra=["--mode", mode])
    assert n_status == a_status == status
    assert a_out == n_out
    assert insn in a_err.decode() and b"Traceback" not in a_err


@pytest.mark.parametrize("name,arg,status", [("getpid_raw", "1000", 0), ("compute_raw", "1000", None)])
def test_raw_programs(name, arg, status):
    exe = guest("raw", name)
    native = run_native([exe, arg])
    assert status is None or native[2] == status
    assert_same(native, run_azemu([exe, arg]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_edge_cases(variant, libc, tmp_path):
    """Argument checking, errno order and odd corners found in review, against Linux."""
    exe = guest(libc, "edgecases")
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    native = run_native([exe, str(tmp_path / "n")])
    emulated = under(variant, libc, "edgecases", [str(tmp_path / "a")])
    assert native[2] == 0 and b"done" in native[0]
    assert_same(native, emulated)
    assert tree(tmp_path / "n").keys() == tree(tmp_path / "a").keys()
