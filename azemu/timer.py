"""The machine's timer and external interrupts: a host thread that stops the
running core when its time slice is over, or when asked to (a host signal).

The stop is the core's preemption point (azemu/preempt.py): the run ends at
the start of the next translated block, safe from any thread.

* **timer** — while the kernel asks for time slicing (`begin(core,
  sliced=True)`), a slice still running one tick (`quantum_s`) after the
  tick that saw it begin is stopped: a slice lasts one to two ticks, as
  under a periodic timer interrupt.  No tick runs while nothing is sliced.
* **external** — `kick()`, from any thread, or a host signal (this thread
  reads the wakeup fd given to `signal.set_wakeup_fd`), stops the running
  core at once, so that the kernel acts on it between runs.  A core without
  its preemption point installed cannot be stopped so; for a signal, the
  kernel's `on_signal(sig, core)` is called instead (from this thread) and
  decides what it can do.

A stop that lands after a run ended makes the next run of that core return
at once (the point is disarmed only as a run starts): harmless, the kernel
runs it again.
"""
from __future__ import annotations

import os
import select
import threading


class Interrupter:
    def __init__(self, quantum_s: float, on_signal=None):
        self.quantum_s = quantum_s
        self.on_signal = on_signal        # (sig, core) for a core that cannot be preempted
        self.core = None                  # the core running a slice, or None
        self.sliced = False               # the running slice may be cut at a tick
        self.slices = 0                   # slices begun: a tick compares them
        self.ticks_cut = 0                # slices the timer ended
        self.kicks = 0                    # runs stopped on request
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wakeup_fd = self._w          # for signal.set_wakeup_fd
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="azemu-timer", daemon=True)
        self._thread.start()

    def begin(self, core, sliced: bool) -> None:
        """`core` starts a run; with `sliced`, the timer ends it after its slice."""
        self.slices += 1
        self.core = core
        if sliced != self.sliced:
            self.sliced = sliced
            if sliced:
                self._write(b"\0")        # the thread starts ticking

    def end(self) -> None:
        self.core = None

    def kick(self) -> None:
        """Stop the running core now (from any thread)."""
        self._write(b"\xff")

    def _write(self, byte: bytes) -> None:
        try:
            os.write(self._w, byte)
        except OSError:
            pass                          # the pipe is full: a wake-up is pending anyway

    def _loop(self) -> None:
        seen = -1
        waits = select.poll()             # not select(): a big machine has fds above 1023
        waits.register(self._r, select.POLLIN)
        while not self._closed:
            try:
                ready = waits.poll(self.quantum_s * 1000 if self.sliced else None)
                data = os.read(self._r, 512) if ready else b""
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                return
            if self._closed:
                return
            core = self.core
            if any(data):                 # a kick, or a signal's number
                if core is not None and core.preempt():
                    self.kicks += 1
                elif core is not None and self.on_signal is not None:
                    for sig in data:
                        if 0 < sig < 0xFF:
                            self.on_signal(sig, core)
            elif not ready and self.sliced and core is not None and self.slices == seen:
                if core.preempt():
                    self.ticks_cut += 1
            seen = self.slices

    def close(self) -> None:
        self._closed = True
        self._write(b"\0")
        self._thread.join(timeout=1)
        os.close(self._r)
        os.close(self._w)
