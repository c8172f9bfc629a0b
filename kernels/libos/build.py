"""`azemu build` and `azemu cc`: a compiler driver that makes source-compatible
unikernel images.

Both take what gcc takes — sources (.c, .S), objects (.o), archives (.a),
-I -D -O -g -L -l -pthread and every other flag, passed through in order —
and differ only in how much they say:

    azemu build app.c util.c -lm -pthread -o app.uk     prints what it rewrote
    make CC="azemu cc"                                  quiet, as a CC is

A step that does not link (-c, -S, -E, -M, -MM, or no input at all, as in
`--version`) is the C compiler's alone: gcc for glibc, musl-gcc for musl
(`--libc`).  A link step links statically at a fixed address with the libOS
(libos.S, package data of this package, assembled into the build's temporary
directory), then rewrites the remaining `syscall` sites of libc into
function calls (rewrite.py).  The result is an ordinary static ELF that azemu
recognises by its `.azemu_libos` section and runs with function-hook
syscalls; natively it would not work (nothing serves the hook).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from importlib.resources import files

LIBCS = {"glibc": "gcc", "musl": "musl-gcc"}
# gcc options whose value is the next argument (the rest carry it joined: -Idir, -lm)
_WITH_VALUE = {"-o", "-I", "-L", "-D", "-U", "-l", "-x", "-u", "-z", "-T", "-e", "-MF", "-MT",
               "-MQ", "-include", "-imacros", "-isystem", "-idirafter", "-iquote", "-iprefix",
               "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-imultilib", "-Xlinker",
               "-Xassembler", "-Xpreprocessor", "-aux-info", "--param", "-wrapper"}
_NO_LINK = {"-c", "-S", "-E", "-M", "-MM", "-r"}
_REFUSED = {
    "-shared": "a unikernel image is one static program, not a shared library",
    "-pie": "a unikernel image is linked at a fixed address (static, not position-independent)",
    "-static-pie": "a unikernel image is linked at a fixed address (static, not position-independent)",
}


class BuildError(Exception):
    """One line for the user; `status` is the driver's exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def libos_source() -> str:
    path = files("kernels.libos") / "libos.S"
    if not path.is_file():
        raise BuildError("the libOS source (kernels/libos/libos.S) is not installed with azemu; "
                         "reinstall the package")
    return str(path)


def compiler(libc: str) -> str:
    cc = LIBCS[libc]
    if shutil.which(cc) is None:
        raise BuildError(f"{cc} not found: it is needed to build against {libc}")
    return cc


class Invocation:
    """A gcc command line, understood as far as a driver must: where the
    output goes, which arguments are inputs, whether it links."""

    def __init__(self, args: list[str]):
        self.passed, self.inputs = [], []     # every argument but -o OUT, in order
        self.output = None
        self.links = True
        self.verbose = False
        it = iter(args)
        for a in it:
            if a in _REFUSED:
                raise BuildError(f"{a}: {_REFUSED[a]}", 2)
            if a == "-o" or (a.startswith("-o") and len(a) > 2):
                self.output = a[2:] if len(a) > 2 else next(it, None)
                if self.output is None:
                    raise BuildError("-o needs a file name", 2)
                continue
            self.passed.append(a)
            if a in _NO_LINK:
                self.links = False
            elif a == "-v":
                self.verbose = True
            elif a in _WITH_VALUE:
                value = next(it, None)
                if value is None:
                    raise BuildError(f"{a} needs a value", 2)
                self.passed.append(value)
            elif not a.startswith("-") or a == "-":
                self.inputs.append(a)
        if not self.inputs:
            self.links = False                # --version, -dumpmachine, -print-*: gcc's own


def drive(args: list[str], *, libc: str = "glibc", prog: str = "azemu cc",
          report: bool = False) -> int:
    """Run one compiler-driver invocation; returns its exit status.  With
    `report`, say on stdout what the link rewrote (`azemu build`)."""
    inv = Invocation(args)
    cc = compiler(libc)
    if not inv.links:
        cmd = [cc, *inv.passed] + (["-o", inv.output] if inv.output else [])
        rc = subprocess.run(cmd).returncode
        return rc if rc >= 0 else 128 - rc          # killed by a signal: as a shell says it
    output = inv.output or "a.out"
    with tempfile.TemporaryDirectory(prefix="azemu-build-") as tmp:
        libos_obj = os.path.join(tmp, "azemu_libos.o")
        _run([cc, "-c", "-o", libos_obj, libos_source()], prog, inv.verbose)
        linked = os.path.join(tmp, "linked")
        # -x none: the libOS object is an object whatever -x came before it
        _run([cc, *inv.passed, "-x", "none", libos_obj, "-static", "-no-pie", "-o", linked],
             prog, inv.verbose)
        from .rewrite import rewrite
        try:
            rep = rewrite(linked, output)
        except OSError as e:
            raise BuildError(f"{output}: {e.strerror}") from None
    os.chmod(output, 0o755)
    if report:
        print(f"{output}: unikernel image ({libc}); {rep.summary()}")
    elif rep.left:
        print(f"{prog}: {output}: {rep.summary()}", file=sys.stderr)
    return 0


def _run(cmd: list[str], prog: str, verbose: bool) -> None:
    """The compiler's diagnostics go straight to the user's terminal."""
    if verbose:
        print(f"{prog}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    rc = subprocess.run(cmd).returncode
    if rc != 0:
        raise BuildError(f"compiling failed (exit {rc}): {' '.join(cmd)}", rc if rc > 0 else 1)
