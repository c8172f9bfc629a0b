"""poll, ppoll, select, pselect6 (Linux fs/select.c) and epoll (fs/eventpoll.c).

The guest's fds are put through its fd table into host handles in a copy of
the array (or fd_set) in scratch; the host side waits on those; the results
are put back under the guest's fd numbers.  A guest fd that is not open is
reported POLLNVAL without asking the host to wait.  A call that would wait
while other tasks of the instance can run waits in the scheduler instead
(kernels/blocking.py: timed), so that they run meanwhile."""
from __future__ import annotations

import struct
import time

from .. import blocking
from ..abi.linux_errno import EBADF, EINVAL
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..hostio import BIG_MAX
from .fs_open import install_handle
from .kernel_signal import with_mask
from .util import s32

POLLNVAL = 0x20
_POLLFD = struct.Struct("<ihh")
FD_SETSIZE = 1024
_EPOLL_EVENT = struct.Struct("<IQ")          # packed on x86-64: 12 bytes
_EP_MAX_EVENTS = 0x7FFFFFFF // _EPOLL_EVENT.size
EPOLL_CLOEXEC = 0o2000000


def _poll(p, fds, nfds, call):
    if nfds > p.fds.limit:                       # Linux: RLIMIT_NOFILE
        raise LinuxError(EINVAL)
    raw = p.mm.read(fds, 8 * nfds) if nfds else b""
    entries, nval = [], 0
    for i in range(nfds):
        fd, events, _ = _POLLFD.unpack_from(raw, 8 * i)
        f = p.fds.files.get(fd) if fd >= 0 else None
        if fd >= 0 and f is None:
            nval += 1
        entries.append((fd, f.hfd if f is not None else -1, events))
    arr = p.scratch.put(b"".join(_POLLFD.pack(h, ev, 0) for _, h, ev in entries)) if nfds else 0
    n = call(arr, nval)
    out = bytearray(raw)
    back = p.scratch.get(arr, 8 * nfds) if nfds else b""
    for i, (fd, h, events) in enumerate(entries):
        revents = POLLNVAL if fd >= 0 and h < 0 else _POLLFD.unpack_from(back, 8 * i)[2]
        struct.pack_into("<h", out, 8 * i + 6, revents)
    if nfds:
        p.mm.write(fds, bytes(out))
    return n + nval


def _poll_timed(p, fds, nfds, timeout_ms):
    def call(arr, nval):
        handles = [(h, ev) for h, ev in _handles(p, arr, nfds)]
        return blocking.timed(p, handles, 0 if nval else timeout_ms,
                              lambda ms: p.io.call(NR["poll"], arr, nfds, ms))
    return _poll(p, fds, nfds, call)


def _handles(p, arr, nfds):
    raw = p.scratch.get(arr, 8 * nfds) if nfds else b""
    for i in range(nfds):
        h, ev, _ = _POLLFD.unpack_from(raw, 8 * i)
        if h >= 0:
            yield h, ev | 0x18                    # POLLERR | POLLHUP: always reported


def poll(p, fds, nfds, timeout):
    p.scratch.reset()
    return _poll_timed(p, fds, nfds, s32(timeout) if s32(timeout) >= 0 else -1)


def ppoll(p, fds, nfds, tsp, sigmask, sigsetsize):
    p.scratch.reset()
    ms = _timeout_ms(p, tsp, 1)
    return with_mask(p, sigmask, sigsetsize, lambda: _poll_timed(p, fds, nfds, ms))


def _sets(p, nfds, ptrs):
    """The guest's fd_sets: per set, the guest fds asked for; and the bytes
    each set has (nfds bits).  Linux ignores bits past its fd table."""
    if nfds < 0:
        raise LinuxError(EINVAL)
    nfds = min(nfds, max(FD_SETSIZE, p.fds.limit))
    nbytes = (nfds + 63) // 64 * 8
    asked = []
    for ptr in ptrs:
        bits = int.from_bytes(p.mm.read(ptr, nbytes), "little") if ptr and nbytes else 0
        fds, fd = [], 0
        while bits:
            low = (bits & -bits).bit_length() - 1
            fd += low
            if p.fds.files.get(fd) is None:
                raise LinuxError(EBADF)
            fds.append(fd)
            bits >>= low + 1
            fd += 1
        asked.append(fds)
    return asked, nbytes


# What select asks the host's poll for each set, and which of poll's results
# mark an fd ready in it (Linux fs/select.c: POLLIN_SET, POLLOUT_SET, POLLEX_SET).
_ASK = (0x1, 0x4, 0x2)                            # POLLIN, POLLOUT, POLLPRI
_READY = (0x1 | 0x40 | 0x80 | 0x10 | 0x8,         # IN, RDNORM, RDBAND, HUP, ERR
          0x4 | 0x100 | 0x200 | 0x8,              # OUT, WRNORM, WRBAND, ERR
          0x2)                                    # PRI


def _select(p, nfds, ptrs, timeout_ms):
    """select's work, done with the host's poll (host handles may be past
    FD_SETSIZE): the sets as a pollfd array in scratch, a timed wait, the
    sets back.  Returns the number of bits set, as Linux."""
    asked, nbytes = _sets(p, s32(nfds), ptrs)
    events = {}                                   # guest fd -> poll events asked
    for fds, ask in zip(asked, _ASK):
        for fd in fds:
            events[fd] = events.get(fd, 0) | ask
    order = sorted(events)
    handles = [(p.fds.files[fd].hfd, events[fd] | 0x18) for fd in order]   # ERR, HUP: always
    packed = b"".join(_POLLFD.pack(h, ev, 0) for h, ev in handles)
    arr = p.scratch.put(packed) if handles else 0

    def call(ms):
        if handles:
            p.scratch.phys.view[arr:arr + len(packed)] = packed
        return p.io.call(NR["poll"], arr, len(handles), ms)
    n = blocking.timed(p, handles, timeout_ms, call)
    revents = {}
    if n:
        back = p.scratch.get(arr, 8 * len(handles))
        for i, fd in enumerate(order):
            revents[fd] = _POLLFD.unpack_from(back, 8 * i)[2]
            if revents[fd] & POLLNVAL:
                raise LinuxError(EBADF)
    total = 0
    for ptr, fds, ready in zip(ptrs, asked, _READY):
        if not ptr:
            continue
        bits = 0
        for fd in fds:
            if revents.get(fd, 0) & ready:
                bits |= 1 << fd
                total += 1
        p.mm.write(ptr, bits.to_bytes(nbytes, "little"))
    return total


def _timeout_ms(p, addr, unit_ns):
    """A timeval (unit 1000 ns) or timespec (unit 1 ns) as ms, rounded up; -1 for none."""
    if not addr:
        return -1
    sec, frac = struct.unpack("<qq", p.mm.read(addr, 16))
    if sec < 0 or frac < 0 or frac * unit_ns >= 10**9:
        raise LinuxError(EINVAL)
    return sec * 1000 + (frac * unit_ns + 999_999) // 1_000_000


def select(p, nfds, readfds, writefds, exceptfds, timeout):
    p.scratch.reset()
    ms = _timeout_ms(p, timeout, 1000)
    until = p.sched.until                         # set when this is a restart
    n = _select(p, nfds, (readfds, writefds, exceptfds), ms)
    if timeout:                                   # Linux updates the time left
        left = 0 if n == 0 else ms if until is None else \
            max(0, int((until - time.monotonic()) * 1000))
        p.mm.write(timeout, struct.pack("<qq", left // 1000, left % 1000 * 1000))
    return n


def pselect6(p, nfds, readfds, writefds, exceptfds, tsp, sig):
    """`sig` points at {const sigset_t *ss; size_t ss_len} (Linux's sixth argument)."""
    p.scratch.reset()
    ms = _timeout_ms(p, tsp, 1)
    mask, size = struct.unpack("<QQ", p.mm.read(sig, 16)) if sig else (0, 8)
    return with_mask(p, mask, size,
                     lambda: _select(p, nfds, (readfds, writefds, exceptfds), ms))


def epoll_create1(p, flags):
    flags = s32(flags)
    if flags & ~EPOLL_CLOEXEC:
        raise LinuxError(EINVAL)
    p.fds.lowest_free()
    return install_handle(p, p.io.call(NR["epoll_create1"], 0), 0o2, bool(flags & EPOLL_CLOEXEC))


def epoll_create(p, size):
    if s32(size) <= 0:
        raise LinuxError(EINVAL)
    return epoll_create1(p, 0)


def epoll_ctl(p, epfd, op, fd, event):
    ep, f = p.fds.get(s32(epfd)), p.fds.get(s32(fd))
    p.scratch.reset()
    ev = p.scratch.put(p.mm.read(event, _EPOLL_EVENT.size)) if event else 0
    return p.io.call(NR["epoll_ctl"], ep.hfd, op, f.hfd, ev)


def epoll_wait(p, epfd, events, maxevents, timeout):
    ep = p.fds.get(s32(epfd))
    maxevents = s32(maxevents)
    if maxevents <= 0 or maxevents > _EP_MAX_EVENTS:
        raise LinuxError(EINVAL)
    p.mm.views(events, maxevents * _EPOLL_EVENT.size, write=True)
    maxevents = min(maxevents, BIG_MAX // _EPOLL_EVENT.size)   # (fewer a call: as Linux may)
    p.scratch.reset()
    out = p.scratch.alloc(maxevents * _EPOLL_EVENT.size)
    timeout = s32(timeout) if s32(timeout) >= 0 else -1
    n = blocking.timed(p, [(ep.hfd, 0x1)], timeout,
                       lambda ms: p.io.call(NR["epoll_wait"], ep.hfd, out, maxevents, ms))
    if n:
        p.mm.write(events, p.scratch.get(out, n * _EPOLL_EVENT.size))
    return n


def epoll_pwait(p, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    return with_mask(p, sigmask, sigsetsize,
                     lambda: epoll_wait(p, epfd, events, maxevents, timeout))


def epoll_pwait2(p, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """epoll_pwait with a timespec (NULL: no limit), in ms rounded up."""
    ms = _timeout_ms(p, timeout, 1)
    return with_mask(p, sigmask, sigsetsize,
                     lambda: epoll_wait(p, epfd, events, maxevents, min(ms, 0x7FFFFFFF)))
