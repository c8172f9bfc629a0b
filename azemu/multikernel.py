"""`azemu run MACHINE.toml`: one machine, split into partitions, one kernel
instance on each — Azalea's multikernel (its `start.sh -i idx -c cpus -m mem`).

    [machine]
    cores = 8                  # the machine's cores (one Unicorn each)
    memory = "2G"              # its physical memory
    [[partition]]
    name = "lwk0"              # optional
    kernel = "lwk"             # lwk or unikernel (or linux)
    cores = 2
    memory = "256M"
    program = "hello"          # relative to the machine file, or a shipped example's name
    args = ["..."]             # optional
    stdin = "file"             # optional, relative to the machine file: the standard input
    root = "dir"               # optional, relative to the machine file: the partition's
                               # file system, as `azemu exec --root`; "/" is the host's.
                               # Default: a directory of its own, <name>.root in --out
    ro = true                  # optional: that file system read-only

Partitions share no guest memory, so each runs on a host thread of its own,
truly in parallel (Unicorn releases the GIL while it emulates).  The lwk and
unikernel partitions are served by one FWK service, which gives each its own
proxy worker holding only that partition's memory, channels and root
(kernels/fwk/proxy.py); a linux partition serves its own I/O, in its root.
A partition's program is loaded from the host (the machine's loader); what
it opens is inside its root, where it starts at /.  Its output goes to
<name>.out and <name>.err in the output directory (`--out`, default the
current directory), opened by azemu; while the machine runs, a live view shows each core's
partition, program, state and syscall rate (over a measured interval of at
least MIN_RATE_INTERVAL since the partition started or the last rate shown;
"—" until there is one); at the end, a summary table per partition.
"""
from __future__ import annotations

import os
import threading
import time
import tomllib
from dataclasses import dataclass, field

from .machine import Machine

KERNELS = ("linux", "lwk", "unikernel")


class MachineFileError(Exception):
    pass


@dataclass
class PartitionSpec:
    name: str
    kernel: str
    cores: int
    memory: int
    program: str
    args: list = field(default_factory=list)
    stdin: str | None = None
    root: str | None = None
    ro: bool = False


def _value(path, where, parse, text):
    import argparse
    try:
        return parse(text)
    except argparse.ArgumentTypeError as e:
        raise MachineFileError(f"{path}: {where}: {e}") from None


def _program(here: str, name: str) -> str:
    """A partition's program: relative to the machine file, else a shipped one."""
    from . import resources
    path = os.path.join(here, name)
    if not os.path.exists(path):
        shipped = resources.lookup_guest(name)
        if shipped is not None:
            return str(shipped)
    return path


def load(path: str):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise MachineFileError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise MachineFileError(f"{path}: not a valid machine file: {e}") from None
    return from_dict(data, os.path.dirname(os.path.abspath(path)), path)


def from_dict(data: dict, here: str, path: str = "machine"):
    """A machine as a machine file's TOML reads (the Python API builds one
    as a dict): (cores, memory, partition specs, here).  Relative paths are
    from `here`; `path` names the machine in errors."""
    from . import options
    m = data.get("machine", {})
    parts = []
    for i, p in enumerate(data.get("partition", [])):
        where = f"partition {p.get('name', i)}"
        try:
            spec = PartitionSpec(
                name=str(p.get("name", f"p{i}")), kernel=p.get("kernel", "lwk"),
                cores=_value(path, f"{where}: cores", options.cores, p.get("cores", 1)),
                memory=_value(path, f"{where}: memory", options.memory, p.get("memory", "256M")),
                program=_program(here, p["program"]), args=[str(a) for a in p.get("args", [])],
                stdin=os.path.join(here, p["stdin"]) if p.get("stdin") else None,
                root=os.path.join(here, p["root"]) if p.get("root") else None,
                ro=p.get("ro", False))
        except KeyError as e:
            raise MachineFileError(f"{path}: {where}: missing {e}") from None
        if spec.root is not None and not os.path.isdir(spec.root):
            raise MachineFileError(f"{path}: {where}: root {p['root']}: not a directory")
        if not isinstance(spec.ro, bool):
            raise MachineFileError(f"{path}: {where}: ro must be true or false")
        if spec.kernel not in KERNELS:
            raise MachineFileError(f"{path}: partition {spec.name}: kernel must be one of {KERNELS}")
        parts.append(spec)
    if not parts:
        raise MachineFileError(f"{path}: no [[partition]]")
    # without a [machine] table, the machine is just big enough for its partitions
    cores = _value(path, "[machine] cores", options.cores,
                   m.get("cores", sum(p.cores for p in parts)))
    memory = _value(path, "[machine] memory", options.memory,
                    m.get("memory", sum(p.memory for p in parts)))
    if sum(p.cores for p in parts) > cores:
        raise MachineFileError(f"{path}: the partitions ask for {sum(p.cores for p in parts)} cores, "
                               f"the machine has {cores}")
    if sum(p.memory for p in parts) > memory:
        raise MachineFileError(f"{path}: the partitions ask for more memory than the machine has")
    if len({p.name for p in parts}) != len(parts):
        raise MachineFileError(f"{path}: partition names must differ")
    return cores, memory, parts, here


class Running:
    """One partition's kernel instance and its host thread."""

    def __init__(self, spec, kernel, out_dir):
        self.spec, self.kernel = spec, kernel
        self.out_dir = out_dir
        self.outcome = None
        self.error = None
        self.started = self.ended = None
        self.thread = threading.Thread(target=self._run, name=f"partition-{spec.name}", daemon=True)

    def _run(self):
        self.started = time.monotonic()
        try:
            self.outcome = self.kernel.run()
        except BaseException as e:            # one partition's failure ends only that partition
            self.error = f"{type(e).__name__}: {e}"
        self.ended = time.monotonic()


def _std_files(spec, out_dir) -> list[int]:
    """The partition's fds 0-2 on the host: its stdin file (or /dev/null),
    and <name>.out and .err in the output directory — opened by azemu, in
    the host's file system, whatever the partition's root."""
    made = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    fds = [os.open(spec.stdin or os.devnull, os.O_RDONLY | os.O_CLOEXEC)]
    try:
        fds.append(os.open(os.path.join(out_dir, spec.name + ".out"), made, 0o644))
        fds.append(os.open(os.path.join(out_dir, spec.name + ".err"), made, 0o644))
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def run_machine(machine, live: bool = True, out_dir: str = ".", console_file=None,
                statuses: dict | None = None) -> int:
    """Boot and run a machine: a machine file's path, or a dict as its TOML
    reads.  The summary goes to `console_file` (default stderr); `statuses`,
    if given, gets {partition: (exit status, signal or None, counters)}."""
    from rich.console import Console
    from kernels import ExecError, Kernel
    from kernels.fwk.client import FWKClient
    if console_file is not None:
        console = Console(file=console_file, width=120)
    else:
        console = Console(stderr=True, width=max(120, Console(stderr=True).width))
    if isinstance(machine, dict):
        cores, memory, specs, _ = from_dict(machine, os.getcwd())
    else:
        cores, memory, specs, _ = load(machine)
    out_dir = os.path.abspath(out_dir)
    t0 = time.monotonic()
    machine = Machine()
    parts = [machine.partition(s.cores, s.memory) for s in specs]
    running, std = [], []
    try:
        for pt, s in zip(parts, specs):
            try:
                stdio = _std_files(s, out_dir)
            except OSError as e:
                console.print(f"azemu: partition {s.name}: {e.filename}: {e.strerror}")
                return 1
            std += stdio
            if s.root is None:                # no implicit host-wide access: a root of its own
                s.root = os.path.join(out_dir, s.name + ".root")
                os.makedirs(s.root, exist_ok=True)
            # an lwk or unikernel partition: its own proxy worker from the FWK service
            fwk = (FWKClient(pt.memory, s.cores, root=s.root, readonly=s.ro, stdio=stdio)
                   if s.kernel != "linux" else None)
            k = Kernel(mode=s.kernel, partition=pt, machine=machine, fwk=fwk, root=s.root,
                       readonly=s.ro, stdio=stdio)
            try:
                k.exec(s.program, [os.fsencode(s.program)] + [os.fsencode(a) for a in s.args],
                       [os.fsencode(f"{a}={b}") for a, b in os.environ.items()])
            except ExecError as e:
                console.print(f"azemu: partition {s.name}: {e.message}")
                k.close()
                for r in running:
                    r.kernel.close()
                return e.status
            running.append(Running(s, k, out_dir))
        return _run(console, running, cores, memory, t0, live, statuses)
    finally:
        for fd in std:
            os.close(fd)


def _run(console, running, cores, memory, t0, live, statuses=None) -> int:
    boot = time.monotonic() - t0
    for r in running:
        r.thread.start()
    if live:
        _live_view(console, running)
    for r in running:
        r.thread.join()
    wall = time.monotonic() - t0
    status = _summary(console, running, cores, memory, boot, wall)
    if statuses is not None:
        for r in running:
            o = r.outcome
            statuses[r.spec.name] = ((o.exit_status if o else 70), (o.signal or None) if o else None,
                                     r.kernel.stats().as_dict())
    for r in running:
        r.kernel.close()
    return status


MIN_RATE_INTERVAL = 0.2      # seconds: no rate is shown over a shorter measured interval


def rate(prev: tuple, now: tuple, min_interval: float = MIN_RATE_INTERVAL) -> float | None:
    """Calls per second between two samples (calls, monotonic seconds) of one
    core, or None when the interval between them is shorter than
    `min_interval`: a rate over a near-zero interval means nothing."""
    (c0, t0), (c1, t1) = prev, now
    if t0 is None or t1 - t0 < min_interval:
        return None
    return max(c1 - c0, 0) / (t1 - t0)


def _core_rows(running, samples: dict, now: float):
    """The live view's rows: per core, (index, partition, kernel, program,
    state, syscalls/s or None).  A core's rate is over the interval since its
    last sample — the first one is (0 calls, when its partition started) —
    ending when the partition ended if it has; `samples` moves on only when
    a rate is shown, so no rate ever divides by less than MIN_RATE_INTERVAL."""
    rows = []
    for r in running:
        k = r.kernel
        end = min(now, r.ended) if r.ended else now
        for core, c in zip(k.part.cores, k.counters):
            calls = c.trap + c.function_hook
            prev = samples.get(core.index, (0, r.started))
            per_s = rate(prev, (calls, end)) if r.started is not None else None
            if per_s is not None:
                samples[core.index] = (calls, end)
            slot = k.slots[k.part.cores.index(core)]
            state = ("done" if r.ended else "idle" if slot.task is None
                     else getattr(slot.task, "sched", None) and slot.task.sched.state or "running")
            rows.append((core.index, r.spec.name, r.spec.kernel, os.path.basename(r.spec.program),
                         state, per_s))
    return rows


def _live_view(console, running):
    from rich.live import Live
    from rich.table import Table
    samples = {}

    def table():
        t = Table(title="azemu machine: cores")
        for col in ("core", "partition", "kernel", "program", "state", "syscalls/s"):
            t.add_column(col)
        for core, name, kern, prog, state, per_s in _core_rows(running, samples, time.monotonic()):
            t.add_row(str(core), name, kern, prog, state, "—" if per_s is None else f"{per_s:,.0f}")
        return t

    with Live(table(), console=console, refresh_per_second=4, transient=True) as lv:
        while any(r.thread.is_alive() for r in running):
            time.sleep(0.25)
            lv.update(table())


def _summary(console, running, cores, memory, boot, wall) -> int:
    from rich.table import Table
    t = Table(title=f"machine: {cores} cores, {memory >> 20} MiB; boot {boot:.2f} s, run {wall:.2f} s")
    for col in ("partition", "kernel", "cores", "memory", "program", "exit", "syscalls", "offloads",
                "seconds"):
        t.add_column(col)
    status = 0
    for r in running:
        st = r.kernel.stats()
        code = r.outcome.exit_status if r.outcome else 70
        if r.error:
            console.print(f"azemu: partition {r.spec.name}: internal error: {r.error}")
        status = status or code
        t.add_row(r.spec.name, r.spec.kernel, str(r.spec.cores), f"{r.spec.memory >> 20}M",
                  os.path.basename(r.spec.program), str(code), f"{st.syscalls:,}", f"{st.offload:,}",
                  f"{(r.ended or 0) - (r.started or 0):.2f}")
    console.print(t)
    return status
