"""The processes of one kernel instance: their table, their ends, their parents.

A kernel instance is a PID namespace: its first process (`Kernel.process`)
is the one `azemu exec` started, and when it ends the instance ends, the
others with it (as when a namespace's init dies).  Every other process is
made by fork, vfork or clone (kernels/syscalls/proc_fork.py) and lives in
this table until it is reaped:

* its end (exit_group, its last thread's exit, or a fatal signal) makes it a
  zombie: its threads stop, its memory and files go, its children pass to
  the instance's reaper (Linux's init: they are reaped as they end, unseen
  by the first process's wait), and its parent is told — a SIGCHLD, and a
  wake-up of the parent's threads waiting in wait4/waitid;
* wait4/waitid (kernels/syscalls/proc_wait.py) read its status and reap it.

A stop signal at its default action (SIGSTOP always) stops a process's
threads in the scheduler until SIGCONT; each stop and continuation is kept
for the parent's next WUNTRACED/WCONTINUED wait, with a SIGCHLD unless the
parent set SA_NOCLDSTOP (`stop`, `cont`).

Pids and tids come from one counter per machine (its instances share the
FWK, which knows guests by tid), after the host pid the first process has.
"""
from __future__ import annotations

from .abi import linux as L
from .abi.linux_errno import EINTR
from .errors import GuestExit
from . import tty
from .siginfo import CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SigInfo, bit
from .syscalls import proc_pidfd as pidfd

REAPER = 1                         # the ppid of an orphan, as Linux's init
STOP_SIGNALS = (L.SIGSTOP, L.SIGTSTP, L.SIGTTIN, L.SIGTTOU)
_DUMPS_CORE = {3, 4, 5, 6, 7, 8, 11, 24, 25, 31}   # SIGQUIT ILL TRAP ABRT BUS FPE SEGV XCPU XFSZ SYS


class WaitStatus:
    """How a process ended, as wait4 reports it."""
    __slots__ = ("code", "signal", "core")

    def __init__(self, how: GuestExit):
        import resource
        self.code = how.status & 0xFF
        self.signal = how.signal
        # A core is dumped (WCOREDUMP) for these signals when RLIMIT_CORE allows one.
        self.core = how.signal in _DUMPS_CORE and resource.getrlimit(resource.RLIMIT_CORE)[0] != 0

    def word(self) -> int:
        """The status word: exit code << 8, or the signal (| 0x80 with a core)."""
        if self.signal:
            return self.signal | (0x80 if self.core else 0)
        return self.code << 8


def hold(proc, info) -> None:
    """A signal every thread of `proc` blocks waits in its pending set; the
    threads waiting for one (sigtimedwait, signalfd's poll) hear of it."""
    if proc.pending.add(info):
        k = proc.kernel
        k.sched.wake(("sigwait", proc.pid), 1 << 30)
        for sfd in proc.signal_listeners:
            sfd.update()


def child_wait_key(pid: int):
    """The wait queue a process's threads sleep on in wait4/waitid."""
    return ("wait", pid)


def stops(sig: int, act) -> bool:
    """Does `sig`, with the disposition `act`, stop its process?  SIGSTOP
    always; SIGTSTP, SIGTTIN and SIGTTOU at their default action."""
    return sig == L.SIGSTOP or (sig in STOP_SIGNALS and act.handler == L.SIG_DFL)


class ProcessTable:
    def __init__(self, kernel):
        self.k = kernel
        self.by_pid: dict[int, object] = {}

    def add(self, p) -> None:
        self.by_pid[p.pid] = p

    def get(self, pid: int):
        return self.by_pid.get(pid)

    def children(self, p) -> list:
        return [c for c in self.by_pid.values() if c.ppid == p.pid and c is not p]

    def group(self, pgid: int) -> list:
        return [c for c in self.by_pid.values() if c.pgid == pgid and not c.zombie]

    def live(self) -> list:
        return [c for c in self.by_pid.values() if not c.zombie]

    # ---- the end of a process ---------------------------------------------------
    def end(self, p, how: GuestExit) -> None:
        """Process `p` is over (not the first: the kernel ends the instance
        for that)."""
        p = p.proc
        if p.zombie:
            return
        k = self.k
        if k.strace is not None:
            k.strace.exited(p, how)                 # the trace's +++ line
        for t in list(p.tasks):
            k.sched.exit_task(t)
            k.shared.tasks.pop(t.tid, None)
        p.tasks.clear()
        p.zombie = True
        p.status = WaitStatus(how)
        k.image_done(p)
        from .syscalls.ipc_sysv import sem_exit, shm_gone
        sem_exit(p)
        if p.mm.users == 1:
            shm_gone(p, p.mm)                    # its System V attachments go with it
        if k.instances is not None:
            k.instances.release(p)               # a unikernel instance ends with its process
        p.release_memory()
        from .locks import exited
        exited(p)                                # its record locks
        p.fds.close_all()
        for sfd in p.signal_listeners:
            sfd.close()
        pidfd.ended(p)
        children = self.children(p)
        for c in children:                       # orphans: to the reaper
            c.ppid = REAPER
            if c.zombie:
                self.reap(c)
        tty.orphaning_exit(k, p, children)
        if p.vfork_parent is not None:
            self.vfork_done(p)
        parent = self.by_pid.get(p.ppid)
        if parent is None or parent.zombie:
            self.reap(p)
            return
        act = parent.sigactions[L.SIGCHLD]
        if act.handler == L.SIG_IGN or act.flags & L.SA_NOCLDWAIT:
            self.reap(p)                          # no zombie is kept
        else:
            self._finish_waits(parent, p, "exited")   # a wait this child ends returns it first
            if p.exit_signal:
                st = p.status
                code = (CLD_DUMPED if st.core else CLD_KILLED) if st.signal else CLD_EXITED
                self.signal(parent, p.exit_signal, info=SigInfo(
                    p.exit_signal, code, pid=p.pid, uid=p.uid, status=st.signal or st.code))
        k.sched.wake(child_wait_key(parent.pid), 1 << 30)

    def reap(self, p) -> None:
        self.by_pid.pop(p.pid, None)
        pidfd.gone(p)

    def vfork_done(self, child) -> None:
        """The vfork child has exec'd or ended: its parent goes on."""
        parent, child.vfork_parent = child.vfork_parent, None
        if child.vfork_frame is not None:        # the libOS call frame the child ran over
            at, data = child.vfork_frame
            child.vfork_frame = None
            try:
                parent.mm.write(at, data)
            except Exception:
                pass
        if parent.sched.futex == ("vfork", child.pid):
            self.k.sched.interrupt(parent, child.pid)     # vfork returns the child's pid

    # ---- signals between processes ----------------------------------------------
    def signal(self, target, sig: int, code: int = 0, info: SigInfo | None = None) -> None:
        """Send `sig` to process `target` from outside it; `info` is what it
        carries (default: the code alone, as the kernel sends it)."""
        target = target.proc
        if target.zombie or not sig:
            return
        info = info or SigInfo(sig, code)
        if sig == L.SIGCONT:
            self.cont(target)                     # whatever its disposition
        # A thread that does not block it takes it; if every thread blocks
        # it, it waits pending, whatever its disposition is (Linux's
        # sig_ignored: a blocked signal is never dropped when sent).
        thread = next((t for t in target.tasks if not t.sigmask & bit(sig)), None)
        if thread is None and sig not in (L.SIGKILL, L.SIGSTOP):
            hold(target, info)
            return
        if self.k.strace is not None:            # the trace's --- SIG {...} --- line
            self.k.strace.signal(thread or next(iter(target.tasks), target), info)
        act = target.sigactions[sig]
        if sig not in (L.SIGKILL, L.SIGSTOP) and act.handler == L.SIG_IGN:
            return
        if stops(sig, act):
            if not tty.drops_stop(target, sig):
                self.stop(target, sig)
            return
        if sig == L.SIGKILL or (act.handler == L.SIG_DFL and sig not in L.SIG_DEFAULT_IGNORE):
            self.kill_process(target, GuestExit(signal=sig))
            return
        if act.handler == L.SIG_DFL:              # ignored by default
            return
        thread.pending_delivery.append(info)
        self.interrupt(thread)

    # ---- job-control stops ---------------------------------------------------------
    def stop(self, target, sig: int) -> None:
        """`target` stops (a stop signal's default action): its threads stop,
        a pending SIGCONT is dropped, and its parent may see it in wait
        (WUNTRACED) and gets SIGCHLD unless it asked SA_NOCLDSTOP."""
        target = target.proc
        if target.zombie or target.stopped:
            return
        target.pending.drop(L.SIGCONT)
        target.stopped, target.report = True, ("stopped", sig)
        self.k.sched.stop(target)
        self._tell_parent(target)

    def cont(self, target) -> None:
        """SIGCONT: a stopped `target` goes on, pending stop signals are
        dropped, and its parent may see it in wait (WCONTINUED)."""
        target = target.proc
        for s in STOP_SIGNALS:
            target.pending.drop(s)
        if target.zombie or not target.stopped:
            return
        target.stopped, target.report = False, ("continued", L.SIGCONT)
        self.k.sched.cont(target)
        self._tell_parent(target)

    def _finish_waits(self, parent, child, report: str) -> None:
        """The parent's threads whose wait4/waitid `child` ends run their
        call again and return it before the SIGCHLD that comes next is
        handled (Linux); the others are interrupted by it, or look again."""
        key = child_wait_key(parent.pid)
        for t in list(self.k.sched.futexes.get(key, [])):
            match = t.sched.waits_for
            if match is not None and match(child, report):
                self.k.sched.wake_to_finish(key, t)

    def _tell_parent(self, target) -> None:
        parent = self.by_pid.get(target.ppid)
        if parent is None or parent.zombie:
            return
        self._finish_waits(parent, target, target.report[0])
        if not parent.sigactions[L.SIGCHLD].flags & L.SA_NOCLDSTOP:
            stopped = target.report[0] == "stopped"
            self.signal(parent, L.SIGCHLD, info=SigInfo(
                L.SIGCHLD, CLD_STOPPED if stopped else CLD_CONTINUED, pid=target.pid,
                uid=target.uid, status=target.report[1]))
        self.k.sched.wake(child_wait_key(parent.pid), 1 << 30)

    def kill_process(self, target, how: GuestExit) -> None:
        k = self.k
        if target is k.process:
            k.exit = how                          # the instance ends with it
            for t in list(target.tasks):
                if t.sched.state == "blocked":
                    k.sched.interrupt(t, -EINTR)
            return
        self.end(target, how)

    def interrupt(self, thread) -> None:
        """A handled signal for a waiting thread: its wait ends with EINTR."""
        if thread.sched.state == "blocked":
            self.k.sched.interrupt(thread, -EINTR)
