"""Build tools under azemu (issue #10): the host's GNU make running the host's
gcc — dynamic programs that make processes with posix_spawn and vfork, and a
jobserver that waits in pselect6 with SIGCHLD unblocked — on the small C
project guest_bins/cproject, against the same build natively."""
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
def test_make_j2_compiles_the_same_objects_as_native(tmp_path):
    """`make -j2` of three objects: make, gcc, cc1 and as all run under
    azemu, two compilers at once; every .o is byte-identical to the native
    build's, and make's output and status are the native ones."""
    native_dir, azemu_dir = _copy(tmp_path / "n"), _copy(tmp_path / "a")
    make = shutil.which("make")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k != "MFLAGS"}
    native = run_native([make, "-j2", *OBJECTS], cwd=str(native_dir), env=env)
    assert native[2] == 0, native
    emulated = run_azemu([make, "-j2", *OBJECTS], cwd=str(azemu_dir), env=env, timeout=300)
    assert emulated[2] == 0, emulated
    lines = sorted(emulated[0].replace(bytes(azemu_dir), bytes(native_dir)).splitlines())
    assert lines == sorted(native[0].splitlines())
    for obj in OBJECTS:
        assert (azemu_dir / obj).read_bytes() == (native_dir / obj).read_bytes(), obj
