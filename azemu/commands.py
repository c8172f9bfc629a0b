"""What each `azemu` command does, once cli.py has parsed its arguments.

One `cmd_NAME(args) -> exit status` per command.  Each imports what it needs
when it runs, so a command pays only for itself at start-up.  Errors a user
can cause end here as one line on stderr and a shell-like status; a bug
becomes cli.py's one "internal error" line.
"""
from __future__ import annotations

import os
import sys
import time


def _which(name: str) -> str | None:
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def program_path(name: str) -> str:
    """The file `azemu exec NAME` runs: NAME itself if it exists; a name
    without a slash from PATH, as a shell finds it; else a shipped example
    (`azemu examples`).  What is not found comes back as it is, for the
    loader to report."""
    if os.path.exists(name):
        return name
    if os.sep not in name:
        found = _which(name)
        if found:
            return found
    from . import resources                      # only when the name is not a file
    shipped = resources.lookup_guest(name)
    return str(shipped) if shipped else name


def _tracer(args):
    """The syscall tracer the --strace options ask for, or None."""
    # -e filters what is traced: with --trace-json alone, only the JSON lines
    lines = (args.strace or args.trace_out or args.trace_time or args.trace_clock
             or args.trace_strsize is not None or args.trace_kernel
             or (args.trace_expr and not args.trace_json))
    if not lines and not args.trace_json:
        return None
    from kernels.syscalls.strace import Tracer
    if args.trace_strsize is not None and args.trace_strsize < 0:
        raise ValueError(f"-s {args.trace_strsize}: must be 0 or more")
    stream = sys.stderr if lines else None
    if args.trace_out:
        stream = _trace_file("-o", args.trace_out)
    json_stream = _trace_file("--trace-json", args.trace_json) if args.trace_json else None
    expr = args.trace_expr
    if expr is not None and not expr.startswith("trace="):
        raise ValueError(f"-e {expr}: only trace=SET is offered")
    return Tracer(stream, strsize=32 if args.trace_strsize is None else args.trace_strsize,
                  trace=expr, timing=args.trace_time, timestamps=args.trace_clock,
                  to_file=bool(args.trace_out), kernel_view=args.trace_kernel,
                  json_stream=json_stream)


class _PacketLogError(Exception):
    pass


def _packet_log(args, kernel):
    """--trace-fwk: log the FWK channel packet by packet (kernels/fwk/packet_log.py)."""
    if not args.trace_fwk:
        return None
    if not hasattr(kernel.io_backend, "trace_packets"):
        raise _PacketLogError(f"--trace-fwk: the {args.mode} kernel serves its own file and network "
                         "calls (no FWK channel); use --mode lwk or --mode unikernel")
    try:
        kernel.io_backend.trace_packets(_trace_file("--trace-fwk", args.trace_fwk))
    except OSError as e:
        raise _PacketLogError(str(e)) from None
    return kernel.io_backend.packet_log


def _write_stats_json(kernel, path: str, ran_s: float) -> None:
    import json
    from .stats import stats_dict
    try:
        with open(path, "w") as f:
            json.dump(dict(stats_dict(kernel), run_s=ran_s), f)
    except OSError as e:
        print(f"azemu exec: --stats-json {path}: {e.strerror}", file=sys.stderr)


# Set by a command that has closed every file it wrote (azemu/cli.py entry:
# the process may then end without the interpreter's teardown).
files_closed = False


def _trace_file(option: str, path: str):
    try:
        return open(path, "w", buffering=1)
    except OSError as e:
        raise OSError(f"{option} {path}: {e.strerror}") from None


def _start_fwk_early(mode: str, path: str) -> None:
    """For a kernel whose I/O the FWK serves, start the FWK service now, so
    that its interpreter comes up while azemu imports the emulator and
    builds the kernel (about 30 ms of each lwk or unikernel run)."""
    if mode in ("lwk", "unikernel") and os.path.isfile(path):
        from kernels.fwk.client import FWKService
        FWKService.get()


def cmd_exec(args) -> int:
    path = program_path(args.program)
    if args.root and not os.path.isdir(args.root):
        print(f"azemu exec: --root {args.root}: not a directory", file=sys.stderr)
        return 2
    _start_fwk_early(args.mode, path)
    from kernels import ExecError, Kernel

    from .memory import OutOfMemory

    try:
        tracer = _tracer(args)
    except (ValueError, OSError) as e:
        print(f"azemu exec: {e}", file=sys.stderr)
        return 2
    try:
        kernel = Kernel(mode=args.mode, memory=args.mem, in_guest=not args.no_in_guest,
                        ncores=args.cores, deterministic=args.deterministic,
                        strace=tracer, quiet=args.quiet,
                        root=args.root, readonly=args.ro,
                        fwk_policy=args.fwk_wait, fwk_spin_us=args.fwk_spin_us,
                        fwk_timeout=args.fwk_timeout)
        packets = _packet_log(args, kernel)
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
    except _PacketLogError as e:
        print(f"azemu exec: {e}", file=sys.stderr)
        kernel.close()
        return 2
    kernel.core_file = args.core and os.path.abspath(args.core)
    stub = None
    if args.gdb is not None:
        from kernels.gdbstub import GdbStub
        try:
            stub = GdbStub(kernel, args.gdb, lambda line: print(line, file=sys.stderr, flush=True))
        except OSError as e:
            print(f"azemu exec: --gdb {args.gdb}: {e.strerror}", file=sys.stderr)
            kernel.close()
            return 2
    else:
        kernel.forward_host_signals = True       # Ctrl-C, Ctrl-Z, kill: the guest's (kernels/hostsig.py)
    began = time.perf_counter()
    outcome = kernel.run()
    ran_s = time.perf_counter() - began
    if stub is not None:
        stub.exited(outcome)
    if outcome.report:
        sys.stderr.flush()
        print(outcome.report, file=sys.stderr, flush=True)
    if args.stats:
        from .stats import print_stats
        print_stats(kernel, sys.stderr)
    if args.stats_json:
        _write_stats_json(kernel, args.stats_json, ran_s)
    status = outcome.exit_status
    if packets is not None:
        packets.close()
    if tracer is not None:                       # -o and --trace-json files: complete on disk
        for stream in (tracer.stream, tracer.json_stream):
            if stream is not None and stream is not sys.stderr:
                stream.close()
    dead = getattr(kernel.io_backend, "dead", None)
    kernel.close()
    if dead is not None:
        print(f"azemu: {kernel.io_backend.describe_loss()}", file=sys.stderr)
        return status or 74                      # EX_IOERR when the guest itself succeeded
    if outcome.signal:
        die_by(outcome.signal)
    global files_closed
    files_closed = True
    return status


def cmd_debug(args) -> int:
    """`azemu debug`: the kernel instance as for exec, run under the terminal
    debugger (kernels/debug_session.py), drawn full-screen by
    azemu/debug_tui.py, or driven by a script with --batch (azemu/debug_batch.py)."""
    from kernels import ExecError, Kernel
    from kernels.debug_session import DebugSession, SyscallLog, describe_exit
    from kernels.syscalls.strace import Tracer

    from .memory import OutOfMemory

    path = program_path(args.program)
    if args.root and not os.path.isdir(args.root):
        print(f"azemu debug: --root {args.root}: not a directory", file=sys.stderr)
        return 2
    term = None
    if args.batch is None:
        from .debug_tui import Terminal        # textual: only the full screen pays for it
        term = Terminal()                      # from here, fds 1 and 2 are the output pane's
    log = SyscallLog()
    kernel = None

    def fail(message: str, status: int) -> int:
        if term is not None:
            term.restore()
        if kernel is not None:
            kernel.close()
        print(message, file=sys.stderr)
        return status
    try:
        kernel = Kernel(mode=args.mode, memory=args.mem, in_guest=not args.no_in_guest,
                        ncores=args.cores, deterministic=args.deterministic,
                        strace=Tracer(log, kernel_view=True), root=args.root, readonly=args.ro,
                        stdio=None if term is None else [term.stdin, term.out_w, term.out_w])
        kernel.exec(path, [os.fsencode(args.program)] + [os.fsencode(a) for a in args.args],
                    [os.fsencode(f"{k}={v}") for k, v in os.environ.items()])
    except ExecError as e:
        return fail(f"azemu: {e.message}", e.status)
    except OutOfMemory:
        return fail(f"azemu: {path}: Cannot allocate memory (the program does not fit in "
                    f"--mem {args.mem >> 20}M)", 126)
    except RuntimeError as e:                    # the FWK proxy could not start
        return fail(f"azemu: {e}", 70)
    session = DebugSession(kernel, log)
    if term is None:
        from .debug_batch import run_batch
        ended = run_batch(session, args.batch)
    else:
        if term.tty is None:
            return fail("azemu debug: needs a terminal (run it in one, or use --batch)", 2)
        from .debug_tui import run_app
        cores = f"{args.cores} core{'s' * (args.cores != 1)}"
        run_app(session, term, f"azemu debug {args.program} ({args.mode}, {cores})")
        ended = not session.killed
    if not session.join(5.0):                    # the guest waits on the host: leave it there
        print("azemu debug: the program was still running; ended", file=sys.stderr, flush=True)
        os._exit(0)
    outcome = session.outcome
    kernel.close()
    if outcome is None or not ended:
        return 0                                 # the user ended it before its end
    if term is not None:
        if outcome.report:
            print(outcome.report, file=sys.stderr)
        print(f"azemu debug: {describe_exit(outcome).splitlines()[0]}", file=sys.stderr)
    return outcome.exit_status


def die_by(sig: int) -> None:
    """Leave as the guest did, killed by `sig`, so that the parent's wait
    sees a death by that signal (a shell shows 128+N either way).  Without a
    core file: the guest's core would not be azemu's."""
    import resource
    import signal
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    try:
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
    except (ValueError, OSError):
        return
    os.kill(os.getpid(), sig)


def compiler_driver(which: str, argv: list[str]) -> int:
    """`azemu build` / `azemu cc`: gcc's arguments, plus --libc."""
    from kernels.libos.build import LIBCS, BuildError, drive
    libc, rest = "glibc", []
    it = iter(argv)
    for a in it:
        if a == "--libc" or a.startswith("--libc="):
            libc = a.split("=", 1)[1] if "=" in a else next(it, "")
            if libc not in LIBCS:
                print(f"azemu {which}: error: argument --libc: {libc!r}: choose glibc or musl",
                      file=sys.stderr)
                return 2
        else:
            rest.append(a)
    if not rest:
        print(f"azemu {which}: error: no input files (azemu {which} --help)", file=sys.stderr)
        return 2
    try:
        return drive(rest, libc=libc, prog=f"azemu {which}", report=which == "build")
    except BuildError as e:
        print(f"azemu {which}: {e}", file=sys.stderr)
        return e.status


def cmd_info(args) -> int:
    from .loader import ExecError, open_elf
    path = program_path(args.file)
    try:
        f, elf = open_elf(path)
    except ExecError as e:
        print(f"azemu: {e.message}", file=sys.stderr)
        return e.status
    with f:
        interp = elf.interpreter()
        kind = ("dynamically linked (interpreter " + interp + ")" if interp else
                "static-pie" if elf.e_type == "ET_DYN" else "static")
        size = os.fstat(f.fileno()).st_size
        libos = elf.section(".azemu_libos") is not None
        print(f"{args.file}: ELF 64-bit x86-64 {elf.e_type}, {kind}")
        if libos:
            print("  unikernel image with the azemu libOS: source compatibility "
                  "(syscalls are function calls; run with --mode unikernel)")
        else:
            print("  ordinary Linux program: runs on every mode; binary compatibility "
                  "under --mode unikernel")
        print(f"  image size: {size} bytes, entry {elf.e_entry:#x}")
        print("  segments:")
        for seg in elf.loads():
            fl = seg.p_flags
            perms = ("r" if fl & 4 else "-") + ("w" if fl & 2 else "-") + ("x" if fl & 1 else "-")
            print(f"    LOAD {seg.p_vaddr:#014x} memsz {seg.p_memsz:#9x} "
                  f"filesz {seg.p_filesz:#9x} {perms}")
    return 0


def machine_path(name: str) -> str | None:
    """The machine file `azemu run NAME` boots: NAME, or a shipped example."""
    if os.path.exists(name):
        return name
    return str(_shipped_machine(name)) if os.sep not in name and _shipped_machine(name) else None


def _shipped_machine(name: str):
    from . import resources
    try:
        return resources.machine(name)
    except resources.MissingResource:
        return None


def cmd_run(args) -> int:
    from .multikernel import MachineFileError, run_machine
    from . import resources
    path = machine_path(args.machine)
    if path is None:
        shipped = ", ".join(resources.machines())
        print(f"azemu run: {args.machine}: No such file (shipped machines: {shipped})",
              file=sys.stderr)
        return 2
    if not os.path.isdir(args.out):
        print(f"azemu run: --out {args.out}: not a directory", file=sys.stderr)
        return 2
    try:
        return run_machine(path, live=not args.no_live, out_dir=args.out)
    except MachineFileError as e:
        print(f"azemu run: {e}", file=sys.stderr)
        return 2


def cmd_bench(args) -> int:
    if args.benchmark == "boot":
        if args.plot:
            print("azemu bench boot: takes no --plot (that is for `bench getpid`)",
                  file=sys.stderr)
            return 2
        from .bench_boot import main as boot_main
        return boot_main(args)
    if args.programs or args.mode:
        print("azemu bench getpid: takes no PROGRAM or --mode (those are for `bench boot`)",
              file=sys.stderr)
        return 2
    from .bench import main as bench_main
    return bench_main(args)


def cmd_calibrate(args) -> int:
    import json

    from rich.console import Console

    from . import resources

    from .calibrate import cache_path, load_or_measure, print_calibration
    try:
        data = load_or_measure(fresh=True)
    except resources.MissingResource as e:
        print(f"azemu calibrate: {e}", file=sys.stderr)
        return 1
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


def cmd_syscalls(args) -> int:
    import json

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


def cmd_conformance(args) -> int:
    from . import conformance
    from .cli import MODES
    modes = [m for m in args.mode.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"azemu conformance: no mode {bad[0]} (one of {', '.join(MODES)})", file=sys.stderr)
        return 2
    modules = [m for m in args.modules.split(",") if m]
    return conformance.run(modes, modules, python=args.python, timeout=args.timeout,
                           json_path=args.json, test_timeout=args.test_timeout)


def cmd_examples(args) -> int:
    from . import resources
    if args.name:
        path = resources.lookup_guest(args.name) or _shipped_machine(args.name)
        if path is None:
            print(f"azemu examples: {args.name}: no such example (azemu examples lists them)",
                  file=sys.stderr)
            return 2
        print(path)
        return 0
    print("programs (azemu exec NAME; 'hello' is glibc/hello):")
    for name in resources.guests():
        print(f"  {name}")
    print("machines (azemu run NAME):")
    for name in resources.machines():
        print(f"  {name}")
    print(f"installed in {resources.data_dir()}")
    return 0


def cmd_sweep(args) -> int:
    if args.point:                               # a point, where it runs: only what measures it
        from .sweep_point import main
        return main()
    from .sweep import cmd_sweep as sweep
    return sweep(args)
