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
from .fs_open import install_handle
from .kernel_signal import with_mask
from .util import s32

POLLNVAL = 0x20
_POLLFD = struct.Struct("<ihh")
FD_SETSIZE = 1024
_EPOLL_EVENT = struct.Struct("<IQ")          # packed on x86-64: 12 bytes
EPOLL_CLOEXEC = 0o2000000


def _poll(p, fds, nfds, call):
    if nfds > 4096:
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
    """Guest fd_sets -> host fd_sets in scratch; returns (host nfds, scratch
    addresses, per set the (guest fd, handle) pairs asked for)."""
    if nfds < 0 or nfds > FD_SETSIZE:
        raise LinuxError(EINVAL)
    nbytes = (nfds + 63) // 64 * 8
    host_max, out, asked = 0, [], []
    for ptr in ptrs:
        if not ptr:
            out.append(0)
            asked.append([])
            continue
        bits = int.from_bytes(p.mm.read(ptr, nbytes), "little") if nbytes else 0
        pairs, hbits = [], 0
        fd = 0
        while bits:
            if bits & 1:
                f = p.fds.files.get(fd)
                if f is None:
                    raise LinuxError(EBADF)
                if f.hfd >= FD_SETSIZE:
                    raise LinuxError(EINVAL)
                pairs.append((fd, f.hfd))
                hbits |= 1 << f.hfd
                host_max = max(host_max, f.hfd + 1)
            bits >>= 1
            fd += 1
        out.append(p.scratch.put(hbits.to_bytes(FD_SETSIZE // 8, "little")))
        asked.append(pairs)
    return host_max, out, asked, nbytes


def _sets_back(p, ptrs, out, asked, nbytes):
    for ptr, s, pairs in zip(ptrs, out, asked):
        if ptr:
            hbits = int.from_bytes(p.scratch.get(s, FD_SETSIZE // 8), "little")
            bits = 0
            for fd, h in pairs:
                if hbits >> h & 1:
                    bits |= 1 << fd
            p.mm.write(ptr, bits.to_bytes(nbytes, "little"))


_SELECT_EVENTS = (0x1 | 0x18, 0x4 | 0x18, 0x2)   # read, write, except -> poll events


def _select(p, nfds, ptrs, timeout_ms):
    """select's work: the sets in scratch, a timed wait, the sets back.
    The host is always called with a timeout of its own making (in us)."""
    host_max, out, asked, nbytes = _sets(p, s32(nfds), ptrs)
    saved = [p.scratch.get(s, FD_SETSIZE // 8) if s else b"" for s in out]
    tv = p.scratch.alloc(16)
    handles = [(h, ev) for pairs, ev in zip(asked, _SELECT_EVENTS) for _, h in pairs]

    def call(ms):
        for s, bits in zip(out, saved):          # a call that found nothing cleared them
            if s:
                p.scratch.phys.view[s:s + len(bits)] = bits
        if ms >= 0:
            p.scratch.phys.view[tv:tv + 16] = struct.pack("<qq", ms // 1000, ms % 1000 * 1000)
        return p.io.call(NR["select"], host_max, *out, tv if ms >= 0 else 0)
    n = blocking.timed(p, handles, timeout_ms, call)
    _sets_back(p, ptrs, out, asked, nbytes)
    return n


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
    if maxevents <= 0 or maxevents > 4096:
        raise LinuxError(EINVAL)
    p.mm.views(events, maxevents * _EPOLL_EVENT.size, write=True)
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
