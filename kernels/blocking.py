"""Blocking calls on pipes, sockets and terminals without stalling the instance.

Every host handle is served by the FWK (in this process for linux mode, in
the proxy for lwk and unikernel), one call at a time.  A read of an empty
pipe that blocked there would stop every task of the instance — its writer
too, when the writer is another guest thread or process.  So a call that
may block first asks the host whether its handle is ready (poll, timeout
0); when it is not, the task waits in the scheduler for the handle
(kernels/sched.py: the host's poll over every waiting handle when nothing
else can run) and the syscall runs again once it is ready, as Linux restarts
a call after -ERESTARTSYS.

Pipes made by the guest (pipe, pipe2) are non-blocking on the host side, so
that a write into a full pipe returns what fitted instead of blocking the
FWK; the guest's own O_NONBLOCK is kept apart (OpenFile.flags) and decides
whether the guest sees EAGAIN or waits.  Handles the guest got from the host
(its stdin, stdout, stderr) keep the host's blocking mode, which other host
processes share: they are only polled before a read.
"""
from __future__ import annotations

import struct
import time

from .abi import linux as L
from .abi.linux_errno import EAGAIN
from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
from .errors import LinuxError
from .fwk.channel import KIND_CHAR, KIND_FIFO, KIND_SOCKET

POLLIN, POLLOUT, POLLPRI = 0x1, 0x4, 0x2
STREAMS = (KIND_FIFO, KIND_SOCKET, KIND_CHAR)
_POLLFD = struct.Struct("<ihh")


def _may_block(p, f) -> bool:
    return (f.kind in STREAMS or f.hostnb) and not f.flags & L.O_NONBLOCK


def ready(p, hfd: int, events: int) -> bool:
    """Is the host handle ready for `events` now?"""
    at = p.scratch.alloc(8)
    p.scratch.phys.view[at:at + 8] = _POLLFD.pack(hfd, events, 0)
    try:
        return p.io.call(NR["poll"], at, 1, 0) > 0
    except LinuxError:
        return True                               # let the call itself say what is wrong


def read(p, f, call):
    """`call()` reads from `f`; waits (and restarts) rather than block the FWK."""
    if not _may_block(p, f) or (not f.hostnb and p.kernel.sched.undisturbed()):
        return call()                             # nothing else could run, nor a signal come
    if not ready(p, f.hfd, POLLIN):
        p.kernel.sched.wait(p, io=(f.hfd, POLLIN))
    try:
        return call()
    except LinuxError as e:
        if e.errno == EAGAIN and f.hostnb:        # drained by another reader meanwhile
            p.kernel.sched.wait(p, io=(f.hfd, POLLIN))
        raise


def write(p, f, call):
    """`call()` writes to `f`; on a guest pipe that is full, waits for room."""
    if not f.hostnb:
        return call()
    try:
        return call()
    except LinuxError as e:
        if e.errno == EAGAIN and not f.flags & L.O_NONBLOCK:
            p.kernel.sched.wait(p, io=(f.hfd, POLLOUT))
        raise


MSG_DONTWAIT = 0x40


def send(p, f, length: int, flags: int, call):
    """A send of `length` bytes on socket `f`: `call(offset, flags)` sends
    the bytes from `offset` on.  A blocking socket blocks in Linux until
    all is sent; here, while other tasks may run or a signal come, the host
    is asked not to wait (MSG_DONTWAIT), and the task waits in the scheduler
    for room and goes on where it stopped (what it sent is kept across the
    restarts); a signal then ends it with the count sent so far, as Linux
    (kernels/sched.py: interrupt), or EINTR when nothing was."""
    s = p.sched
    if f.flags & L.O_NONBLOCK or flags & MSG_DONTWAIT or f.kind != KIND_SOCKET:
        return call(0, flags)
    if p.kernel.sched.undisturbed() and not s.done:   # the host may block: nothing else could run
        done = 0
        while done < length:                     # (each call moves at most a chunk)
            try:
                n = call(done, flags)
            except LinuxError:
                if done:
                    return done
                raise
            done += n
            if n == 0:
                break
        return done
    while True:
        try:
            n = call(s.done, flags | MSG_DONTWAIT)
        except LinuxError as e:
            if e.errno == EAGAIN:
                p.kernel.sched.wait(p, io=(f.hfd, POLLOUT), restart=True)   # (raises Block)
            done, s.done = s.done, 0
            if done:
                return done                      # what was sent; the error comes next time
            raise
        except BaseException:                    # a bad buffer (GuestFault): nothing kept
            s.done = 0
            raise
        s.done += n
        if s.done >= length or n == 0:
            done, s.done = s.done, 0
            return done


def wait_ready(p, f, events: int) -> None:
    """Before a call that may block on `f` (accept, connect, recv): wait
    until the host handle is ready for `events`."""
    if p.kernel.sched.undisturbed():
        return                                    # nothing else could make it ready, nor a signal come
    if _may_block(p, f) and not ready(p, f.hfd, events):
        p.kernel.sched.wait(p, io=(f.hfd, events))


def timed(p, handles, timeout_ms: int, call):
    """poll, select and epoll_wait: `call(ms)` asks the host with a timeout
    of `ms` (-1: none) and returns how many are ready.  With other tasks
    alive, the host is only ever asked not to wait; the task waits in the
    scheduler for any of `handles` — [(host handle, poll events), ...] — or
    its time, and the call runs again.  Its end time is kept across those
    restarts, so a timeout is the caller's and not restarted."""
    s, sched = p.sched, p.kernel.sched
    try:
        if s.timed_out:                           # the time is up: one last look
            s.timed_out, s.until = False, None
            return call(0)
        if timeout_ms == 0 or not handles or sched.undisturbed():
            s.until = None
            return call(timeout_ms)               # nothing else could run meanwhile
        n = call(0)
    except BaseException:
        s.until = None
        raise
    if n:
        s.until = None
        return n
    if s.until is None and timeout_ms > 0:
        s.until = time.monotonic() + timeout_ms / 1000
    sched.wait(p, io=handles, deadline=s.until)

