"""`azemu build app.c [more.c ...] -o app`: a source-compatible unikernel image.

The program is compiled and linked statically with the libOS (libos.S beside
this file), then its remaining libc syscall sites are rewritten into calls
(rewrite.py).  The result is an ordinary static ELF that azemu recognises by
its `.azemu_libos` section and runs with function-hook syscalls; natively it
would not work (nothing serves the hook), so it is only run under azemu.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .rewrite import RewriteReport, rewrite

LIBOS_SOURCE = Path(__file__).with_name("libos.S")


class BuildError(Exception):
    pass


def compiler(libc: str) -> str:
    cc = {"glibc": "gcc", "musl": "musl-gcc"}[libc]
    if shutil.which(cc) is None:
        raise BuildError(f"{cc} not found: it is needed to build against {libc}")
    return cc


def build(sources: list[str], output: str, *, libc: str = "glibc",
          cflags: list[str] | None = None) -> RewriteReport:
    cc = compiler(libc)
    for s in sources:
        if not os.path.isfile(s):
            raise BuildError(f"{s}: No such file")
    with tempfile.TemporaryDirectory(prefix="azemu-build-") as tmp:
        linked = os.path.join(tmp, "linked")
        cmd = [cc, "-static", "-no-pie", *(cflags or ["-O2"]), "-o", linked,
               *sources, str(LIBOS_SOURCE)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"compiling failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")
        report = rewrite(linked, output)
    os.chmod(output, 0o755)
    return report
