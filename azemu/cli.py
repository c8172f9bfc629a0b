"""The `azemu` command line: the parser, its help, and how a command ends.

    azemu exec PROGRAM [ARGS...]    run a Linux x86-64 program on an emulated kernel
    azemu debug PROGRAM [ARGS...]   the same, in a full-screen terminal debugger
    azemu build app.c -o app.uk     a source-compatible unikernel image (gcc's arguments)
    azemu cc ...                    the same as a drop-in CC: make CC="azemu cc"
    azemu run MACHINE               a multikernel machine: partitions, each a kernel instance
    azemu bench getpid              the paper's getpid experiment (Figure 7)
    azemu bench boot [PROGRAM...]   time to the first instruction and main; image sizes
    azemu calibrate                 native primitive costs for the cost model
    azemu info FILE                 what kind of program a file is, its segments
    azemu syscalls                  the syscall compatibility table, from the code
    azemu examples [NAME]           the programs and machine files shipped with azemu

The commands themselves are in commands.py; this module only imports what
parsing needs, so that `azemu exec` starts quickly.  Exit statuses follow the
shell's conventions: the program's own status; 128+N when it is killed by
signal N; 126 when a file cannot be executed; 127 when it does not exist; 2
for a usage error, always one line.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__, options

MODES = ("linux", "lwk", "unikernel")


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (the usage only when the command
    line's shape is wrong, not for a bad value)."""

    def error(self, message):
        if message.startswith(("unrecognized arguments", "the following arguments")):
            self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


class Formatter(argparse.HelpFormatter):
    """argparse's formatter: descriptions wrapped, the examples as written;
    sized from the terminal without importing shutil (argparse makes one for
    every argument it adds: start-up time)."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def __init__(self, prog, **kw):
        if "width" not in kw:
            try:
                columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(2).columns
            except (ValueError, OSError):
                columns = 80
            kw["width"] = max(columns - 2, 40)
        super().__init__(prog, **kw)


def _sub(sub, name, help, description, examples):
    return sub.add_parser(name, help=help, description=description, epilog=examples,
                          formatter_class=Formatter)


def _exec_parser(sub):
    ex = _sub(sub, "exec", "run a program on an emulated kernel",
              "Run PROGRAM with ARGS on one kernel instance. stdin, stdout, stderr and the "
              "environment are the host's; azemu exits with the program's status (128+N "
              "when signal N killed it). PROGRAM is a static, static-pie or dynamic "
              "x86-64 ELF, or a #! script (run through its interpreter, as execve does). A "
              "name without a slash is looked up in PATH, then among the programs shipped "
              "with azemu (`azemu examples`).",
              _examples("azemu exec hello                          # a shipped static program",
                        "azemu exec --mode lwk --stats getpid_loop  # the LWK and its counters",
                        "azemu exec --strace /bin/true             # a dynamic one, traced",
                        "azemu exec --cores 4 threads 8            # threads on four cores",
                        "azemu exec --mode unikernel --root / --ro musl/cat_stdin < /etc/hostname"))
    ex.add_argument("--mode", choices=MODES, default="linux",
                    help="the kernel to run on: linux (monolithic, the default), lwk (Azalea's "
                         "lightweight kernel) or unikernel (binary compatibility; source "
                         "compatibility for images from `azemu build`)")
    ex.add_argument("--mem", type=options.memory, default=1 << 30, metavar="SIZE",
                    help="memory of the kernel instance: 16M up to the host's memory "
                         "(e.g. 256M, 2G; default 1G)")
    ex.add_argument("--cores", type=options.cores, default=1, metavar="N",
                    help="cores of the kernel instance, one Unicorn each, 1 to 1024; threads "
                         "are spread over them (default 1)")
    ex.add_argument("--deterministic", action="store_true",
                    help="slice time in instruction counts (slower) rather than by the timer, "
                         "so the cores' interleaving, output and counters repeat exactly")
    ex.add_argument("--root", metavar="DIR",
                    help="confine the guest's file system to DIR (as a chroot: paths, "
                         "symlinks and .. are resolved inside it)")
    ex.add_argument("--ro", action="store_true",
                    help="make the guest's file system read-only (EROFS)")
    ex.add_argument("--fwk-wait", choices=("spin", "block", "spin-then-block"), default=None,
                    help="how a core waits for the FWK proxy's reply (lwk, unikernel; "
                         "default spin-then-block: polls while the host has a CPU to spare, "
                         "then sleeps)")
    ex.add_argument("--fwk-spin-us", type=options.microseconds, default=None, metavar="US",
                    help="how long spin-then-block polls before sleeping, 0 to 10000000 "
                         "(default 200)")
    ex.add_argument("--fwk-timeout", type=options.timeout_seconds, default=None, metavar="S",
                    help="a proxy whose heartbeat stops this long (stopped or hung) is lost: "
                         "its calls fail with EIO and the run ends (default 5)")
    ex.add_argument("--stats", action="store_true",
                    help="after the run, print the kernel's event counters per core")
    ex.add_argument("--stats-json", metavar="FILE",
                    help="after the run, write the counters (total and per core) and the FWK's round "
                         "trips to FILE as JSON (what azemu sweep keeps)")
    ex.add_argument("--no-in-guest", action="store_true",
                    help="unikernel source images: send getpid & co through the function "
                         "hook instead of answering them inside the guest")
    ex.add_argument("--strace", action="store_true",
                    help="print every syscall with its arguments and result on stderr, in "
                         "strace's format (the options below imply it)")
    ex.add_argument("-e", dest="trace_expr", metavar="trace=SET",
                    help="trace only SET: names and classes (%%file %%desc %%network %%process "
                         "%%memory %%signal %%ipc), comma-separated; !SET for all others")
    ex.add_argument("-o", dest="trace_out", metavar="FILE",
                    help="write the trace to FILE instead of stderr")
    ex.add_argument("-s", dest="trace_strsize", type=int, metavar="N",
                    help="print at most N bytes of each string or buffer (default 32)")
    ex.add_argument("-T", dest="trace_time", action="store_true",
                    help="show the time azemu spent in each call, <seconds>")
    ex.add_argument("-tt", dest="trace_clock", action="store_true",
                    help="start each line with the time of day, with microseconds")
    ex.add_argument("--gdb", type=options.port, metavar="PORT",
                    help="stop before the first instruction and wait for gdb on localhost:PORT "
                         "(target remote :PORT); 0 picks a free port")
    ex.add_argument("--core", metavar="FILE",
                    help="if the program crashes, write its ELF core to FILE (for gdb PROGRAM FILE)")
    ex.add_argument("--trace-kernel", action="store_true",
                    help="end each traced call's line with the kernel's view: how it entered "
                         "(trap+switch, trap, call), the core, the kernel or the FWK (its round "
                         "trips), the emulator's time and the modelled native time")
    ex.add_argument("--trace-json", metavar="FILE",
                    help="write each traced call as a JSON line to FILE, with the kernel's view "
                         "(alone, it prints no strace lines)")
    ex.add_argument("--trace-fwk", metavar="FILE",
                    help="lwk and unikernel: write every round trip to the FWK proxy to FILE, "
                         "packet by packet (slot, fields and bytes of the request and the reply)")
    ex.add_argument("-q", "--quiet", action="store_true",
                    help="do not name the unsupported syscalls the program makes")
    ex.add_argument("program", help="the program: a path, a name in PATH, or a shipped example")
    ex.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the program")
    return ex


def _debug_parser(sub):
    db = _sub(sub, "debug", "run a program in a full-screen terminal debugger",
              "Run PROGRAM with ARGS as `azemu exec` does, stopped before its first "
              "instruction, in a full-screen debugger: the disassembly around rip with "
              "symbols and breakpoints, the registers (those changed since the last stop "
              "marked *), the stack, every syscall with how it entered the kernel (trap, "
              "trap+switch, function call, in-guest), its core and its result, each core's "
              "thread and state, and the program's output. Keys: s step, n next (over "
              "calls), c continue, y run to the next syscall, b break at an address or "
              "function (b main), d delete breakpoints, i interrupt, q quit. The program's "
              "stdin is /dev/null unless it is redirected. Needs a terminal.",
              _examples("azemu debug hello                         # b main, c, s, y, c",
                        "azemu debug --batch 'b main; c; s; y; c' hello   # the same, no screen",
                        "azemu debug --mode lwk musl/hello",
                        "azemu debug --mode unikernel --cores 4 libos/glibc/threads 4",
                        "azemu debug musl/cat_stdin < README.md"))
    db.add_argument("--mode", choices=MODES, default="linux",
                    help="the kernel to run on: linux (the default), lwk or unikernel")
    db.add_argument("--mem", type=options.memory, default=1 << 30, metavar="SIZE",
                    help="memory of the kernel instance (e.g. 256M, 2G; default 1G)")
    db.add_argument("--cores", type=options.cores, default=1, metavar="N",
                    help="cores of the kernel instance, 1 to 1024 (default 1)")
    db.add_argument("--deterministic", action="store_true",
                    help="slice time in instruction counts, so runs repeat exactly")
    db.add_argument("--root", metavar="DIR", help="confine the guest's file system to DIR")
    db.add_argument("--ro", action="store_true", help="make the guest's file system read-only")
    db.add_argument("--no-in-guest", action="store_true",
                    help="unikernel source images: every call through the function hook, so "
                         "each one is in the syscall log as it happens")
    db.add_argument("--batch", metavar="COMMANDS",
                    help="no screen: run these commands, separated by ';' (e.g. 'b main; c; s; "
                         "y; c'), printing each stop, message and syscall as text (the program "
                         "is killed after the last, if it has not ended)")
    db.add_argument("program", help="the program: a path, a name in PATH, or a shipped example")
    db.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the program")
    return db


_DRIVER_HELP = ("Takes what gcc takes: C and assembly sources, objects and archives, and "
                "every flag (-I -D -O -g -L -l -pthread ...), passed through in order. A link "
                "step links statically with the azemu libOS and rewrites libc's syscall sites "
                "into function calls; the image runs with `azemu exec --mode unikernel`. Needs "
                "gcc (glibc) or musl-gcc (musl).")


def _driver_arguments(p):
    p.add_argument("--libc", choices=("glibc", "musl"), default="glibc",
                   help="the C library: glibc (gcc, the default) or musl (musl-gcc)")
    p.add_argument("gcc_args", nargs=argparse.REMAINDER, metavar="GCC-ARGUMENTS",
                   help="sources, objects, archives and gcc flags; -o IMAGE (default a.out)")


def _build_parser(sub):
    _driver_arguments(_sub(
        sub, "build", "build a source-compatible unikernel image (gcc's arguments)",
        "Build a unikernel image from C sources. " + _DRIVER_HELP + " Prints how many syscall "
        "sites it rewrote.",
        _examples("azemu build hello.c -o hello.uk",
                  "azemu build main.c util.c -O2 -lm -pthread -o app.uk",
                  "azemu build --libc musl hello.c -o hello.uk",
                  "azemu exec --mode unikernel --stats hello.uk")))


def _cc_parser(sub):
    _driver_arguments(_sub(
        sub, "cc", "a drop-in C compiler (CC) that links unikernel images",
        "A C compiler for build systems. " + _DRIVER_HELP + " Compile steps (-c) are the "
        "compiler's own; quiet on success, like any CC.",
        _examples('make CC="azemu cc"', 'make CC="azemu cc --libc musl"',
                  "azemu cc -c util.c -o util.o && azemu cc main.c util.o -lm -o app.uk")))


def _run_parser(sub):
    rn = _sub(sub, "run", "boot a multikernel machine from a machine file",
              "Boot one machine split into partitions, each a kernel instance (lwk, unikernel "
              "or linux) with its own cores, memory, program and root, running in parallel; "
              "one FWK service gives each lwk or unikernel partition a proxy of its own. "
              "MACHINE is a .toml file, or the name of one shipped with azemu (`azemu "
              "examples`). Each partition's output goes to NAME.out and NAME.err in the output "
              "directory; a partition without a `root` works in NAME.root there.",
              _examples("azemu run three                     # the shipped example machine",
                        "azemu run --out /tmp three          # its outputs in /tmp",
                        "azemu run --no-live my-machine.toml"))
    rn.add_argument("machine", metavar="MACHINE", help="a machine file, or a shipped example's name")
    rn.add_argument("--out", metavar="DIR", default=".",
                    help="where the partitions' .out and .err files go (default: here)")
    rn.add_argument("--no-live", action="store_true", help="no live view of the cores while it runs")


def _bench_parser(sub):
    bn = _sub(sub, "bench", "run a benchmark: getpid (the paper's Figure 7), boot",
              "getpid: the getpid loop natively and on linux, lwk, unikernel-binary and "
              "unikernel-source (function hook, in-guest): emulator time per call (measured) "
              "and native time per call (modelled from counted events). "
              "boot: ms from exec to the first instruction and to main per kernel, for the "
              "shipped glibc/musl hello and their libOS images or the PROGRAMs given, and "
              "each image's size split into app, runtime (libc) and libOS.",
              _examples("azemu bench getpid",
                        "azemu bench getpid --repeat 7 --json getpid.json --plot getpid.png",
                        "azemu bench getpid --iterations 1000 --repeat 1   # a quick look",
                        "azemu bench boot --repeat 5 --json boot.json",
                        "azemu bench boot --mode unikernel hello.uk      # an `azemu build` image"))
    bn.add_argument("benchmark", choices=("getpid", "boot"), help="which benchmark")
    bn.add_argument("programs", nargs="*", metavar="PROGRAM",
                    help="boot: programs to measure (default: glibc/musl hello and their "
                         "libOS images)")
    bn.add_argument("--mode", action="append", choices=MODES,
                    help="boot: a kernel to boot on, repeatable (default: all three)")
    bn.add_argument("--iterations", type=options.positive("iterations"), default=10_000,
                    metavar="N", help="getpid calls per run (default 10000)")
    bn.add_argument("--repeat", type=options.positive("repeats"), default=5, metavar="N",
                    help="runs of each variant; the median is shown (default 5)")
    bn.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    bn.add_argument("--plot", metavar="FILE", help="also write a PNG bar chart (needs matplotlib)")


def _sweep_parser(sub):
    sw = _sub(sub, "sweep", "run an experiment matrix: every point its own azemu process",
              "Run every combination of a spec's axes (mode, cores, memory, program arguments, "
              "FWK wait policy ... anything azemu exec, run or bench accepts), each point "
              "--repeats times as an azemu process of its own, on a local pool as wide as the "
              "host (or on a Dask cluster with --cluster), keeping wall and CPU time, the "
              "kernel's counters, the modelled native time, the exit status and an output "
              "digest of each point in a JSON-lines file. A rerun runs only the points not in "
              "the file yet. Then, or with --report alone, tables (medians, spreads, ratios "
              "within a host) and --plot. SPEC is a .toml file or a shipped spec's name "
              "(docs/sweeps.md).",
              _examples("azemu sweep scaling --plot scaling.png   # the shipped scaling sweep",
                        "azemu sweep my.toml --out my.jsonl        # resumes my.jsonl",
                        "azemu sweep my.toml --report --plot my.png",
                        "azemu sweep my.toml --cluster tcp://10.0.0.5:8786   # on a Dask cluster"))
    sw.add_argument("spec", nargs="?", metavar="SPEC", help="a sweep spec (.toml) or a shipped spec's name")
    sw.add_argument("--out", metavar="FILE", help="the results, JSON lines (default: NAME.jsonl here)")
    sw.add_argument("--report", action="store_true", help="only report the results already in --out")
    sw.add_argument("--plot", metavar="FILE", help="also write a PNG plot (needs matplotlib)")
    sw.add_argument("--fresh", action="store_true", help="forget earlier results: measure every point")
    sw.add_argument("--workers", type=int, metavar="N",
                    help="local pool: points at a time (default: the host's CPUs)")
    sw.add_argument("--cluster", metavar="ADDRESS",
                    help="run on this Dask distributed scheduler (pip install 'azemu[cluster]')")
    sw.add_argument("--connect-timeout", type=float, default=20, metavar="S",
                    help="--cluster: how long to try reaching the scheduler (default 20 s)")
    sw.add_argument("--worker-command", default="azemu", metavar="CMD",
                    help="--cluster: how a worker runs azemu (default: azemu, on its PATH)")
    sw.add_argument("--shared-files", action="store_true",
                    help="--cluster: the workers see this host's paths; do not send the program")
    sw.add_argument("--list", action="store_true", help="list the specs azemu ships")
    sw.add_argument("--point", metavar="-", help=argparse.SUPPRESS)   # a point, run where it runs


def _calibrate_parser(sub):
    cal = _sub(sub, "calibrate", "measure native primitive costs for the cost model",
               "Run native micro-measurements on this host (a getpid syscall, a function "
               "call, a lock, a register save, a cache-line transfer, a cycle), keep them for "
               "`azemu bench`, and show the price of each kernel event in the cost model, with "
               "its source.",
               _examples("azemu calibrate", "azemu calibrate --json calibration.json"))
    cal.add_argument("--json", metavar="FILE", help="also write the figures to FILE")


def _info_parser(sub):
    info = _sub(sub, "info", "describe an ELF file: kind, size, segments",
                "Say what kind of program FILE is (static, static-pie, dynamic; an ordinary "
                "Linux program or a unikernel image) and list its loadable segments.",
                _examples("azemu info /bin/true", "azemu info libos/glibc/hello"))
    info.add_argument("file", metavar="FILE", help="the file to describe (or a shipped example)")


def _syscalls_parser(sub):
    sc = _sub(sub, "syscalls", "print the syscall compatibility table",
              "The syscall table azemu dispatches with, printed from the code: number, name, "
              "support level, family, where each kernel serves it, and a note.",
              _examples("azemu syscalls", "azemu syscalls --mode lwk",
                        "azemu syscalls --format json --all"))
    sc.add_argument("--format", choices=("table", "json"), default="table",
                    help="a table for people (default) or JSON for scripts")
    sc.add_argument("--mode", choices=MODES, default="linux",
                    help="whose view: on lwk and unikernel, file and network calls are "
                         "offloaded to the FWK proxy")
    sc.add_argument("--all", action="store_true", help="include syscalls not implemented at all")


def _examples_parser(sub):
    exs = _sub(sub, "examples", "list the programs and machine files shipped with azemu",
               "List the example guest programs and machine files installed with azemu, or "
               "print the path of one (for scripts). `azemu exec` and `azemu run` accept "
               "these names directly.",
               _examples("azemu examples", "azemu examples musl/hello",
                         'cp "$(azemu examples three)" /tmp/my-machine.toml'))
    exs.add_argument("name", nargs="?", metavar="NAME", help="print only this one's path")


def _conformance_parser(sub):
    from .conformance import MODULES, PYTHON
    c = _sub(sub, "conformance", "run CPython's regression tests natively and under azemu",
             "Run kernel-facing modules of CPython's own test suite (Debian's "
             "libpython3.11-testsuite) with the host's Python natively and under azemu in "
             "each mode, compare them test case by test case, and print a table (native "
             "passing / azemu passing per module and mode), every test that passes natively "
             "but not under azemu, and the differences azemu keeps on purpose with their "
             "reasons. Exits 1 when there is a difference not on that list.",
             _examples("azemu conformance --mode lwk --modules test_wait3,test_fileio",
                       "azemu conformance --json conformance.json      # every module, every mode"))
    c.add_argument("--mode", default="linux,lwk,unikernel", metavar="MODES",
                   help="kernel modes, comma-separated (default linux,lwk,unikernel)")
    c.add_argument("--modules", default=",".join(MODULES), metavar="NAMES",
                   help="test modules, comma-separated (default: the kernel-facing list)")
    c.add_argument("--python", default=PYTHON, help=f"the Python under test (default {PYTHON})")
    c.add_argument("--timeout", type=float, default=900, metavar="S",
                   help="seconds each module may take in each mode (default 900)")
    c.add_argument("--test-timeout", type=float, default=300, metavar="S",
                   help="seconds one test case may take: one that runs longer, or takes the "
                        "interpreter down, counts as failed and the module goes on with "
                        "the next (default 300; 0: no limit)")
    c.add_argument("--json", metavar="FILE", help="write the whole comparison as JSON")


# In the order `azemu --help` lists them; each adds its subparser.
COMMANDS = {"exec": _exec_parser, "debug": _debug_parser, "build": _build_parser,
            "cc": _cc_parser, "run": _run_parser, "bench": _bench_parser, "sweep": _sweep_parser,
            "calibrate": _calibrate_parser, "info": _info_parser,
            "syscalls": _syscalls_parser, "examples": _examples_parser,
            "conformance": _conformance_parser}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or just the top level and the command `only`
    (what one run needs: building every subcommand's parser costs start-up)."""
    ap = Parser(prog="azemu", description=(
        "Run Linux x86-64 programs on an emulated manycore machine hosting the Azalea "
        "multikernel model: a monolithic kernel, a lightweight kernel and a unikernel, and "
        "see how each syscall travels through them."),
        epilog=_examples("azemu exec hello", "azemu exec --mode unikernel --stats getpid_loop",
                         "azemu debug hello          # a terminal debugger: b main, c, s, y",
                         "azemu run three", "azemu bench getpid",
                         "azemu COMMAND --help      # each command's options and examples"),
        formatter_class=Formatter)
    ap.add_argument("--version", action="version", version=f"azemu {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, add in COMMANDS.items():
        if only is None or name == only:
            add(sub)
    ap.command_parsers = sub.choices             # name -> its parser
    return ap


_DRIVERS = ("build", "cc")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    from . import commands
    if argv and argv[0] in _DRIVERS and not {"-h", "--help"} & set(argv[1:2]):
        # gcc's arguments are the driver's to read, not argparse's
        return commands.compiler_driver(argv[0], argv[1:])
    args, extra = parser.parse_known_args(argv)
    if extra and args.cmd == "bench" and not any(x.startswith("-") for x in extra):
        args.programs += extra                   # `bench boot --mode M PROGRAM...`: intermixed
        extra = []
    if extra:
        parser.command_parsers[args.cmd].error("unrecognized arguments: " + " ".join(extra))
    try:
        return getattr(commands, "cmd_" + args.cmd)(args)
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
    """The `azemu` command.  After `exec`, which closes every file it wrote
    before it returns, the process ends with os._exit once its exit
    handlers have run and its streams are flushed: a Python interpreter's
    teardown (its modules, and the Unicorn instances of the cores and of the
    start-up probes) takes about 15 ms, a fifth of running a small program."""
    status = main()
    from . import commands
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):   # a closed pipe, or a stream closed already
            pass
    if commands.files_closed or status >= 128:
        import atexit
        atexit._run_exitfuncs()                 # the sandbox's /dev/shm, a made empty directory
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    entry()
