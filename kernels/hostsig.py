"""Host signals sent to azemu, delivered to the guest.

azemu is the guest's process on the host: what a user or the terminal sends
azemu (Ctrl-C, Ctrl-Z, `kill -TERM`, a window resize, `fg`) is meant for the
guest, whose own dispositions decide what it does — a handler runs, an
ignored signal is dropped, a default action ends or stops the guest.

* The signals the terminal sends (SIGINT, SIGQUIT, SIGTSTP, SIGWINCH) go to
  the terminal's foreground process group as the guest sees it
  (kernels/tty.py): the group a job-control shell gave the terminal to, or
  else the first process's — the whole group, as the terminal driver sends
  them.  SIGCONT (the shell's `fg` and `bg`) goes to the first process's
  group; SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 to the first process, the one
  with azemu's pid.
* A disposition azemu inherited as SIG_IGN (`nohup`, a shell's background
  job) is the first process's too, as execve keeps ignored signals.
* When a stop leaves the first process stopped, azemu stops on the host, so
  the shell that started it sees the job stop; the SIGCONT that resumes
  azemu resumes the guest.

When they are delivered: Python runs a signal handler only between
bytecodes of the emulator's thread, and that thread may be inside a long run
of guest code, so the signal's number also reaches the machine's
interrupter (azemu/timer.py, through `signal.set_wakeup_fd`), which stops
the running core at its next translated block (azemu/preempt.py); the
scheduler delivers the signal before it runs anything again.  An idle
instance looks for signals every _SIGNAL_CHECK_S (kernels/sched.py).
"""
from __future__ import annotations

import os
import signal as host

from .abi import linux as L
from .syscalls.kernel_signal import SI_KERNEL, SI_USER

TERMINAL = (L.SIGINT, L.SIGQUIT, L.SIGTSTP, L.SIGWINCH)
FORWARDED = TERMINAL + (L.SIGTERM, L.SIGHUP, L.SIGUSR1, L.SIGUSR2, L.SIGCONT)
# Python itself ignores SIGPIPE and SIGXFSZ at start-up: what azemu inherited is unknown there.
_INHERITABLE_IGNORE = (L.SIGINT, L.SIGQUIT, L.SIGTSTP, L.SIGTTIN, L.SIGTTOU, L.SIGHUP,
                       L.SIGTERM, L.SIGUSR1, L.SIGUSR2, L.SIGALRM, L.SIGCHLD, L.SIGWINCH)


def inherited_ignores(first) -> None:
    """Signals azemu was started with ignored are ignored by the first process."""
    for sig in _INHERITABLE_IGNORE:
        try:
            if host.getsignal(sig) == host.SIG_IGN:
                first.sigactions[sig].handler = L.SIG_IGN
        except ValueError:
            pass


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


class HostSignals:
    """Handlers for FORWARDED on the host while the kernel runs (from the
    main thread: Python allows no other)."""

    def __init__(self, kernel, wakeup_fd: int):
        self.k = kernel
        self.pending: list[int] = []          # arrived, for the scheduler to deliver
        self._acted: list[int] = []           # already acted on by on_signal
        self._waiting: dict[int, int] = {}    # signals for a handler the run holds back
        self._saved_wakeup = host.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
        self._saved = {sig: host.signal(sig, self._arrived) for sig in FORWARDED}

    def _arrived(self, sig, _frame) -> None:
        self.pending.append(sig)

    def targets(self, sig: int) -> tuple[list, int]:
        """The guest processes `sig` is for, and its si_code."""
        k = self.k
        first = k.process
        if sig in TERMINAL:
            pgid = k.tty.fg if k.tty.fg is not None else first.pgid
            return k.procs.group(pgid), SI_KERNEL
        if sig == L.SIGCONT:
            return k.procs.group(first.pgid), SI_USER
        return ([] if first.zombie else [first]), SI_USER

    def deliver(self) -> None:
        """Send the signals that arrived to the guest."""
        k = self.k
        self._waiting.clear()
        while self.pending and k.exit is None:
            sig = self.pending.pop(0)
            if sig in self._acted:
                self._acted.remove(sig)
                continue
            targets, code = self.targets(sig)
            for target in targets:
                k.procs.signal(target, sig, code)
            if k.process.stopped and k.exit is None:
                os.kill(os.getpid(), host.SIGSTOP)   # as the first process's job on the host

    def on_signal(self, sig: int, core) -> None:
        """`sig` came while `core` runs without a preemption point (the
        interrupter's thread calls this): act now where that is safe.  A
        signal that kills the process being run stops the run for good; one
        that stops the first process stops azemu on the host at once; one
        for a handler waits for the guest's next syscall — but the third of
        a kind held back so ends the process being run with the signal's
        default action, for a guest that never makes one (a user's third
        Ctrl-C)."""
        from .procs import stops
        from .tty import drops_stop
        k = self.k
        task = k.task_on(core)
        if task is None or k.exit is not None:
            return
        targets, _ = self.targets(sig)
        first = k.process
        if first in targets and stops(sig, first.sigactions[sig]) \
                and not first.sigmask & _bit(sig) and not drops_stop(first, sig):
            self._acted.append(sig)
            os.kill(os.getpid(), host.SIGSTOP)
            return
        proc = task.proc
        if proc not in targets or task.sigmask & _bit(sig):
            return
        act = proc.sigactions[sig]
        if act.handler == L.SIG_IGN or (act.handler == L.SIG_DFL and sig in L.SIG_DEFAULT_IGNORE):
            return
        if act.handler != L.SIG_DFL:
            self._waiting[sig] = self._waiting.get(sig, 0) + 1
            if self._waiting[sig] < 3:
                return
            act.handler = L.SIG_DFL               # the third: its default action, now
        core.stop_for_good()                      # it is killed: it will not run again

    @staticmethod
    def may_wake(tasks) -> bool:
        """Is one of these waits one a host signal is meant to end: a wait
        for a signal (pause, sigsuspend), or one a handler may interrupt?
        (Otherwise every thread waits on what nothing can wake: a deadlock.)"""
        return any(isinstance(t.sched.futex, tuple) and t.sched.futex[0] == "sigsuspend"
                   for t in tasks) or \
            any(t.proc.sigactions[sig].handler not in (L.SIG_DFL, L.SIG_IGN)
                and not t.sigmask & _bit(sig) for t in tasks for sig in FORWARDED)

    def close(self) -> None:
        for sig, handler in self._saved.items():
            host.signal(sig, handler if handler is not None else host.SIG_DFL)
        host.set_wakeup_fd(self._saved_wakeup)
