"""`azemu bench boot`: how long a program takes to boot on each kernel, and
what its image is made of (issue 14, item 2).

For each kernel (linux, lwk, unikernel) and image — by default the unmodified
static glibc and musl hello and their source-compatible unikernel images
(`azemu build`: libos/glibc/hello, libos/musl/hello, unikernel only), or the
PROGRAMs given — it measures in this process with perf_counter, from before
the kernel instance is made (for lwk and unikernel that includes starting
its FWK proxy process) through loading the ELF:

  first instruction   until the guest's first instruction executes (a
                      one-shot Unicorn code hook on the entry point);
  main                until rip reaches the program's `main` (from its
                      symbol table, azemu/symbols.py), when it has one;
  exit                until the program has exited and the kernel is closed.

Each is the median of --repeat runs, after one boot per kernel that is not
counted (it pays for importing the kernel's modules, once per process).  Each
boot starts after a gc.collect(): a full collection of the earlier boots'
garbage (a kernel instance is many objects) would otherwise land, 50-100 ms
long, in the middle of one of them.  These are Python + Unicorn times on
this host, not what a native kernel would take.  For reference the native
row forks and execs the same static program on the host (exec to exit).

Image sizes (azemu/imagesize.py): the file, what its PT_LOAD segments
occupy, and text + data split into app, runtime (libc) and libOS.  Beside
them, labelled "published", the figures the Azalea paper cites for other
systems (PUBLISHED below): measured elsewhere, on other machines, and never
compared with these as if measured here.
"""
from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import resources

KERNELS = ("linux", "lwk", "unikernel")
DEFAULT_IMAGES = ("glibc/hello", "musl/hello", "libos/glibc/hello", "libos/musl/hello")
NATIVE_IMAGES = ("glibc/hello", "musl/hello")
MEMORY = 64 << 20

# Figures the Azalea paper (ETRI's Azalea multikernel) cites for other
# systems, as it gives them: published, not measured here (other machines,
# other hardware), and shown beside the table only as such.
PUBLISHED = [
    {"system": "unikernel web service", "image_size": "< 2 MB", "boot": None,
     "source": "as cited by the Azalea paper"},
    {"system": "ClickOS", "image_size": "about 5 MB", "boot": "about 20 ms",
     "source": "as cited by the Azalea paper (ClickOS: Martins et al., NSDI 2014; its "
               "project page, cnp.neclab.eu/clickos, says 6 MB and about 30 ms)"},
    {"system": "OSv", "image_size": None, "boot": "< 1 s",
     "source": "as cited by the Azalea paper (OSv: Kivity et al., USENIX ATC 2014)"},
]


class BootError(Exception):
    """Something the user asked for cannot be measured: one line, exit 2."""


class Target:
    """One image to boot: the name shown, its host path, whether it has the libOS."""

    def __init__(self, name: str, path: str):
        self.name, self.path = name, path
        from .imagesize import ImageError, measure
        try:
            self.sizes = measure(path)
        except ImageError as e:
            raise BootError(str(e)) from None
        self.libos = self.sizes["libos_image"]
        self.main = _main_address(path)


def _main_address(path: str) -> int | None:
    from .symbols import object_file
    obj = object_file(path)
    return obj.address("main") if obj is not None else None


def targets(programs: list[str]) -> list[Target]:
    """The images to measure: PROGRAMs (a path, or a shipped name as `azemu
    exec` takes them), else the default set."""
    if not programs:
        return [Target(n, str(resources.guest(n))) for n in DEFAULT_IMAGES]
    from .commands import program_path
    out = []
    for name in programs:
        path = program_path(name)
        if os.path.exists(path) and not os.path.isfile(path):
            raise BootError(f"{name}: not a regular file")
        if not os.path.isfile(path):
            raise BootError(f"{name}: no such program (a file, or a name from `azemu examples`)")
        out.append(Target(name, path))
    return out


class _Quiet:
    """The guest's stdin, stdout and stderr on /dev/null while the kernel —
    and its FWK proxy, which inherits them — runs (the table is printed
    after; a failure is said after they are given back)."""

    def __enter__(self):
        sys.stderr.flush()
        self.null = os.open(os.devnull, os.O_RDWR)
        self.saved = [os.dup(0), os.dup(1), os.dup(2)]
        for fd in (0, 1, 2):
            os.dup2(self.null, fd)
        return self

    def __exit__(self, *exc):
        for fd, saved in zip((0, 1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        os.close(self.null)


def _at(kernel, address: int, mark: dict, key: str) -> None:
    """Record perf_counter in mark[key] the first time any core executes `address`."""
    from unicorn import unicorn_const as ucc
    from . import ucfast

    def seen(uc, addr, size, ud):
        if key not in mark:
            mark[key] = time.perf_counter()

    for core in kernel.part.cores:
        core.add_hook(ucc.UC_HOOK_CODE, lambda: ucfast.CODE_CB(seen), address, address)


def boot_once(mode: str, target: Target) -> dict:
    """One boot of `target` on `mode`: seconds from before the kernel is made
    to the first instruction, to main, to exit; and how it ended."""
    from kernels import ExecError, Kernel
    mark: dict = {}
    kernel = None
    gc.collect()        # the earlier boots' garbage: its full collection is not this boot's
    with _Quiet():
        try:
            t0 = time.perf_counter()
            kernel = Kernel(mode=mode, memory=MEMORY, quiet=True)
            t_made = time.perf_counter()
            kernel.exec(target.path, [os.fsencode(target.path)], [])
            t_loaded = time.perf_counter()
            _at(kernel, kernel.image.entry, mark, "first")     # the interpreter's, if any
            if target.main is not None:
                _at(kernel, target.main + kernel.image.load_bias, mark, "main")
            out = kernel.run()
            kernel.close()
            kernel = None
            t_exit = time.perf_counter()
        except ExecError as e:
            raise BootError(f"{target.name}: {e.message}") from None
        finally:
            if kernel is not None:
                kernel.close()
    if "first" not in mark:
        raise BootError(f"{target.name} on {mode}: its first instruction never ran")
    return {"kernel_made": t_made - t0, "loaded": t_loaded - t0, "first": mark["first"] - t0,
            "main": mark["main"] - t0 if "main" in mark else None, "exit": t_exit - t0,
            "status": out.exit_status}


def native_once(path: str) -> float:
    """fork+exec+wait of `path` on the host, its output to /dev/null."""
    t = time.perf_counter()
    subprocess.run([path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _kind(tg: Target, status: int) -> str:
    kind = "libOS image (azemu build)" if tg.libos else \
        "unmodified binary" + (" (dynamic)" if tg.sizes["dynamic"] else "")
    return kind + (f" (exit {status})" if status else "")


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run(programs: list[str], modes: list[str] | None = None, repeat: int = 5,
        progress=None) -> dict:
    """Every figure, as the JSON `--json` writes (times in ms, sizes in bytes)."""
    modes = list(modes or KERNELS)
    tgts = targets(programs)
    rows = []
    warm = set()
    for tg in tgts:
        kernels = [m for m in modes if not tg.libos or m == "unikernel"]
        if not kernels and not programs:
            continue                    # --mode without unikernel: the default set's libOS images
        if not kernels:
            raise BootError(f"{tg.name}: a libOS image (azemu build) boots only on "
                            "--mode unikernel")
        for mode in kernels:
            if mode not in warm:                 # imports, once per process: not counted
                boot_once(mode, tg)
                warm.add(mode)
            runs = []
            for _ in range(repeat):
                runs.append(boot_once(mode, tg))
                if progress:
                    progress(f"{tg.name} on {mode}")
            med = {k: _median([r[k] for r in runs]) for k in
                   ("kernel_made", "loaded", "first", "main", "exit")}
            rows.append({"image": tg.name, "path": tg.path, "kernel": mode,
                         "kind": _kind(tg, runs[-1]["status"]),
                         "ms": {k: (v * 1e3 if v is not None else None) for k, v in med.items()},
                         "runs_ms": [{k: (v * 1e3 if isinstance(v, float) else v)
                                      for k, v in r.items()} for r in runs],
                         "status": runs[-1]["status"]})
    native = []
    if not programs:
        for name in NATIVE_IMAGES:
            path = str(resources.guest(name))
            xs = []
            for _ in range(repeat):
                xs.append(native_once(path))
            native.append({"image": name, "kernel": "native", "kind": "host fork+exec+wait",
                           "ms": {"exit": statistics.median(xs) * 1e3},
                           "runs_ms": [{"exit": x * 1e3} for x in xs]})
    return {"params": {"repeat": repeat, "modes": modes, "memory": MEMORY,
                       "host_cpus": os.cpu_count()},
            "note": "emulator times are Python + Unicorn on this host, not native boot times",
            "rows": rows, "native": native,
            "sizes": {tg.name: tg.sizes for tg in tgts},
            "published": PUBLISHED}


def _ms(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def _kib(v) -> str:
    return "—" if v is None else f"{v / 1024:.1f}"


def print_tables(results: dict, console) -> None:
    from rich.table import Table
    p = results["params"]
    t = Table(title=f"Boot: ms from exec (kernel made, FWK proxy started, ELF loaded), "
                    f"median of {p['repeat']}",
              caption="Emulator times are Python + Unicorn on this host, not native boot times"
                      + ("; native = this host's fork+exec+wait of the same static program."
                         if results["native"] else "."))
    t.add_column("image", overflow="fold")
    for col, j in (("kind", "left"), ("kernel", "left"),
                   ("kernel made", "right"), ("loaded", "right"),
                   ("first instruction", "right"), ("main", "right"), ("exit", "right")):
        t.add_column(col, justify=j)
    for r in results["rows"] + results["native"]:
        m = r["ms"]
        t.add_row(r["image"], r["kind"], r["kernel"], _ms(m.get("kernel_made")),
                  _ms(m.get("loaded")), _ms(m.get("first")), _ms(m.get("main")),
                  _ms(m.get("exit")))
    console.print(t)
    dynamic = any(z["dynamic"] for z in results["sizes"].values())
    s = Table(title="Image size, KiB (text + data by the symbol table)",
              caption="unattributed: bytes no symbol covers (strings, .eh_frame, padding). "
                      "libOS: its code, data and rewrite trampoline slots."
                      + (" Dynamic programs: the program file alone, not its shared "
                         "libraries." if dynamic else "")
                      + (" —: no symbol table (stripped)." if any(
                          z["app"] is None for z in results["sizes"].values()) else ""))
    s.add_column("image", overflow="fold")
    for col, j in (("file", "right"), ("loaded", "right"), ("app", "right"),
                   ("runtime (libc)", "right"), ("libOS", "right"),
                   ("unattributed", "right")):
        s.add_column(col, justify=j)
    for name, z in results["sizes"].items():
        s.add_row(name, _kib(z["file"]), _kib(z["loaded"]),
                  *(_kib(z[k]["total"] if z[k] else None) for k in ("app", "runtime", "libos")),
                  _kib(z["unattributed"]))
    console.print(s)
    pub = Table(title="Published (cited by the Azalea paper; other systems, other machines: "
                      "not measured here, not comparable with the rows above)")
    for col in ("system", "image size", "boot", "source"):
        pub.add_column(col)
    for x in results["published"]:
        pub.add_row(x["system"], x["image_size"] or "—", x["boot"] or "—", x["source"])
    console.print(pub)


def main(args) -> int:
    from rich.console import Console
    console = Console(width=max(120, Console().width))
    err = Console(stderr=True)
    modes = list(dict.fromkeys(args.mode or KERNELS))        # in order, once each
    out = None
    if args.json:                     # a file that cannot be written: said before the runs
        try:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            out = open(args.json, "w")
        except OSError as e:
            print(f"azemu bench boot: {args.json}: {e.strerror}", file=sys.stderr)
            return 2
    try:
        with err.status("booting") as status:
            results = run(args.programs, modes, args.repeat,
                          lambda what: status.update(f"booting {what}"))
    except (BootError, resources.MissingResource) as e:
        print(f"azemu bench boot: {e}", file=sys.stderr)
        if out is not None:
            out.close()
            os.unlink(args.json)
        return 2
    print_tables(results, console)
    if out is not None:
        with out:
            json.dump(results, out, indent=1)
    return 0
