"""`azemu build`: C programs rebuilt against the libOS give the output of the
native build, with no `syscall` instruction left to trap."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

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


# ---- azemu build and azemu cc as compiler drivers ------------------------------------
PROJECT = ROOT / "guest_bins" / "projects" / "wordfreq"
AZEMU_CC = f"{sys.executable} -m azemu cc"


def _make(src, dest, cc, env=None):
    shutil.copytree(src, dest)
    p = subprocess.run(["make", "-C", str(dest), f"CC={cc}"], capture_output=True, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return dest / "wordfreq"


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_make_cc_builds_a_multi_file_project(libc, tmp_path):
    """`make CC="azemu cc"` on a project with several sources, a static library
    (ar) and -lm gives an image whose output equals the native build's."""
    _compiler(libc)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    native = _make(PROJECT, tmp_path / "native", {"glibc": "gcc", "musl": "musl-gcc"}[libc])
    image = _make(PROJECT, tmp_path / "uk", f"{AZEMU_CC} --libc {libc}", env)
    assert (tmp_path / "uk" / "libwf.a").exists()
    text = (ROOT / "README.md").read_bytes() * 3
    want = run_native([str(native), "12"], stdin=text)
    assert want[2] == 0 and b"words" in want[0]
    assert_same(want, run_azemu([str(image), "12"], stdin=text, extra=["--mode", "unikernel"]))
    out, err, rc = run_cli("info", str(image))
    assert b"source compatibility" in out


MATH_THREADS = r'''
#include <math.h>
#include <pthread.h>
#include <stdio.h>
static double part[4];
static void *work(void *arg) {
    long k = (long)arg;
    double s = 0;
    for (int i = 1; i <= 20000; i++) s += sqrt((double)i) * cos(i * 0.001 * (k + 1));
    part[k] = s;
    return NULL;
}
int main(void) {
    pthread_t t[4];
    for (long k = 0; k < 4; k++) pthread_create(&t[k], NULL, work, (void *)k);
    for (int k = 0; k < 4; k++) pthread_join(t[k], NULL);
    for (int k = 0; k < 4; k++) printf("part %d: %.6f\n", k, part[k]);
    printf("hypot: %.9f, lgamma: %.9f\n", hypot(3.0, 4.0), lgamma(10.5));
    return 0;
}
'''


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_build_with_libm_and_pthreads(libc, tmp_path):
    """What builds with `gcc -static f.c -lm -pthread` builds with `azemu build
    f.c -lm -pthread`, and runs with the native output on 1 and 4 cores."""
    _compiler(libc)
    src = tmp_path / "mt.c"
    src.write_text(MATH_THREADS)
    cc = {"glibc": "gcc", "musl": "musl-gcc"}[libc]
    native = tmp_path / "mt"
    assert subprocess.run([cc, "-static", "-O2", str(src), "-lm", "-pthread", "-o", str(native)]).returncode == 0
    out, err, rc = run_cli("build", "--libc", libc, str(src), "-O2", "-lm", "-pthread",
                           "-o", str(tmp_path / "mt.uk"))
    assert rc == 0, err
    want = run_native([str(native)])
    for cores in ("1", "4"):
        assert_same(want, run_azemu([str(tmp_path / "mt.uk")],
                                    extra=["--mode", "unikernel", "--cores", cores]))


def test_cc_passes_compile_steps_through(tmp_path):
    """-c is the compiler's own step (an ordinary object); so is a command
    with no input (--version); a link of objects makes the image."""
    _compiler("glibc")
    (tmp_path / "a.c").write_text('int twice(int x) { return 2 * x; }\n')
    (tmp_path / "m.c").write_text('#include <stdio.h>\nint twice(int);\n'
                                  'int main(void) { printf("%d\\n", twice(21)); return 0; }\n')
    for name in ("a", "m"):
        out, err, rc = run_cli("cc", "-c", str(tmp_path / f"{name}.c"), "-o", str(tmp_path / f"{name}.o"))
        assert rc == 0 and out == b"" and err == b"", err
    assert subprocess.run(["gcc", "-o", str(tmp_path / "plain"), str(tmp_path / "a.o"),
                           str(tmp_path / "m.o")]).returncode == 0    # a normal object
    out, err, rc = run_cli("cc", str(tmp_path / "m.o"), str(tmp_path / "a.o"), "-o", str(tmp_path / "app"))
    assert rc == 0 and out == b"", err
    assert run_azemu([str(tmp_path / "app")], extra=["--mode", "unikernel"])[0] == b"42\n"
    out, err, rc = run_cli("cc", "--version")
    assert rc == 0 and b"gcc" in out.lower()


@pytest.mark.parametrize("flag", ("-shared", "-pie", "-static-pie"))
def test_driver_refuses_what_an_image_cannot_be(flag, tmp_path):
    out, err, rc = run_cli("build", flag, "x.c", "-o", str(tmp_path / "x"))
    assert rc == 2 and len(err.splitlines()) == 1 and flag.encode() in err
    assert b"Traceback" not in err
