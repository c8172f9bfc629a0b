"""A kernel instance running one process: boot, exec, the run loop, the end.

The mode decides how a syscall enters the kernel, never what it does: every
mode serves calls with the same handlers (kernels/syscalls).

  linux      trap + full context switch + KPTI + global lock, shared tables (linux.py)
  lwk        trap + full context switch, per-core structures; fs/net offloaded (lwk.py)
  unikernel  binary image: trap with no switch at all; fs/net offloaded (unikernel.py)
             libOS image (`azemu build`): function calls caught by a code hook,
             getpid-like calls answered in the guest
"""
from __future__ import annotations

import os
import sys
import weakref

from azemu.core import RunResult
from azemu.loader import ExecError, load, resolve_script
from azemu.machine import DEFAULT_MEMORY, Machine
from azemu.memory import GuestFault

from . import linux, lwk, pagecache, unikernel
from .abi import linux as L
from .counters import Counters, total
from .errors import GuestExit
from .hostio import SCRATCH_SIZE, HostIO, InProcess, Scratch
from .offload import mark_offloaded
from .process import Process
from .syscalls import dispatch
from .syscalls.kernel_signal import deliver_pending

MODES = ("linux", "lwk", "unikernel")


class CoreSlot:
    """Which thread a core is running: what its syscall entry serves."""
    __slots__ = ("task",)

    def __init__(self):
        self.task = None

_FAULT_SIGNALS = {"SIGSEGV": L.SIGSEGV, "SIGILL": L.SIGILL, "SIGFPE": L.SIGFPE,
                  "SIGTRAP": L.SIGTRAP, "SIGBUS": L.SIGBUS}


class Kernel:
    def __init__(self, *, mode: str = "linux", memory: int = DEFAULT_MEMORY, ncores: int = 1,
                 machine: Machine | None = None, stderr=None, strace=None,
                 in_guest: bool = True, root=None, readonly: bool = False,
                 fwk_policy: str | None = None, fwk_spin_us: int | None = None,
                 fwk_timeout: float | None = None, deterministic: bool = False,
                 quantum_us: int | None = None, partition=None, fwk=None, quiet: bool = False, stdio=None):
        if mode not in MODES:
            raise ValueError(f"unknown kernel mode {mode!r}")
        self.mode = mode
        self.variant = mode                  # unikernel-binary / unikernel-source once loaded
        self.in_guest = in_guest             # libOS may answer getpid & co in the guest
        self.libos = None
        self.machine = machine or Machine()
        self.part = partition or self.machine.partition(ncores, memory)
        ncores = len(self.part.cores)
        self.ncores = ncores
        self.core = self.part.cores[0]
        self.root, self.readonly = root, readonly
        # Where file and network calls are served: in this process for the
        # monolithic kernel, by the FWK proxy process for lwk and unikernel.
        if mode == "linux":
            self.io_backend = InProcess(self.part.memory, root, readonly, stdio)
        elif fwk is not None:
            self.io_backend = fwk                # made by the caller (a machine's partition)
        else:
            from .fwk import channel
            from .fwk.client import DEFAULT_TIMEOUT, FWKClient
            self.io_backend = FWKClient(self.part.memory, ncores, root=root, readonly=readonly,
                                        policy=fwk_policy or channel.DEFAULT_POLICY,
                                        spin_us=fwk_spin_us if fwk_spin_us is not None
                                        else channel.DEFAULT_SPIN_US,
                                        timeout=fwk_timeout or DEFAULT_TIMEOUT, stdio=stdio)
        self.stderr = stderr or sys.stderr
        self.notices = None if quiet else self.stderr   # where unsupported calls are named
        self.process: Process | None = None
        self.image = None
        self.exit: GuestExit | None = None
        self.internal_error = None
        self.crash_report = ""
        self.core_file = None                 # where a crash's ELF core goes (--core FILE)
        self.syscall_wrap = None              # wrap(nr, handler, arity) of every handler, or None
        self.strace = strace                 # a stream to trace syscalls to, or None
        self.forward_host_signals = False    # azemu exec: host signals go to the guest (hostsig.py)
        self.on_fault = None                 # azemu debug: (core, task) -> None, before a fault's signal
        self.host_signals = None             # while running with them: kernels.hostsig.HostSignals
        self.counters = [Counters() for _ in self.part.cores]
        self.shared = linux.SharedKernelState()
        self.per_core = {c.index: lwk.PerCoreState() for c in self.part.cores}
        self.slots = [CoreSlot() for _ in self.part.cores]     # the thread each core runs
        self._tables = []                    # each core's syscall table (_install_entry)
        self._libos_hooks = [None] * ncores  # each core's function hook, if its image has a libOS
        self._channels = ncores              # FWK channel pairs: one per boot core
        self.instances = None                # unikernel: kernels/instances.py
        self.in_guest_done = 0               # calls answered by libOS images that have ended
        self.timer_procs = set()             # processes with an armed timer (kernels/timers.py)
        self.record_locks = None             # fcntl locks between its processes (kernels/locks.py)
        self.scratches = []
        self.page_cache = weakref.WeakValueDictionary()   # (dev, ino) -> pagecache.CachedFile
        from .procs import ProcessTable
        self.procs = ProcessTable(self)
        from .sched import QUANTUM_US, Scheduler
        self.sched = Scheduler(self, quantum_us or QUANTUM_US, deterministic)

    # ---- exec ---------------------------------------------------------------
    def exec(self, path: str, argv: list[bytes], envp: list[bytes]) -> None:
        """Load `path` as the instance's process (raises ExecError).  A `#!`
        script runs its interpreter, as execve does."""
        execfn = os.fsencode(path)
        guest_open, box = self._guest_opener()
        try:
            self._exec(path, argv, envp, execfn, guest_open)
        finally:
            if box is not None:
                box.close()

    def _exec(self, path, argv, envp, execfn, guest_open) -> None:
        given = (path, argv)                      # what the trace's execve line shows
        path, argv, opener = resolve_script(path, argv, guest_open)
        hwcap = self.core.cpuid(1)[3]     # Linux's AT_HWCAP: CPUID.1:EDX of the boot CPU
        mm = self.part.new_address_space()
        for core in self.part.cores:
            mm.attach(core)
            try:
                self.scratches.append(self._new_scratch())
            except ExecError as e:
                raise ExecError(f"{path}: {e.message}", 126) from None
        io = HostIO(self.io_backend, tid=0, core_index=0)
        p = Process(mm, io, self.scratches[0])
        io.tid = p.tid
        p.kernel, p.core = self, self.core
        from .fwk.channel import FWK_HELLO
        io.call(FWK_HELLO, p.pid, p.uid)
        self._initial_cwd(p)
        # The guest's umask is applied by its kernel, so the host's is set to 0
        # (once per machine: several kernel instances share this process).
        from .process import raise_own_nofile
        raise_own_nofile()                # the guest's fds live here (linux) or in the FWK
        before = os.umask(0)
        if not hasattr(self.machine, "host_umask"):
            self.machine.host_umask = before
        p.umask = self.machine.host_umask
        self._host_umask = self.machine.host_umask   # given back in close()
        self.image = load(mm, path, argv, envp, hwcap=hwcap, execfn=execfn,
                          ids=(p.uid, p.euid, p.gid, p.egid), opener=opener,
                          interp_opener=guest_open, name=os.path.realpath(path),
                          pager_of=pagecache.program_pager(p))
        with opener(path) as f:
            libos = unikernel.LibOS.find(f)
        if libos is not None and self.mode != "unikernel":
            raise ExecError(f"{path}: built for the azemu libOS (azemu build): "
                            "run it with --mode unikernel", 126)
        p.brk_start = p.brk = self.image.brk
        p.image = self.image
        p.exe = os.fsencode(os.path.realpath(path))
        p.comm = os.path.basename(p.exe)[:15]
        p.cmdline = b"".join(a + b"\0" for a in argv)     # /proc/self/cmdline
        p.std_files()
        self.process = p
        mm.users = 1
        self.procs.add(p)
        from .tty import Terminal
        self.tty = Terminal(p)
        from .hostsig import inherited_ignores
        inherited_ignores(p)
        wrap = self.syscall_wrap                  # the Python API's hooks (azemu/api.py)
        if self.strace is not None:
            from .syscalls.strace import Tracer
            if not isinstance(self.strace, Tracer):
                self.strace = Tracer(self.strace)
            self.strace.attach(self)
            inner, outer = wrap, self.strace.wrap         # the trace shows what the guest sees
            wrap = outer if inner is None else (lambda nr, h, k: outer(nr, inner(nr, h, k), k))
            self.strace.execve(p, *given, self.image.stack_pointer + 8 * (len(argv) + 2), len(envp))
        self._table = self._handler_table(wrap)
        from .task import SchedState
        p.sched = SchedState(0)
        p.proc = p
        if self.mode == "unikernel":             # a process is an instance (kernels/instances.py)
            from .instances import Instances
            self.instances = Instances(self, self.ncores)
            p.instance = self.instances.first
            self.variant = "unikernel-binary"
        self.slots[0].task = p
        self.sched.add(p, 0)
        self.sched.resident[0] = p
        self.shared.tasks[p.tid] = p
        if libos is not None:
            p.libos = self.libos = libos
            libos.boot(p, self.in_guest, trace=self.strace is not None)
            self.variant = "unikernel-source"
        for i in range(self.ncores):
            self._install_entry(i)
            self.install_libos(i, libos)     # on every core: threads run on any of them
        # As Linux's ELF_PLAT_INIT: every register zero at entry but rsp.  rdx in
        # particular is the ld.so finaliser _start hands to atexit (0: none).
        regs = {n: 0 for n in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9",
                               "r10", "r11", "r12", "r13", "r14", "r15", "fs_base", "gs_base")}
        regs["rsp"] = self.image.stack_pointer
        regs["rip"] = self.image.entry
        self.core.regs.write_many(regs)
        for core in self.part.cores:
            core.reset_fpu()

    def _handler_table(self, wrap):
        """The syscall table.  Untraced, one for all the kernel instances of
        a machine that name unsupported calls on the same stream (a table
        is 1024 entries, some 400 KiB: 100 MiB for a machine of 256
        partitions) — such a call is then named once for the machine."""
        if wrap is not None:
            return dispatch.handler_table(self.notices, wrap)
        tables = self.machine.handler_tables
        key = id(self.notices)
        got = tables.get(key)
        if got is None or got[0] is not self.notices:
            got = tables[key] = (self.notices, dispatch.handler_table(self.notices))
        return got[1]

    # ---- cores ----------------------------------------------------------------
    def _install_entry(self, i: int) -> None:
        """Core `i`'s syscall entry, as the mode has it (once per core; made
        when the core is: azemu/core.py)."""
        core, slot, counters = self.part.cores[i], self.slots[i], self.counters[i]
        self._tables.append(None)
        if self.mode == "linux":
            entry = linux.entry
        elif self.mode == "lwk":
            entry = lwk.entry
        else:
            entry = unikernel.trap_entry
        core.set_syscall_entry(lambda: entry(self, slot, core, self._table_of(i), counters))

    def _table_of(self, i: int) -> list:
        """Core `i`'s syscall table: the kernel's, its offloaded calls
        counted on the core (lwk, unikernel) — made with the core."""
        table = self._tables[i]
        if table is None:
            table = self._table
            if self.mode in ("lwk", "unikernel"):
                table = mark_offloaded(table, self.counters[i])
            self._tables[i] = table
        return table

    def install_libos(self, i: int, libos) -> None:
        """Core `i` runs an image with `libos` (None: an ordinary binary): the
        function hook on its entry, in place of any earlier image's."""
        core = self.part.cores[i]
        old = self._libos_hooks[i]
        if old is not None:
            unikernel.remove_function_hook(core, old)
            self._libos_hooks[i] = None
        if libos is not None:
            slot, counters = self.slots[i], self.counters[i]
            self._libos_hooks[i] = unikernel.install_function_hook(
                core, libos, lambda: unikernel.function_hook_entry(
                    self, slot, core, self._table_of(i), counters, libos))

    def add_core(self) -> int:
        """One more core for this kernel, from the machine (raises
        azemu.machine.MachineFull); its local index."""
        core = self.machine.add_core(self.part)
        i = len(self.part.cores) - 1
        self.counters.append(Counters())
        self.slots.append(CoreSlot())
        self.per_core[core.index] = lwk.PerCoreState()
        self._libos_hooks.append(None)
        self.scratches.append(self._new_scratch())
        self.sched.add_core(i)
        self._install_entry(i)
        core.reset_fpu()
        return i

    def _new_scratch(self) -> Scratch:
        at = self.part.memory.alloc(SCRATCH_SIZE)
        if len(at) != 1:
            raise ExecError("no contiguous memory for the kernel's scratch area", 126)
        return Scratch(self.part.memory, at[0][0])

    def image_done(self, proc) -> None:
        """`proc`'s image ends (exit, exec): keep what its libOS counted."""
        if proc.libos is not None:
            try:
                self.in_guest_done += proc.libos.in_guest_calls(proc)
            except Exception:                    # its memory is no longer readable
                pass

    def cores_of(self, proc) -> list:
        """The cores that may run `proc`: its instance's (unikernel), else all."""
        inst = getattr(proc, "instance", None)
        cores = self.part.cores
        return cores if inst is None else [cores[i] for i in inst.cores]

    def task_on(self, core):
        """The thread `core` runs (or last ran), or None."""
        i = self.sched._local.get(core.index)
        return None if i is None else self.slots[i].task

    def channel(self, i: int) -> int:
        """The FWK channel pair core `i` uses (cores added later share them)."""
        return i % self._channels

    # ---- running ------------------------------------------------------------
    def run(self) -> GuestExit:
        """Run the process, all its threads, to the end; returns how it ended."""
        return self.sched.run()

    def set_thread_pointer(self, task, addr: int) -> None:
        """The thread pointer (FS base) of `task` is now `addr`; the libOS
        keeps each thread's call block behind it."""
        task.fs_base = addr
        if task.libos is not None:
            task.libos.thread_pointer_set(task)

    def new_id(self) -> int:
        """A pid/tid no other task of the machine has (its instances share the FWK)."""
        m = self.machine
        m.last_id = max(getattr(m, "last_id", os.getpid()), os.getpid()) + 1
        return m.last_id

    def new_thread(self, parent, ctx):
        """A thread of `parent`'s process, to start from the saved registers `ctx`."""
        from .fwk.channel import FWK_HELLO
        from .task import SchedState, Thread
        tid = self.new_id()
        io = HostIO(self.io_backend, tid=tid, core_index=0)
        io.call(FWK_HELLO, parent.pid, parent.uid)
        sched = SchedState(0).inherit(parent.sched)
        t = Thread(parent.proc, tid, io, self.scratches[0], self.core, sched)
        sched.ctx = ctx
        parent.proc.tasks.add(t)
        self.sched.add(t)
        self.shared.tasks[tid] = t
        return t

    def new_process(self, parent, caller, mm, ctx, *, share_files=False, share_handlers=False,
                    ppid=None, exit_signal=L.SIGCHLD, instance=None):
        """A child of process `parent` made by its thread `caller` (fork,
        vfork, clone): address space `mm`, to start from the registers `ctx`."""
        from .fwk.channel import FWK_FORK
        from .task import SchedState
        pid = self.new_id()
        caller.io.call(FWK_FORK, pid, pid)          # its cwd, its instance's handles
        io = HostIO(self.io_backend, tid=pid, core_index=0)
        c = Process(mm, io, self.scratches[0], pid=pid)
        c.kernel, c.core, c.proc = self, self.core, c
        c.ppid = parent.pid if ppid is None else ppid
        c.uid, c.euid, c.gid, c.egid = parent.uid, parent.euid, parent.gid, parent.egid
        c.pgid, c.sid, c.umask = parent.pgid, parent.sid, parent.umask
        c.fds = parent.fds if share_files else parent.copy_files(c._close_handle)
        c.sigactions = parent.sigactions if share_handlers else [a.copy() for a in parent.sigactions]
        c.sigmask, c.altstack = caller.sigmask, caller.altstack
        c.rlimits = dict(parent.rlimits)
        c.brk_start, c.brk = parent.brk_start, parent.brk
        c.exe, c.comm, c.dumpable = parent.exe, parent.comm, parent.dumpable
        c.image, c.cmdline = parent.image, parent.cmdline      # its memory's layout: a copy's
        for inherited in ("persona", "groups", "caps", "suid", "sgid"):
            if hasattr(parent, inherited):
                setattr(c, inherited, getattr(parent, inherited))
        c.exit_signal = exit_signal
        c.instance = instance
        if parent.libos is not None:             # its own copy of the libOS's task data
            c.libos = parent.libos.clone_for(c)
        c.sched = SchedState(0).inherit(caller.sched)
        c.sched.ctx = ctx
        self.procs.add(c)
        self.sched.add(c)
        self.shared.tasks[pid] = c
        return c

    def process_exit(self, task, how: GuestExit) -> None:
        """`task`'s process is over (exit_group, a fatal signal): the
        instance's end if it is the first process, else a zombie's."""
        if task.proc is self.process:
            self.exit = how
        else:
            self.procs.end(task.proc, how)

    def report_once(self, what: str, message: str) -> None:
        """Something about the guest's run the user should know, said once."""
        done = self.__dict__.setdefault("_reported", set())
        if what not in done:
            done.add(what)
            print(f"azemu: {what}: {message}", file=self.stderr, flush=True)

    def unsupported_once(self, name: str, errno: int, note: str) -> None:
        """A call (or a form of one) azemu does not offer, named once; the
        same line as for a syscall missing from the table."""
        done = self.__dict__.setdefault("_reported", set())
        if name not in done:
            done.add(name)
            dispatch.notice_unsupported(self.notices, name, errno, note)

    def handle_fault(self, core, task) -> GuestExit | None:
        """A CPU fault on `core` running `task`: into the thread's handler for
        the signal, or the end of the process (None: carry on)."""
        fault = core.fault
        if core.internal_error is not None:
            e, tb = core.internal_error
            self.internal_error = (-1, e, tb)
            return self._internal()
        if fault.signal == "SIGKILL":           # no frame left: the OOM killer
            mem = self.part.memory.size >> 20
            line = (f"azemu: {os.path.basename(self.image.path)}[{task.tid}]: killed (SIGKILL): "
                    f"out of memory: the {mem} MiB of --mem are exhausted")
            self.crash_report = line
            if task.proc is not self.process:
                print(line, file=self.stderr, flush=True)
                self.procs.end(task.proc, GuestExit(signal=L.SIGKILL))
                return None
            return self._finish(GuestExit(signal=L.SIGKILL, report=line))
        if self.on_fault is not None:            # a debugger looks first, as gdb does
            self.on_fault(core, task)
            if self.exit is not None:            # ... and killed it
                return self._finish(self.exit)
        sig = _FAULT_SIGNALS.get(fault.signal, L.SIGSEGV)
        act = task.sigactions[sig]
        from .siginfo import SigInfo
        code = fault.code or (2 if fault.detail.endswith("protection address") else 1)
        info = SigInfo(sig, code, addr=fault.addr or 0)
        if self.strace is not None:
            self.strace.signal(task, info)
        if act.handler not in (L.SIG_DFL, L.SIG_IGN) and not task.sigmask & (1 << (sig - 1)):
            task.pending_delivery.append(info)
            self.deliver_signals(task, core, in_syscall=False)
            if self.exit is not None:
                return self._finish(self.exit)
            return None
        if task.proc is not self.process:      # a child: its parent sees the signal
            self.procs.end(task.proc, GuestExit(signal=sig))
            return None
        from azemu.crash import crash_report
        self.crash_report = crash_report(core, fault, task.mm, self.image.path, task.tid,
                                         self._host_path)
        self.crash_report += self._dump_core(task, core, sig, rip=fault.rip)
        return self._finish(GuestExit(signal=sig, report=self.crash_report))

    def _dump_core(self, task, core, sig: int, rip: int | None = None) -> str:
        """With --core FILE: the process's ELF core (azemu/coredump.py); the
        report's line saying so."""
        if not self.core_file or getattr(self, "_core_written", False):
            return ""
        self._core_written = True
        from azemu.coredump import write_core
        regs = core.regs.read_all()
        if rip is not None:
            regs["rip"] = rip
        p = task.proc
        try:
            write_core(self.core_file, task.mm, regs, core.save_fpu(), signal=sig, pid=p.pid,
                       ppid=p.ppid, uid=p.uid, gid=p.gid, name=p.comm,
                       args=p.cmdline.replace(b"\0", b" ").strip(), auxv=self.image.auxv)
        except OSError as e:
            return f"\n  core: not written to {self.core_file}: {e.strerror}"
        return f"\n  core: written to {self.core_file} (gdb {self.image.path} {self.core_file})"

    def _host_path(self, name: str) -> str | None:
        """A file mapping's name as a host path: under --root, inside the
        root (the program itself was loaded from the host), or None where
        the guest's links lead out of it."""
        if not self.root or name == os.path.realpath(self.image.path):
            return name
        root = os.path.realpath(self.root)
        path = os.path.realpath(os.path.join(root, name.lstrip("/")))
        if os.path.commonpath([root, path]) != root:
            return None                  # a symlink out of the root: not read, not symbolized
        return path

    def deliver_signals_from_hook(self, task, core) -> None:
        """deliver_signals for the flat trap path: never lets an exception out."""
        try:
            self.deliver_signals(task, core)
        except BaseException as e:
            import sys as _sys
            self.internal_error = (-1, e, _sys.exc_info()[2])
            core.stop()

    def stats(self) -> Counters:
        """Counters of the whole instance, in-guest answers included, and the
        memory's, which the cores keep: page faults and copy-on-write faults
        taken on each (by its guest code or by a syscall it ran), the TLB
        flushes each made and the shootdowns each received."""
        first = self.process
        if first is not None:
            now = first.libos.in_guest_calls(first) if first.libos is not None and not first.zombie else 0
            self.counters[0].in_guest = self.in_guest_done + now
        for c, core in zip(self.counters, self.part.cores):
            c.page_fault, c.cow_fault = core.page_faults, core.cow_faults
            c.tlb_flush, c.tlb_shootdown = core.tlb_flushes, core.shootdowns()
        return total(self.counters)

    def deliver_signals(self, task, core, in_syscall: bool = True, at_libos_entry: bool = False) -> None:
        """Enter the handler of the first pending signal (see kernel_signal).
        The interrupted context saved in the frame is where the guest would
        have resumed: past the `syscall` after a trap, or — at the libOS's
        function hook — back in the caller with the result in rax, as if the
        libOS had returned; or, for a libOS call restarted after the handler,
        the hook itself."""
        if self.strace is not None:
            self.strace.flush(task)                    # the signals' trace lines
        regs = core.regs.read_all()
        if in_syscall:
            regs["rip"] += core.SYSCALL_INSN_LEN
        if at_libos_entry:
            regs["rip"] = task.mm.read_u64(regs["rsp"])
            regs["rsp"] += 8
        elif task.libos is not None and regs["rip"] == task.libos.entry and task.libos_block:
            # A libOS call to run again after the handler (SA_RESTART): the frame
            # returns to the hook, and its call block (which the handler's own
            # calls overwrite) comes back with it (kernel_signal.rt_sigreturn).
            task.sched.saved_calls.append(list(task.libos_block[0:7]))
        try:
            new = deliver_pending(task, regs, core)
        except GuestFault:
            new = None
            self.exit = GuestExit(signal=L.SIGSEGV)
            core.stop()
            return
        except GuestExit as e:
            self.process_exit(task, e)
            core.stop()
            return
        if new:
            if in_syscall:
                new["rip"] -= core.SYSCALL_INSN_LEN
            core.regs.write_many(new)

    def _finish(self, how: GuestExit) -> GuestExit:
        if self.strace is not None and self.process is not None:
            self.strace.exited(self.process, how)      # the trace's last line
        if how.signal in L.CORE_SIGNALS and self.core_file and self.process is not None \
                and not self.process.zombie and self.process.core is not None:
            line = self._dump_core(self.process, self.process.core, how.signal)   # abort() & co
            if line:
                how.report = (how.report or "").rstrip("\n") + line if how.report else line.lstrip("\n")
        if self.process is not None:
            self.process.mm.write_back()               # shared file mappings reach their files
            self.process.fds.close_all()
        return how

    def _internal(self) -> GuestExit:
        nr, exc, tb = self.internal_error
        from .syscalls.table import name_of
        print(f"azemu: internal error in syscall {name_of(nr)}: {type(exc).__name__}: {exc}",
              file=self.stderr)
        if os.environ.get("AZEMU_DEBUG"):
            import traceback
            traceback.print_exception(type(exc), exc, tb, file=self.stderr)
        return self._finish(GuestExit(status=70))

    def _guest_opener(self):
        """How exec opens the files the guest names (a script's interpreter, a
        program's ELF interpreter): under --root, walked inside the root as
        every guest path is (kernels/fwk/sandbox.py), from the guest's first
        working directory; else the host's own open."""
        if not self.root:
            from azemu.loader import host_open
            return host_open, None
        from .fwk.sandbox import Sandbox
        box, base = Sandbox(self.root), os.fsencode(self._guest_cwd())

        def guest_open(path: str):
            fd, _ = box.open(base, os.fsencode(path), os.O_RDONLY, 0)
            return os.fdopen(fd, "rb")
        return guest_open, box

    def _guest_cwd(self) -> str:
        """azemu's working directory as the guest sees it: inside the root,
        or the root itself when it is outside."""
        cwd = os.getcwd()
        if self.root:
            rel = os.path.relpath(cwd, os.path.realpath(self.root))
            cwd = "/" if rel.startswith("..") else "/" + rel
        return cwd

    def _initial_cwd(self, p) -> None:
        """The guest starts in azemu's working directory, as seen inside the
        root (or at the root, if the working directory is outside it)."""
        from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
        from .errors import LinuxError
        cwd = self._guest_cwd()
        try:
            p.io.call(NR["chdir"], p.scratch.reset().put(os.fsencode(cwd) + b"\0"))
        except LinuxError:
            pass

    def close(self) -> None:
        if getattr(self, "_host_umask", None) is not None:
            os.umask(self._host_umask)
            self._host_umask = None
        if self.process is not None:
            self.process.fds.close_all()
        self.io_backend.close()
        self.part.close()


def run_program(path: str, argv: list[str], env: dict | None = None, **kw):
    """Convenience: exec `path` with `argv`, run it to the end; returns
    (how it ended, the instance's counters)."""
    env = os.environ if env is None else env
    k = Kernel(**kw)
    k.exec(path, [os.fsencode(a) for a in argv],
           [os.fsencode(f"{a}={b}") for a, b in env.items()])
    try:
        return k.run(), k.stats()
    finally:
        k.close()


__all__ = ["Kernel", "ExecError", "MODES", "run_program"]
