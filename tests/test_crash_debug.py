"""Crashes a developer can use: the faulting function and a backtrace
(`symbol+offset (object)`, unwound with the program's .eh_frame) in the
report, for glibc and musl, static and dynamic programs, in every mode; and
`--core FILE`, an ELF core that Debian's gdb opens (`bt`)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import guest, run_azemu

MODES = ("linux", "lwk", "unikernel")


def _frames(err: bytes) -> list[str]:
    text = err.decode()
    return re.findall(r"^\s+#\d+\s+[0-9a-f]{16} (.*)$", text, re.M)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc,outer", [("glibc", ["__libc_start_call_main", "__libc_start_main_impl",
                                                   "_start"]),
                                        ("musl", ["libc_start_main_stage2"])])
def test_a_static_crash_names_the_function_and_its_callers(mode, libc, outer):
    out, err, rc = run_azemu([guest(libc, "crash_null")], extra=["--mode", mode])
    assert rc == 139
    assert re.search(rb"ip [0-9a-f]{16} sp [0-9a-f]{16} in crash_null\[[0-9a-f+]+\]: main\+\d+ "
                     rb"\(crash_null\)", err), err.decode()
    frames = _frames(err)
    assert re.fullmatch(r"main\+\d+ \(crash_null\)", frames[0]), frames
    assert [f.split("+")[0] for f in frames[1:]] == outer, frames


def test_a_libos_image_crash_is_symbolized_too():
    out, err, rc = run_azemu([guest("libos/glibc", "crash_null")], extra=["--mode", "unikernel"])
    assert rc == 139
    assert _frames(err)[0].startswith("main+"), err.decode()


_SOURCE = ("#include <stdio.h>\n#include <string.h>\n"
           "static void inner(char *p) { strcpy(p, \"boom\"); }\n"
           "void outer(char *p) { inner(p); }\n"
           "int main(void) { puts(\"about to crash\"); outer(NULL); return 0; }\n")


def _build(tmp_path_factory, cc: str) -> str:
    """A dynamic PIE program crashing two calls below main, built by `cc`."""
    if shutil.which(cc) is None:
        pytest.skip(f"needs {cc}")
    d = tmp_path_factory.mktemp(cc)
    (d / "c.c").write_text(_SOURCE)
    subprocess.run([cc, "-O0", "-o", str(d / "dyncrash"), str(d / "c.c")], check=True)
    return str(d / "dyncrash")


@pytest.fixture(scope="module")
def dyncrash(tmp_path_factory):
    return _build(tmp_path_factory, "gcc")


@pytest.fixture(scope="module")
def dyncrash_musl(tmp_path_factory):
    path = _build(tmp_path_factory, "musl-gcc")
    if b"ld-musl" not in open(path, "rb").read(4096):
        pytest.skip("musl-gcc made no dynamic program")
    return path


def test_a_dynamic_crash_unwinds_through_the_c_library(dyncrash):
    out, err, rc = run_azemu([dyncrash])
    assert rc == 139                          # (its stdout, a pipe, was never flushed: as natively)
    frames = [f.split("+")[0] for f in _frames(err)]
    objs = [f.rsplit("(", 1)[-1].rstrip(")") for f in _frames(err)]
    assert frames[:3] == ["inner", "outer", "main"], frames
    assert "__libc_start_main" in frames and objs[frames.index("__libc_start_main")] == "libc.so.6"
    assert frames[-1] == "_start"


@pytest.mark.parametrize("mode", MODES)
def test_a_dynamic_musl_crash_names_its_frames_and_its_loader(dyncrash_musl, mode):
    out, err, rc = run_azemu([dyncrash_musl], extra=["--mode", mode])
    assert rc == 139
    frames = _frames(err)
    assert [f.split("+")[0] for f in frames[:3]] == ["inner", "outer", "main"], frames
    assert frames[3].endswith("(ld-musl-x86_64.so.1)"), frames    # musl's libc is its loader


needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb")


def _gdb_bt(program: str, core) -> str:
    p = subprocess.run(["gdb", "-batch", "-nx", "-ex", "bt", "-ex", "info registers rip",
                        program, str(core)], capture_output=True, timeout=120)
    return p.stdout.decode() + p.stderr.decode()


@needs_gdb
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_gdb_opens_the_core_of_a_static_crash(libc, tmp_path):
    core = tmp_path / "core"
    out, err, rc = run_azemu([guest(libc, "crash_null")], extra=["--core", str(core)])
    assert rc == 139 and b"core: written to" in err
    text = _gdb_bt(guest(libc, "crash_null"), core)
    assert "Program terminated with signal SIGSEGV" in text, text
    assert re.search(r"#0 +0x[0-9a-f]+ in main \(\)", text), text
    assert re.search(r"rip +0x[0-9a-f]+ +0x[0-9a-f]+ <main\+\d+>", text), text


@needs_gdb
def test_gdb_opens_the_core_of_a_dynamic_crash(dyncrash, tmp_path):
    core = tmp_path / "core"
    run_azemu([dyncrash], extra=["--mode", "lwk", "--core", str(core)])
    text = _gdb_bt(dyncrash, core)
    for frame in ("inner", "outer", "main"):
        assert re.search(rf"in {frame} \(\)", text), text


@needs_gdb
def test_abort_writes_a_core_too(tmp_path):
    core = tmp_path / "core"
    out, err, rc = run_azemu([guest("glibc", "abort_prog")], extra=["--core", str(core)])
    assert rc == 134 and b"core: written to" in err
    text = _gdb_bt(guest("glibc", "abort_prog"), core)
    assert "signal SIGABRT" in text and "in abort ()" in text and "in main ()" in text, text


def test_a_core_is_not_written_without_a_crash(tmp_path):
    core = tmp_path / "core"
    out, err, rc = run_azemu([guest("glibc", "hello")], extra=["--core", str(core)])
    assert rc == 0 and not core.exists()


@needs_gdb
def test_gdb_opens_the_core_of_a_dynamic_musl_crash(dyncrash_musl, tmp_path):
    core = tmp_path / "core"
    run_azemu([dyncrash_musl], extra=["--core", str(core)])
    text = _gdb_bt(dyncrash_musl, core)
    for frame in ("inner", "outer", "main"):
        assert re.search(rf"in {frame} \(\)", text), text


def test_symbols_are_never_read_through_a_link_out_of_the_root(tmp_path):
    """Under --root, a crash report reads the guest's libraries inside the
    root; a guest's symlink that leads out of it is not followed."""
    from types import SimpleNamespace

    from kernels.kernel import Kernel
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "real.so").write_bytes(b"\x7fELF")
    (root / "lib" / "evil.so").symlink_to("/etc/passwd")
    (root / "lib" / "up.so").symlink_to("../../outside.so")
    k = SimpleNamespace(root=str(root), image=SimpleNamespace(path="/bin/prog"))
    assert Kernel._host_path(k, "/lib/real.so") == str((root / "lib" / "real.so").resolve())
    assert Kernel._host_path(k, "/lib/evil.so") is None
    assert Kernel._host_path(k, "/lib/up.so") is None
    assert Kernel._host_path(k, "/../../etc/passwd") is None         # dots out of it, too
    from azemu.symbols import Locator
    mapping = SimpleNamespace(start=0x1000, end=0x2000, name="/lib/evil.so")
    mm = SimpleNamespace(find=lambda a: mapping, mappings=lambda: [mapping])
    assert Locator(mm, lambda n: Kernel._host_path(k, n)).describe(0x1234) == "??"
