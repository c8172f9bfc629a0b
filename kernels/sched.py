"""Scheduling the threads of one kernel instance on its cores.

Each core has its own run queue (the LWK's way: no global run queue); a new
thread goes to the core with the fewest threads.  The cores of one instance
share one address space, and Unicorn instances sharing memory are not atomic
with each other, so they never run guest code at the same host moment: the
scheduler runs them one after another, each for a quantum.

* One runnable thread in the instance: its core runs it with no time limit
  (full speed, no hook).
* Several (or one, while others wait for a time or a host handle and must be
  woken in time): every core runs its current thread for a quantum of
  quantum_us, ended by the machine's timer (azemu/timer.py), which stops the
  run at the start of a translated block through the core's preemption
  point (azemu/preempt.py) — installed while the core's runs are sliced and
  for a hold time after (_preemptible), since it costs a helper call at
  every block.  With --deterministic the quantum is QUANTUM_INSNS
  instructions instead, so the interleaving — and with it the output and
  the counters — repeats exactly from run to run (counting costs Unicorn a
  helper call at every instruction).  A core with more than one runnable thread switches between
  them at the end of each quantum, saving and restoring the full register
  state (a counted context switch).

A thread waiting in futex, nanosleep or sched_yield stops its core; the
scheduler resumes it with the result put in rax when it is woken or its time
is up.  When every thread waits and no wait can end, the instance is
deadlocked: azemu says so and ends it (a native process would hang).
"""
from __future__ import annotations

import time
from time import thread_time_ns

from unicorn.x86_const import UC_X86_REG_RAX, UC_X86_REG_RIP

from azemu import code_sync
from azemu.core import RunResult
from azemu.timer import Interrupter

from .abi.linux_errno import EINTR, ETIMEDOUT
from .errors import Block, GuestExit
from .hostsig import HostSignals
from .process import release_reserved
from .rusage import thread_ended
from .siginfo import restarts
from .task import BLOCKED, EXITED, RUNNABLE, STOPPED

QUANTUM_US = 2000
QUANTUM_INSNS = 200_000           # with --deterministic: a slice in instructions
_SIGNAL_CHECK_S = 0.05            # an idle instance looks for host signals this often
HOLD_S = 0.2                      # a core keeps its preemption point this long after slicing,
HOLD_MAX_S = 60.0                 # ... or up to this long, when it is sliced again and again:
AGAIN_S = 5.0                     # ... within this time of the point's removal


class Scheduler:
    def __init__(self, kernel, quantum_us: int = QUANTUM_US, deterministic: bool = False):
        self.kernel = kernel
        self.cores = kernel.part.cores
        self.quantum_us = quantum_us
        self.deterministic = deterministic
        self.tasks = {}                          # tid -> task, in creation order
        # Keyed by the core's place in this instance (0..n-1), not its machine-wide number.
        self.queues = {i: [] for i in range(len(self.cores))}
        self.resident = {i: None for i in range(len(self.cores))}   # whose registers it holds
        self.futexes = {}                        # address -> [task, ...] in arrival order
        self.io_waiters = []                     # tasks waiting for a host handle to be ready
        self.n_runnable = self.n_live = 0        # kept as states change: asked every run
        self.n_timed = 0                         # blocked with a deadline: their time must be watched
        self._load = {i: 0 for i in self.queues}  # threads not exited, per run queue
        self._local = {c.index: i for i, c in enumerate(self.cores)}
        self._sliced_at = {}                     # core -> when its last sliced run began
        self._removed_at = {}                    # core -> when its preemption point last went
        self._hold = {}                          # core -> how long it keeps the point now
        self.unsliced_run = False                # the running core has no time limit
        self.resched = False                     # ... and must stop at its call's return

    # ---- placement --------------------------------------------------------------
    def add(self, task, core_index=None) -> None:
        if core_index is None:
            inst = task.proc.instance
            mine = self.queues if inst is None else inst.cores   # a unikernel: its instance's
            core_index = min(mine, key=lambda i: (self._load[i], i))
        task.sched.core = core_index
        self.queues[core_index].append(task)
        self.tasks[task.tid] = task
        self._load[core_index] += 1
        self.n_live += 1
        self.n_runnable += task.sched.state == RUNNABLE
        self.check_resched()

    def add_core(self, i: int) -> None:
        """Core `i` (a new local index: the cores list has grown) joins."""
        self.queues[i] = []
        self.resident[i] = None
        self._load[i] = 0
        self._local[self.cores[i].index] = i

    def _set(self, s, state) -> None:
        """Move a task's SchedState `s` to `state`, keeping the counts."""
        old = s.state
        self.n_runnable += (state == RUNNABLE) - (old == RUNNABLE)
        if state == EXITED and old != EXITED:
            self.n_live -= 1
            self._load[s.core] -= 1
        s.state = state
        if state == RUNNABLE and old != RUNNABLE:
            self.check_resched()

    def check_resched(self) -> None:
        """A thread became runnable, or a timer was armed, while a core runs
        with no time limit: that run must end at the return of the call that
        did it (the entries look at `resched`), so that the next runs are
        sliced — else a thread that never waits would keep the core."""
        if self.unsliced_run and (self.n_runnable > 1 or self.kernel.timer_procs):
            self.resched = True

    def live(self):
        return [t for t in self.tasks.values() if t.sched.state != EXITED]

    def runnable(self):
        return [t for t in self.tasks.values() if t.sched.state == RUNNABLE]

    def alone(self) -> bool:
        """Is the calling task the only one that could run?"""
        return self.n_live <= 1

    def undisturbed(self) -> bool:
        """May the calling task wait on the host itself?  Only when it is
        alone and no signal can come meanwhile — no timer armed, no host
        signal forwarded — else it waits here, where a signal ends the wait."""
        k = self.kernel
        return self.n_live <= 1 and not k.timer_procs and k.host_signals is None

    def several_runnable(self) -> bool:
        """More than one thread runnable (asked on every core of every round)."""
        return self.n_runnable > 1

    # ---- waiting and waking -----------------------------------------------------
    def wait(self, task, *, futex=None, bitset=0xFFFFFFFF, deadline=None, io=None,
             restart=False):
        """Block `task` (raises Block: the entry stops the core).  `futex` is
        any wait queue key (a futex word's address, or a tuple); `io` is a
        host handle and poll events, or a list of them: the task runs its
        syscall again when one is ready (restarted, as Linux's -ERESTARTSYS)
        — or, with a `deadline` too, when the time is up (`timed_out` set)."""
        s = task.sched
        self._set(s, BLOCKED)
        s.nvcsw += 1
        s.futex, s.bitset, s.deadline, s.result = futex, bitset, deadline, 0
        if deadline is not None:
            self.n_timed += 1
        if futex is not None:
            self.futexes.setdefault(futex, []).append(task)
        if io is not None:
            s.io = [io] if isinstance(io, tuple) else list(io)
            self.io_waiters.append(task)
        if io is not None or restart:             # the call runs again when the wait ends
            s.restart, s.result = True, None
        raise Block

    def restart_later(self, task):
        """End the call now and run it again when `task` next runs — after
        a stop, once it is continued (Linux's -ERESTARTSYS with no handler
        to run)."""
        s = task.sched
        s.restart, s.result = True, None
        raise Block

    def interrupt(self, task, result: int) -> None:
        """End `task`'s wait now (a signal came): it resumes with `result`."""
        s = task.sched
        if s.state != BLOCKED:
            return
        if s.futex is not None:
            waiters = self.futexes.get(s.futex, [])
            if task in waiters:
                waiters.remove(task)
        if s.io is not None:
            self._io_done(task)
        if s.done and result == -EINTR:          # a send that had sent part: that much (Linux)
            s.restart, s.until, s.timed_out, done, s.done = False, None, False, s.done, 0
            self._resume(task, done)
            return
        if result == -EINTR and restarts(task):   # SA_RESTART: the handler, then the call again
            s.restart, s.until, s.timed_out = True, None, False
            self._resume(task, None)
            return
        s.restart = False                         # the call ends with the signal's EINTR
        s.until, s.timed_out = None, False
        self._resume(task, result)

    def _io_done(self, task) -> None:
        task.sched.io = None
        if task in self.io_waiters:
            self.io_waiters.remove(task)

    def poll_io(self, timeout_ms: int) -> None:
        """Wake the tasks whose host handles are ready, waiting at most
        `timeout_ms` (-1: until one is) — the host's poll, through the FWK."""
        waiters = self.io_waiters
        if not waiters:
            return
        from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
        import struct
        t0 = waiters[0]
        scratch = self.kernel.scratches[0]
        scratch.reset()
        pairs = [pair for t in waiters for pair in t.sched.io]
        arr = scratch.put(b"".join(struct.pack("<ihh", h, ev, 0) for h, ev in pairs))
        try:
            n = t0.io.call(NR["poll"], arr, len(pairs), timeout_ms)
        except Exception:
            n = len(pairs)                        # let them all try again
            arr = None
        if not n:
            return
        back = scratch.get(arr, 8 * len(pairs)) if arr is not None else None
        at = 0
        for t in list(waiters):
            k = len(t.sched.io)
            if back is None or any(struct.unpack_from("<h", back, 8 * i + 6)[0]
                                   for i in range(at, at + k)):
                self._io_done(t)
                self._resume(t, None)
            at += k

    def yield_(self, task):
        task.sched.result = 0
        raise Block

    def wake(self, futex: int, n: int, bitset: int = 0xFFFFFFFF) -> int:
        woken = 0
        waiters = self.futexes.get(futex, [])
        for t in list(waiters):
            if woken >= n:
                break
            if t.sched.bitset & bitset:
                waiters.remove(t)
                self._resume(t, 0)
                woken += 1
        if not waiters:
            self.futexes.pop(futex, None)
        return woken

    def wake_to_finish(self, key, task) -> bool:
        """Wake `task`, waiting on `key`, so that its call runs again and ends
        before a signal sent with the wake-up is handled — as Linux's wait4
        returns the child it found, and the SIGCHLD handler runs on the way
        out.  False if it was not waiting there."""
        waiters = self.futexes.get(key, [])
        if task not in waiters:
            return False
        waiters.remove(task)
        if not waiters:
            self.futexes.pop(key, None)
        task.sched.finish_first = True
        self._resume(task, 0)
        return True

    def requeue(self, futex: int, to: int, n: int) -> int:
        waiters = self.futexes.get(futex, [])
        moved = waiters[:n]
        del waiters[:n]
        for t in moved:
            t.sched.futex = to
        self.futexes.setdefault(to, []).extend(moved)
        if not waiters:
            self.futexes.pop(futex, None)
        return len(moved)

    # ---- job-control stops ---------------------------------------------------------
    def stop(self, proc) -> None:
        """Stop every thread of `proc` (SIGSTOP & co): a runnable one at once,
        a waiting one when its wait ends (`_resume`)."""
        for t in proc.tasks:
            if t.sched.state == RUNNABLE:
                self._set(t.sched, STOPPED)

    def cont(self, proc) -> None:
        """SIGCONT: the stopped threads of `proc` may run again."""
        for t in proc.tasks:
            if t.sched.state == STOPPED:
                self._set(t.sched, RUNNABLE)

    def _resume(self, t, result):
        s = t.sched
        self._set(s, STOPPED if t.proc.stopped else RUNNABLE)
        if s.deadline is not None:
            self.n_timed -= 1
        s.deadline, s.futex = None, None
        if not s.restart:                             # a restarted call makes its own result
            s.result = result
            if s.reserved is not None:                # the call ends here: its fd number is free
                release_reserved(t)

    def exit_task(self, task) -> None:
        if task.sched.state == EXITED:
            return
        if task.sched.state == BLOCKED and task.sched.deadline is not None:
            self.n_timed -= 1
            task.sched.deadline = None
        self._set(task.sched, EXITED)
        thread_ended(task)
        release_reserved(task)
        if task.sched.futex is not None:
            waiters = self.futexes.get(task.sched.futex, [])
            if task in waiters:
                waiters.remove(task)
        if task.sched.io is not None:
            self._io_done(task)
        task.proc.tasks.discard(task)

    def _expire(self) -> None:
        now = time.monotonic()
        if self.kernel.timer_procs:
            self._expire_timers()
        for t in self.tasks.values():
            s = t.sched
            if s.state == BLOCKED and s.deadline is not None and s.deadline <= now:
                if s.io is not None:                  # a timed poll: it runs once more, not waiting
                    self._io_done(t)
                    s.timed_out = True
                    self._resume(t, None)
                elif s.futex is not None:
                    waiters = self.futexes.get(s.futex, [])
                    if t in waiters:
                        waiters.remove(t)
                    self._resume(t, -ETIMEDOUT)
                else:
                    self._resume(t, 0)                # a sleep that ran its course

    def _expire_timers(self) -> None:
        """The processes' timers that have run out send their signals
        (kernels/timers.py)."""
        k = self.kernel
        from .syscalls.kernel_signal import raise_signal
        for proc in list(k.timer_procs):
            if proc.zombie:
                k.timer_procs.discard(proc)
                continue

            def send(tid, info, proc=proc):
                thread = self.tasks.get(tid) if tid else None
                if thread is not None and thread.sched.state != EXITED:
                    raise_signal(thread, info.sig, info=info)
                else:
                    k.procs.signal(proc, info.sig, info=info)
            proc.timers.expire(proc, send)
            if not proc.timers.armed():
                k.timer_procs.discard(proc)

    def _timer_deadline(self):
        """The nearest wall deadline of a process timer, in monotonic seconds."""
        walls = [d for proc in self.kernel.timer_procs
                 if (d := proc.timers.nearest_wall()) is not None]
        return min(walls) / 1e9 if walls else None

    # ---- running -----------------------------------------------------------------
    def _pick(self, i):
        q = self.queues[i]
        for i, t in enumerate(q):
            if t.sched.state == RUNNABLE:
                q.append(q.pop(i))                    # round robin within the core
                return t
        return None

    def _switch_in(self, i, core, task) -> None:
        k = self.kernel
        old = self.resident[i]
        if old is not task:
            if old is not None and old.sched.state != EXITED:
                old.sched.ctx = (core.regs.read_all(), core.save_fpu())
            if task.sched.ctx is not None:
                gprs, fpu = task.sched.ctx
                core.restore_fpu(fpu)
                core.regs.write_many({n: v for n, v in gprs.items() if n != "rip"})
                core.regs.write(UC_X86_REG_RIP, gprs["rip"])
                task.sched.ctx = None
            if old is not None:
                k.counters[i].context_switch += 1
                if old.sched.state == RUNNABLE:
                    old.sched.nivcsw += 1             # preempted at the end of its quantum
            self.resident[i] = task
        if core.mm is not task.mm:                    # another process: its page tables
            core.switch_to(task.mm)
            if k.instances is None:                   # (a unikernel core: its instance's, once)
                k.counters[i].process_switch += 1
        k.slots[i].task = task
        task.core = core
        task.io.core = k.channel(i)
        task.scratch = k.scratches[i]
        if task.sched.result is not None:
            core.regs.write(UC_X86_REG_RAX, task.sched.result)
            if k.strace is not None:                  # the trace's line of the call it waited in
                k.strace.resumed(task, task.sched.result)
            task.sched.result = None

    def run(self) -> GuestExit:
        """Run every thread to the end of the instance; how it ended.  The
        machine's interrupter (azemu/timer.py) ends the time slices, and stops
        the running core when a host signal comes for the guest
        (kernels/hostsig.py, when the kernel forwards them); they are
        delivered between runs."""
        k = self.kernel
        self.timer = Interrupter(self.quantum_us / 1e6)
        k.host_signals = HostSignals(k, self.timer.wakeup_fd) if k.forward_host_signals else None
        if k.host_signals is not None:
            self.timer.on_signal = k.host_signals.on_signal
        try:
            return self._run()
        finally:
            if k.host_signals is not None:
                k.host_signals.close()
                k.host_signals = None
            self.timer.close()

    def _run(self) -> GuestExit:
        k = self.kernel
        signals, timer = k.host_signals, self.timer
        nap = _SIGNAL_CHECK_S if signals is not None else None   # waits end to look for signals
        while True:
            if signals is not None and signals.pending:
                signals.deliver()
                if k.exit is not None:
                    self._end_round()
                    return k._finish(k.exit)
            self._expire()
            if self.io_waiters:
                self.poll_io(0)
            ready = self.runnable()
            if not ready:
                waits = [t.sched.deadline for t in self.live() if t.sched.deadline is not None]
                timer_at = self._timer_deadline() if k.timer_procs else None
                if timer_at is not None:
                    waits.append(timer_at)             # a process timer wakes it then
                if not self.live():
                    self._end_round()
                    return k._finish(GuestExit(0))
                if self.io_waiters:                    # the host's poll until one is ready
                    wait_ms = -1 if not waits else max(0, int((min(waits) - time.monotonic()) * 1000) + 1)
                    if nap is not None and (wait_ms < 0 or wait_ms > nap * 1000):
                        wait_ms = int(nap * 1000)
                    self.poll_io(wait_ms)
                    continue
                if not waits and signals is not None and signals.may_wake(self.live()):
                    time.sleep(nap)                    # a host signal's handler may end a wait
                    continue
                if not waits and k.timer_procs:        # CPU timers: nothing runs, none can run out
                    k.timer_procs.clear()
                if not waits:
                    return k._finish(GuestExit(signal=9, report=(
                        f"azemu: deadlock: all {len(self.live())} threads wait on futexes "
                        "that nothing can wake")))
                time.sleep(min(max(0.0, min(waits) - time.monotonic()), nap or 1e9))
                continue
            for i, core in enumerate(self.cores):
                t = self._pick(i)
                if t is None:
                    continue
                self._switch_in(i, core, t)
                pc = core.regs.read(UC_X86_REG_RIP)
                at_entry = finish_first = False
                if t.sched.restart:                    # the syscall runs again
                    t.sched.restart, finish_first = False, t.sched.finish_first
                    t.sched.finish_first = False
                    if t.libos is None or pc != t.libos.entry:   # (a libOS call: at its hook)
                        pc -= core.SYSCALL_INSN_LEN
                    core.regs.write(UC_X86_REG_RIP, pc)          # after the handler (SA_RESTART)
                elif t.libos is not None and pc == t.libos.entry:   # a libOS call that was to run
                    at_entry = True                    # again ends (EINTR, EIDRM): back in its caller
                    if not t.pending_delivery:
                        pc = t.libos.resume            # with its result in rax
                if t.pending_delivery and not finish_first:   # a signal ended its wait: the handler first
                    k.deliver_signals(t, core, in_syscall=False, at_libos_entry=at_entry)
                    if k.exit is not None:
                        self._end_round()
                        return k._finish(k.exit)
                    if t.sched.state != RUNNABLE:
                        continue
                    pc = core.regs.read(UC_X86_REG_RIP)
                # Time slices while several threads may run, or while others wait
                # for a time or a handle (to wake them in time): ended by the
                # timer, or counted in instructions with --deterministic (or a
                # core with no preemption point: azemu/preempt.py).
                sliced = bool(self.several_runnable() or self.n_timed or self.io_waiters
                              or k.timer_procs)
                counted = sliced and (self.deterministic or core.preemption is None)
                self._preemptible(i, core, sliced and not counted)
                self.unsliced_run, self.resched = not sliced, False
                began = t.sched.began = thread_time_ns()
                timer.begin(core, sliced and not counted)
                result = core.run(pc, count=QUANTUM_INSNS if counted else 0)
                timer.end()
                code_sync.sync(core.mm, core)          # code it wrote that other cores ran
                self.unsliced_run = self.resched = False
                spent = thread_time_ns() - began
                t.sched.began = 0
                if t.sched.state == EXITED:            # it ended in the slice: its process keeps it
                    t.proc.usage.cpu_ns += spent
                else:
                    t.sched.cpu_ns += spent
                if k.internal_error is not None:
                    return k._internal()
                if k.exit is not None:
                    self._end_round()
                    return k._finish(k.exit)
                if result == RunResult.FAULT:
                    out = k.handle_fault(core, t)
                    if out is not None:
                        return out
                elif t.pending_delivery and t.sched.state == RUNNABLE:
                    k.deliver_signals(t, core, in_syscall=False)   # sent from another process
                    if k.exit is not None:
                        self._end_round()
                        return k._finish(k.exit)
                if signals is not None and signals.pending:
                    break                              # a host signal: delivered first
                if not self.several_runnable() and t.sched.state == RUNNABLE:
                    break                              # alone now: the next round runs it
            self._end_round()

    def _preemptible(self, i: int, core, sliced: bool) -> None:
        """The preemption point while the core's runs are sliced, and for a
        hold time after: each change drops the core's translated code, so a
        core that is sliced again soon after its point went (processes and
        threads that come and go) holds it four times longer each time, up
        to HOLD_MAX_S — the translated code then outlives its processes
        (the next process of a program reuses it: kernels/pagecache.py)."""
        now = time.monotonic()
        point = core.preemption
        if sliced:
            if point is not None and not point.installed and \
                    now - self._removed_at.get(i, -1e9) < AGAIN_S:
                self._hold[i] = min(HOLD_MAX_S, self._hold.get(i, HOLD_S) * 4)
            self._sliced_at[i] = now
            core.preemptible(True)
        elif point is not None and point.installed and \
                now - self._sliced_at.get(i, 0.0) > self._hold.get(i, HOLD_S):
            core.preemptible(False)
            self._removed_at[i] = now

    def _end_round(self) -> None:
        """The cores of this round ran at the same time, in the model: count
        the cache lines they took from each other (kernels/linux.py)."""
        k = self.kernel
        k.shared.end_round(lambda core_index: k.counters[self._local[core_index]])
