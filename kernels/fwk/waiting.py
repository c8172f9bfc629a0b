"""How a side of the FWK channel waits for the other: spin, yield, sleep.

Both ends of a queue (kernels/fwk/channel.py) are Python threads in two
processes.  A reply that comes while the waiter polls costs a few µs; one
that comes after it fell asleep costs a futex wake-up and a thread switch
(tens of µs).  Polling only pays when the other side has a core of its own
to run on: on an oversubscribed host a poller takes the very CPU time the
other side needs, and every round trip grows to a scheduler time slice.
So the policy looks at the host:

* `spin` polls until the reply comes (never sleeps);
* `block` sleeps at once;
* `spin-then-block` (the default, adaptive) polls for at most `spin_us` —
  a bound measured in time — calling sched_yield every ~60 µs so that a
  thread waiting for this CPU runs, then sleeps.  It polls only while the
  host has a CPU to spare: when the host's runnable threads
  (/proc/loadavg's "running" field, sampled every SAMPLE_S) are more than
  its CPUs in two samples in a row, it sleeps at once.  It also stops polling while polls keep
  failing (the reply came after the bound for the last MISSES waits), and
  tries again every PROBE waits.

Sleeping is FUTEX_WAIT on the queue's producer index in the shared mapping
(not private: two processes), with a timeout of BLOCK_RECHECK so that the
caller can ask whether the other side is still alive.

On a busy host a sleeping side is woken on whatever CPU the scheduler
placed it, and when the emulator and its proxy sit on different CPUs, each
behind a CPU hog, every wake-up has to preempt a hog: a round trip of
~60 µs, and a hog's whole slice (~3 ms) for one in thirty.  When they share
a CPU, the one going to sleep hands the CPU to the other: ~15 µs.  Which of
the two a run gets is the load balancer's choice, and it sticks for the run
(busybox `dd bs=64` in lwk: 0.3 s or 1.6 s, nothing between).  So while a
client sleeps because the host is busy (`Waiter.near`), it asks the proxy to
run next to it: each request carries the client's CPU, and the proxy's
thread serving that core keeps itself on that CPU (its affinity, never the
client's) until requests stop asking (kernels/fwk/proxy.py).
"""
from __future__ import annotations

import ctypes
import os
import time

POLICIES = ("spin", "block", "spin-then-block")
DEFAULT_POLICY = "spin-then-block"
DEFAULT_SPIN_US = 200
BLOCK_RECHECK = 0.05       # seconds a sleeper sleeps before it looks again
SAMPLE_S = 0.02            # how often the host's load is read
CONFIRM_S = 0.002          # how soon a sample that says "busy" is checked again
MISSES = 8                 # polls that failed in a row before polling stops
PROBE = 64                 # waits between tries while polling has stopped
POLLS = 32                 # polls between two looks at the clock (about 15 µs)

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
# The same function called holding the GIL: for a wake-up, which never blocks
# (no GIL to drop and take back on every call).
_syscall_held = ctypes.PyDLL(None, use_errno=True).syscall
_syscall_held.restype = ctypes.c_long
SYS_futex = 202
FUTEX_WAIT, FUTEX_WAKE = 0, 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_RECHECK = _Timespec(int(BLOCK_RECHECK), int(BLOCK_RECHECK % 1 * 1e9))
_RECHECK_REF = ctypes.byref(_RECHECK)

# Every round trip that sleeps makes two or four of these calls: their
# arguments are made once (a futex word's pointer, by `futex_word`), not per
# call, which halves what ctypes costs for each (0.75 -> 0.46 µs).


def futex_word(addr: int) -> ctypes.c_void_p:
    """What futex_wait and futex_wake take for the 32-bit word at `addr`."""
    return ctypes.c_void_p(addr)


def futex_wait(word: ctypes.c_void_p, expected: int, timed: bool = True) -> None:
    """Sleep while the 32-bit word is `expected` (at most BLOCK_RECHECK when
    `timed`; the GIL is released meanwhile).  `expected` goes as a C int,
    which ctypes masks to 32 bits: the word's bits, as the kernel compares
    them."""
    _syscall(SYS_futex, word, FUTEX_WAIT, expected, _RECHECK_REF if timed else None, None, 0)


def futex_wake(word: ctypes.c_void_p) -> None:
    _syscall_held(SYS_futex, word, FUTEX_WAKE, 1, None, None, 0)


class HostLoad:
    """Whether the host has a CPU to spare, from /proc/loadavg's running
    count (which includes the thread asking), read at most every SAMPLE_S.

    One sample is a moment: a daemon that wakes for a millisecond makes one
    count too many.  So a host is taken as busy only when two samples in a
    row say so (the second taken CONFIRM_S after the first), and as free
    again at the first sample that says so: a blip costs one quick sample
    instead of SAMPLE_S of sleeping through waits that polling would catch."""

    def __init__(self):
        try:
            self.cpus = len(os.sched_getaffinity(0))
        except OSError:
            self.cpus = os.cpu_count() or 1
        self._at = 0.0
        self._next = 0.0
        self._over = False           # the last sample counted more threads than CPUs
        self._busy = False
        self.last = False            # the verdict of the latest sample
        try:                                       # kept open: each pread reads it anew
            self._fd = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def busy(self) -> bool:
        now = time.monotonic()
        if now >= self._next:
            try:
                running = int(os.pread(self._fd, 128, 0).split()[3].split(b"/")[0])
            except (OSError, TypeError, ValueError, IndexError):
                running = 0
            # the asking thread is one of them; the other side needs one more
            over = running > self.cpus
            self._busy = self.last = over and self._over
            self._next = now + (CONFIRM_S if over and not self._over else SAMPLE_S)
            self._over = over
        return self._busy


_host = None


def host_load() -> HostLoad:
    global _host
    if _host is None:
        _host = HostLoad()
    return _host


class Waiter:
    """One waiting side's policy and its memory of how polls went."""

    def __init__(self, policy: str = DEFAULT_POLICY, spin_us: int = DEFAULT_SPIN_US):
        if policy not in POLICIES:
            raise ValueError(f"unknown wait policy {policy!r}")
        self.policy = policy
        self.spin_ns = int(spin_us * 1000)
        self.misses = 0
        self.skipped = 0
        self.load = host_load()

    def budget(self) -> int | None:
        """How long to poll before sleeping, in ns (None: for ever)."""
        if self.policy == "spin":
            return None
        if self.policy == "block":
            self.load.busy()                      # sampled for `near`
            return 0
        if not self.spin_ns or self.load.busy():
            return 0
        if self.misses >= MISSES:
            self.skipped += 1
            if self.skipped < PROBE:
                return 0
            self.skipped = 0                      # try again once
        return self.spin_ns

    def near(self) -> bool:
        """Whether the other side should run on this side's CPU: this side
        sleeps while waiting, because the host is busy (as of the latest
        sample; see the module's note)."""
        return self.load.last and self.policy != "spin"

    def polled(self, caught: bool) -> None:
        """The outcome of a wait that polled: the reply came while polling."""
        self.misses = 0 if caught else self.misses + 1
