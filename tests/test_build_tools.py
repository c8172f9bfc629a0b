"""Build tools under azemu (issue #10): the host's GNU make running the host's
gcc — dynamic programs that make processes with posix_spawn and vfork, and a
jobserver that waits in pselect6 with SIGCHLD unblocked, and a link by
collect2 and ld — on the small C project guest_bins/cproject, against the same
build natively."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run_azemu, run_native

PROJECT = ROOT / "guest_bins" / "cproject"
OBJECTS = ("main.o", "words.o", "stats.o")


def _copy(dst: Path) -> Path:
    shutil.copytree(PROJECT, dst, ignore=shutil.ignore_patterns("*.o", "wordstat"))
    return dst


@pytest.mark.skipif(not (shutil.which("make") and shutil.which("gcc")), reason="no make or gcc")
@pytest.mark.parametrize("mode", ["linux", pytest.param("lwk", marks=pytest.mark.slow),
                                  pytest.param("unikernel", marks=pytest.mark.slow)])
def test_make_j2_builds_the_same_objects_and_program_as_native(mode, tmp_path):
    """`make -j2` of the whole project: make, gcc, cc1, as, collect2 and ld
    all run under azemu, two compilers at once, then the link.  Every .o is
    byte-identical to the native build's, make's output and status are the
    native ones, and the program linked under azemu prints what the native
    one prints, run natively and under azemu."""
    native_dir, azemu_dir = _copy(tmp_path / "n"), _copy(tmp_path / "a")
    make = shutil.which("make")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
    native = run_native([make, "-j2"], cwd=str(native_dir), env=env)
    assert native[2] == 0, native
    emulated = run_azemu([make, "-j2"], cwd=str(azemu_dir), env=env, timeout=400,
                         extra=["--mode", mode])
    assert emulated[2] == 0, emulated
    lines = sorted(emulated[0].replace(bytes(azemu_dir), bytes(native_dir)).splitlines())
    assert lines == sorted(native[0].splitlines())
    for obj in OBJECTS:
        assert (azemu_dir / obj).read_bytes() == (native_dir / obj).read_bytes(), obj
    text = (PROJECT / "Makefile").read_bytes() + (PROJECT / "main.c").read_bytes()
    expected = run_native([str(native_dir / "wordstat")], stdin=text)
    assert expected[2] == 0 and expected[0], expected
    assert run_native([str(azemu_dir / "wordstat")], stdin=text) == expected
    assert run_azemu([str(azemu_dir / "wordstat")], stdin=text, extra=["--mode", mode]) == expected
