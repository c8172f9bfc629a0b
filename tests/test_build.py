"""`azemu build`: C programs rebuilt against the libOS give the output of the
native build, with no `syscall` instruction left to trap."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT, assert_same, guest, run_azemu, run_cli, run_native, tree

SRC = ROOT / "guest_bins" / "src"
QUICK = ["hello", "fileio", "signals", "getpid_loop"]
ALL = ["hello", "args", "fileio", "mallocstress", "timeprog", "getpid_loop", "cat_stdin",
       "exit_code", "sysinfo", "compute", "badptr", "signals", "edgecases", "crash_null",
       "abort_prog"]
NEEDS_DIR = {"fileio", "edgecases"}


def _compiler(libc):
    cc = {"glibc": "gcc", "musl": "musl-gcc"}[libc]
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed")


def _check(libc, name, tmp_path):
    _compiler(libc)
    image = tmp_path / f"{name}.uk"
    out, err, rc = run_cli("build", "--libc", libc, str(SRC / f"{name}.c"), "-o", str(image))
    assert rc == 0, err
    assert b"left as traps: none" in out, out      # every syscall site became a call
    if name in NEEDS_DIR:
        (tmp_path / "n").mkdir()
        (tmp_path / "a").mkdir()
    native = run_native([guest(libc, name)] + ([str(tmp_path / "n")] if name in NEEDS_DIR else []))
    emulated = run_azemu([str(image)] + ([str(tmp_path / "a")] if name in NEEDS_DIR else []),
                         extra=["--mode", "unikernel"])
    if name == "args":                  # argv[0] is the path each was started by
        native = (native[0].replace(guest(libc, name).encode(), str(image).encode()),) + native[1:]
    if name in ("crash_null", "abort_prog"):
        assert emulated[0] == native[0] and emulated[2] == native[2]
    else:
        assert_same(native, emulated)
    if name in NEEDS_DIR:
        assert tree(tmp_path / "n").keys() == tree(tmp_path / "a").keys()


@pytest.mark.parametrize("libc", ("glibc", "musl"))
@pytest.mark.parametrize("name", QUICK)
def test_build_and_run(libc, name, tmp_path):
    _check(libc, name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("libc", ("glibc", "musl"))
@pytest.mark.parametrize("name", [n for n in ALL if n not in QUICK])
def test_build_and_run_every_program(libc, name, tmp_path):
    _check(libc, name, tmp_path)


def test_multiple_sources_and_errors(tmp_path):
    _compiler("glibc")
    (tmp_path / "main.c").write_text('int twice(int); int printf(const char *, ...);\n'
                                     'int main(void) { printf("%d\\n", twice(21)); return 0; }\n')
    (tmp_path / "lib.c").write_text("int twice(int x) { return 2 * x; }\n")
    out, err, rc = run_cli("build", str(tmp_path / "main.c"), str(tmp_path / "lib.c"),
                           "-o", str(tmp_path / "app"))
    assert rc == 0, err
    assert run_azemu([str(tmp_path / "app")], extra=["--mode", "unikernel"])[0] == b"42\n"
    (tmp_path / "bad.c").write_text("int main(void) { return nope; }\n")
    out, err, rc = run_cli("build", str(tmp_path / "bad.c"), "-o", str(tmp_path / "bad"))
    assert rc == 1 and b"compiling failed" in err and b"Traceback" not in err
    out, err, rc = run_cli("build", str(tmp_path / "missing.c"), "-o", str(tmp_path / "x"))
    assert rc == 1 and b"No such file" in err


def test_libos_image_needs_unikernel_mode():
    for mode in ("linux", "lwk"):
        out, err, rc = run_azemu([guest("libos/glibc", "hello")], extra=["--mode", mode])
        assert rc == 126 and b"--mode unikernel" in err


def test_red_zone_is_not_clobbered(tmp_path):
    """A leaf function keeps data below rsp (the red zone) across a syscall
    site; the libOS trampoline must step over it."""
    _compiler("glibc")
    src = tmp_path / "redzone.c"
    src.write_text(r'''
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
    long ok = 1;
    for (int i = 0; i < 100; i++) {
        long out;
        __asm__ volatile(
            "movq $0x1111, -8(%%rsp)\n\t"
            "movq $0x2222, -64(%%rsp)\n\t"
            "movq $0x3333, -128(%%rsp)\n\t"
            "mov $39, %%eax\n\t"
            "syscall\n\t"
            "mov -8(%%rsp), %%rax\n\t"
            "add -64(%%rsp), %%rax\n\t"
            "add -128(%%rsp), %%rax\n\t"
            "mov %%rax, %0" : "=r"(out) : : "rax", "rcx", "r11", "memory");
        ok &= out == 0x6666;
    }
    printf("red zone intact: %s\n", ok ? "yes" : "no");
    return 0;
}
''')
    out, err, rc = run_cli("build", str(src), "-o", str(tmp_path / "rz"))
    assert rc == 0 and b"left as traps: none" in out, out + err
    got = run_azemu([str(tmp_path / "rz")], extra=["--mode", "unikernel", "--stats"])
    assert got[0] == b"red zone intact: yes\n"
    native = subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "rzn"), str(src)], capture_output=True)
    assert native.returncode == 0
    assert run_native([str(tmp_path / "rzn")])[0] == b"red zone intact: yes\n"


CASES = ROOT / "tests" / "rewrite_cases"


@pytest.mark.parametrize("case", sorted(p.stem for p in CASES.glob("*.c")))
def test_rewriting_keeps_behaviour(case, tmp_path):
    """Programs built to trip the syscall-site rewriter (found in review): a
    function entered only through a pointer, two sites whose windows would
    overlap, syscall bytes inside data in .text, and the flags, rcx and r11 a
    `syscall` leaves — each gives the native output as a unikernel image."""
    _compiler("glibc")
    src = CASES / f"{case}.c"
    native = tmp_path / "native"
    assert subprocess.run(["gcc", "-static", "-O2", "-o", str(native), str(src)]).returncode == 0
    out, err, rc = run_cli("build", str(src), "-o", str(tmp_path / "uk"))
    assert rc == 0, err
    assert_same(run_native([str(native)]), run_azemu([str(tmp_path / "uk")], extra=["--mode", "unikernel"]))
