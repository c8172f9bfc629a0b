"""The `azemu` command line.

    azemu exec PROGRAM [ARGS...]    run a Linux x86-64 program on an emulated kernel
    azemu build app.c -o app        a source-compatible unikernel image (libOS linked in)
    azemu run MACHINE.toml          a multikernel machine: partitions, each a kernel instance
    azemu bench getpid              the paper's getpid experiment (Figure 7)
    azemu calibrate                 native primitive costs for the cost model
    azemu info FILE                 what kind of program a file is, its segments
    azemu syscalls                  the syscall compatibility table, from the code

Exit statuses follow the shell's conventions: the program's own status; 128+N
when it is killed by signal N; 126 when a file cannot be executed; 127 when it
does not exist; 2 for a usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys


def _cmd_exec(args) -> int:
    from kernels import ExecError, Kernel

    from .memory import OutOfMemory

    path = args.program
    if os.sep not in path and not os.path.exists(path):
        found = _which(path)
        path = found or path
    try:
        if args.root and not os.path.isdir(args.root):
            print(f"azemu: --root {args.root}: not a directory", file=sys.stderr)
            return 2
        kernel = Kernel(mode=args.mode, memory=args.mem, in_guest=not args.no_in_guest,
                        ncores=args.cores, deterministic=args.deterministic,
                        strace=sys.stderr if args.strace else None,
                        root=args.root, readonly=args.ro,
                        fwk_policy=args.fwk_wait, fwk_spin_us=args.fwk_spin_us)
        kernel.exec(path, [os.fsencode(args.program)] + [os.fsencode(a) for a in args.args],
                    [os.fsencode(f"{k}={v}") for k, v in os.environ.items()])
    except ExecError as e:
        print(f"azemu: {e.message}", file=sys.stderr)
        return e.status
    except OutOfMemory:
        print(f"azemu: {path}: Cannot allocate memory (the program does not fit in "
              f"--mem {args.mem >> 20}M)", file=sys.stderr)
        return 126
    except RuntimeError as e:                    # the FWK proxy could not start
        print(f"azemu: {e}", file=sys.stderr)
        return 70
    # The guest decides what SIGINT and SIGPIPE do to it, not Python.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    outcome = kernel.run()
    if outcome.report:
        sys.stderr.flush()
        print(outcome.report, file=sys.stderr, flush=True)
    if args.stats:
        from .stats import print_stats
        print_stats(kernel, sys.stderr)
    status = outcome.exit_status
    dead = getattr(kernel.io_backend, "dead", None)
    kernel.close()
    if dead is not None:
        print(f"azemu: the FWK proxy (pid {kernel.io_backend.pid}) died during the run: "
              "file and network calls failed with EIO", file=sys.stderr)
        return status or 74                      # EX_IOERR when the guest itself succeeded
    return status


def _which(name: str) -> str | None:
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def _cmd_info(args) -> int:
    from .loader import ExecError, open_elf
    try:
        f, elf = open_elf(args.file)
    except ExecError as e:
        print(f"azemu: {e.message}", file=sys.stderr)
        return e.status
    with f:
        h = elf.header
        interp = None
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_INTERP":
                interp = seg.data().rstrip(b"\0").decode()
        kind = ("dynamically linked (interpreter " + interp + ")" if interp else
                "static-pie" if h.e_type == "ET_DYN" else "static")
        size = os.fstat(f.fileno()).st_size
        libos = elf.get_section_by_name(".azemu_libos") is not None
        print(f"{args.file}: ELF 64-bit x86-64 {h.e_type}, {kind}")
        if libos:
            print("  unikernel image with the azemu libOS: source compatibility "
                  "(syscalls are function calls; run with --mode unikernel)")
        else:
            print("  ordinary Linux program: runs on every mode; binary compatibility "
                  "under --mode unikernel")
        print(f"  image size: {size} bytes, entry {h.e_entry:#x}")
        print("  segments:")
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            fl = seg["p_flags"]
            perms = ("r" if fl & 4 else "-") + ("w" if fl & 2 else "-") + ("x" if fl & 1 else "-")
            print(f"    LOAD {seg['p_vaddr']:#014x} memsz {seg['p_memsz']:#9x} filesz {seg['p_filesz']:#9x} {perms}")
    return 0


def _cmd_build(args) -> int:
    from kernels.libos.build import BuildError, build
    try:
        report = build(args.sources, args.output, libc=args.libc,
                       cflags=args.cflags.split() if args.cflags else None)
    except BuildError as e:
        print(f"azemu build: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: unikernel image ({args.libc}); {report.summary()}")
    return 0


def _cmd_run(args) -> int:
    from .multikernel import MachineFileError, run_machine
    try:
        return run_machine(args.machine, live=not args.no_live)
    except MachineFileError as e:
        print(f"azemu run: {e}", file=sys.stderr)
        return 2


def _cmd_bench(args) -> int:
    from .bench import main as bench_main
    return bench_main(args)


def _cmd_calibrate(args) -> int:
    from rich.console import Console

    from .calibrate import HELPER, cache_path, load_or_measure, print_calibration
    if not HELPER.exists():
        print(f"azemu calibrate: {HELPER} is missing (make guests builds it)", file=sys.stderr)
        return 1
    data = load_or_measure(fresh=True)
    print_calibration(data, Console())
    print(f"saved to {cache_path()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    return 0


def _served(e, mode: str) -> str:
    """Where a call is served on kernel `mode` (McKernel's HANDLED/DELEGATED)."""
    if e.support == "missing":
        return "-"
    if e.offloaded:
        return "offloaded" if mode in ("lwk", "unikernel") else "local"
    return "local"


def _cmd_syscalls(args) -> int:
    from kernels.syscalls.table import all_entries
    entries = [e for e in all_entries() if args.all or e.support != "missing"]
    if args.format == "json":
        json.dump([{"nr": e.nr, "name": e.name, "support": e.support, "family": e.family,
                    "served": _served(e, args.mode), "note": e.note}
                   for e in entries], sys.stdout, indent=1)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"azemu syscall table (x86-64), {args.mode} kernel")
    for col in ("nr", "name", "support", "family", "served", "note"):
        t.add_column(col)
    colors = {"full": "green", "partial": "yellow", "error": "red", "missing": "dim"}
    for e in entries:
        t.add_row(str(e.nr), e.name, f"[{colors[e.support]}]{e.support}[/]", e.family,
                  _served(e, args.mode), e.note)
    Console().print(t)
    return 0


MIN_MEMORY = 16 << 20          # room for the 8 MiB stack and a small program


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        n = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 256M or 2G)") from None
    if n < MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"{text}: a kernel instance needs at least 16M")
    return n


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="azemu", description=(
        "Run Linux x86-64 programs on an emulated manycore machine hosting the "
        "Azalea multikernel model (monolithic, lightweight and unikernel)."))
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    ex = sub.add_parser("exec", help="run a program on an emulated kernel",
                        description="Run PROGRAM with ARGS; stdin, stdout, stderr and the environment are "
                                    "the host's; azemu exits with the program's status.")
    ex.add_argument("--mem", type=_size, default=1 << 30, metavar="SIZE",
                    help="memory of the kernel instance (e.g. 256M, 2G; default 1G)")
    ex.add_argument("--mode", choices=("linux", "lwk", "unikernel"), default="linux",
                    help="the kernel to run on: linux (monolithic, the default), lwk (Azalea's "
                         "lightweight kernel) or unikernel (binary compatibility; source "
                         "compatibility for images from `azemu build`)")
    ex.add_argument("--cores", type=int, default=1, metavar="N",
                    help="cores of the kernel instance (one Unicorn each); threads are "
                         "spread over them (default 1)")
    ex.add_argument("--deterministic", action="store_true",
                    help="interleave the cores by instruction counts, so output and "
                         "counters repeat exactly from run to run (slower)")
    ex.add_argument("--root", metavar="DIR",
                    help="confine the guest's file system to DIR (as a chroot: paths, "
                         "symlinks and .. are resolved inside it)")
    ex.add_argument("--ro", action="store_true",
                    help="make the guest's file system read-only (EROFS)")
    ex.add_argument("--fwk-wait", choices=("spin", "block", "spin-then-block"), default=None,
                    help="how a core waits for the FWK proxy's reply (lwk, unikernel; "
                         "default spin-then-block)")
    ex.add_argument("--fwk-spin-us", type=int, default=None, metavar="US",
                    help="how long spin-then-block spins before sleeping (default 200)")
    ex.add_argument("--stats", action="store_true",
                    help="after the run, print the kernel's event counters per core")
    ex.add_argument("--no-in-guest", action="store_true",
                    help="unikernel source images: send getpid & co through the function "
                         "hook instead of answering them inside the guest")
    ex.add_argument("--strace", action="store_true",
                    help="print every syscall with its arguments and result on stderr")
    ex.add_argument("program", help="path to a static or dynamic x86-64 ELF program")
    ex.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the program")
    ex.set_defaults(func=_cmd_exec)
    bd = sub.add_parser("build", help="build a source-compatible unikernel image from C sources",
                        description="Compile and link C sources statically with the azemu libOS; "
                                    "the image's syscalls become function calls into the libOS. "
                                    "Run it with `azemu exec --mode unikernel`.")
    bd.add_argument("sources", nargs="+", metavar="SOURCE.c")
    bd.add_argument("-o", dest="output", required=True, metavar="IMAGE")
    bd.add_argument("--libc", choices=("glibc", "musl"), default="glibc",
                    help="the C library to link (gcc for glibc, musl-gcc for musl)")
    bd.add_argument("--cflags", default="", help='compiler flags (default "-O2")')
    bd.set_defaults(func=_cmd_build)
    rn = sub.add_parser("run", help="boot a multikernel machine from a MACHINE.toml file",
                        description="Boot one machine split into partitions, each a kernel instance "
                                    "(lwk, unikernel or linux) with its own cores, memory and program, "
                                    "running in parallel and sharing one FWK proxy. See "
                                    "docs/multikernel.md and machines/*.toml.")
    rn.add_argument("machine", metavar="MACHINE.toml")
    rn.add_argument("--no-live", action="store_true", help="no live view while it runs")
    rn.set_defaults(func=_cmd_run)
    bn = sub.add_parser("bench", help="run a benchmark: getpid (the paper's Figure 7)",
                        description="getpid: the getpid loop natively and on linux, lwk, "
                                    "unikernel-binary and unikernel-source (function hook, in-guest); "
                                    "emulator time per call (measured) and modelled native time per call.")
    bn.add_argument("benchmark", choices=("getpid",))
    bn.add_argument("--iterations", type=int, default=10_000)
    bn.add_argument("--repeat", type=int, default=5)
    bn.add_argument("--json", metavar="FILE")
    bn.add_argument("--plot", metavar="FILE", help="write a PNG bar chart")
    bn.set_defaults(func=_cmd_bench)
    cal = sub.add_parser("calibrate", help="measure native primitive costs for the cost model",
                         description="Run native micro-measurements on this host (a getpid "
                                     "syscall, a function call, a lock, a register save, a "
                                     "cache-line transfer, a cycle) and show the price of each "
                                     "kernel event in the cost model, with its source.")
    cal.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    cal.set_defaults(func=_cmd_calibrate)
    info = sub.add_parser("info", help="describe an ELF file: kind, size, segments")
    info.add_argument("file")
    info.set_defaults(func=_cmd_info)
    sc = sub.add_parser("syscalls", help="print the syscall compatibility table")
    sc.add_argument("--format", choices=("table", "json"), default="table")
    sc.add_argument("--mode", choices=("linux", "lwk", "unikernel"), default="linux",
                    help="whose view: on lwk and unikernel, file and network calls are "
                         "offloaded to the FWK proxy")
    sc.add_argument("--all", action="store_true", help="include syscalls not implemented at all")
    sc.set_defaults(func=_cmd_syscalls)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as e:                      # a bug in azemu: one line, no traceback
        print(f"azemu: internal error: {type(e).__name__}: {e} "
              "(set AZEMU_DEBUG=1 for the traceback)", file=sys.stderr)
        if os.environ.get("AZEMU_DEBUG"):
            raise
        return 70


def entry() -> None:
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    os._exit(status) if status >= 128 else sys.exit(status)


if __name__ == "__main__":
    entry()
