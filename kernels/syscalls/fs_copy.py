"""Moving data between files without the guest's buffers, space, and syncing
(Linux fs/splice.c, fs/read_write.c copy_file_range, fs/open.c fallocate,
fs/sync.c, mm/readahead.c).

The host does the work on its own descriptors, through the FWK: splice and
tee between a pipe and another fd, copy_file_range between files,
fallocate, and the sync calls.  The offsets the guest passes by pointer
travel as two int64 in the scratch area and come back updated.  A pipe the
guest made is non-blocking on the host (kernels/blocking.py), so a splice
or tee that would block waits in the scheduler for the pipe instead, and
runs again — unless the guest asked SPLICE_F_NONBLOCK or made the fd
non-blocking, when it gets EAGAIN.  vmsplice is a write (or read) of the
guest's own memory into (or out of) the pipe.
"""
from __future__ import annotations

import struct

from .. import blocking
from ..abi import linux as L
from ..abi.linux_errno import EAGAIN, EBADF, EINVAL, ESPIPE
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..fwk.channel import KIND_FIFO
from .fs_read_write import readv, writev
from .util import s32, s64

SPLICE_F_NONBLOCK = 2
_OFFSETS = struct.Struct("<qq")


def _writable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_RDONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    return f


def _readable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_WRONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    return f


def _offsets(p, off_in, off_out) -> int:
    """The two offsets (-1: none given) in scratch; their address."""
    a = s64(p.mm.read_u64(off_in)) if off_in else -1
    b = s64(p.mm.read_u64(off_out)) if off_out else -1
    if (off_in and a < 0) or (off_out and b < 0):
        raise LinuxError(EINVAL)
    return p.scratch.put(_OFFSETS.pack(a, b))


def _offsets_back(p, at, off_in, off_out) -> None:
    a, b = _OFFSETS.unpack(p.scratch.get(at, 16))
    if off_in:
        p.mm.write(off_in, struct.pack("<q", a))
    if off_out:
        p.mm.write(off_out, struct.pack("<q", b))


def _waiting(p, fin, fout, flags, call):
    """`call()` on the host; EAGAIN from a guest pipe, for a caller that
    blocks, is a wait for the pipe and a restart."""
    try:
        return call()
    except LinuxError as e:
        nonblock = flags & SPLICE_F_NONBLOCK or (fin.flags | fout.flags) & L.O_NONBLOCK
        if e.errno != EAGAIN or nonblock:
            raise
        waits = [(f.hfd, ev) for f, ev in ((fin, blocking.POLLIN), (fout, blocking.POLLOUT))
                 if f.hostnb and not blocking.ready(p, f.hfd, ev)]
        if not waits:
            raise
        p.kernel.sched.wait(p, io=waits)


def splice(p, fd_in, off_in, fd_out, off_out, length, flags):
    fin, fout = _readable(p, fd_in), _writable(p, fd_out)
    flags &= 0xFFFFFFFF
    if flags & ~0xF or fin.model is not None or fout.model is not None:   # /proc files: no splice
        raise LinuxError(EINVAL)
    if (off_in and fin.kind == KIND_FIFO) or (off_out and fout.kind == KIND_FIFO):
        raise LinuxError(ESPIPE)
    if not length:
        return 0
    p.scratch.reset()
    at = _offsets(p, off_in, off_out)
    n = _waiting(p, fin, fout, flags,
                 lambda: p.io.call(NR["splice"], fin.hfd, fout.hfd, at, min(length, 0x7FFFF000), flags))
    _offsets_back(p, at, off_in, off_out)
    return n


def tee(p, fd_in, fd_out, length, flags):
    fin, fout = _readable(p, fd_in), _writable(p, fd_out)
    flags &= 0xFFFFFFFF
    if fin.kind != KIND_FIFO or fout.kind != KIND_FIFO or flags & ~0xF:
        raise LinuxError(EINVAL)
    if not length:
        return 0
    return _waiting(p, fin, fout, flags,
                    lambda: p.io.call(NR["tee"], fin.hfd, fout.hfd, min(length, 0x7FFFF000), flags))


def vmsplice(p, fd, iov, nr_segs, flags):
    f = p.fds.get(s32(fd))
    if f.kind != KIND_FIFO or flags & ~0xF:
        raise LinuxError(EBADF if f.kind != KIND_FIFO else EINVAL)
    if (f.flags & L.O_ACCMODE) == L.O_RDONLY:
        return readv(p, fd, iov, nr_segs)        # out of the pipe, into the guest's pages
    return writev(p, fd, iov, nr_segs)


def copy_file_range(p, fd_in, off_in, fd_out, off_out, length, flags):
    if flags:
        raise LinuxError(EINVAL)
    fin, fout = _readable(p, fd_in), _writable(p, fd_out)
    if fout.flags & L.O_APPEND or fin.model is not None or fout.model is not None:
        raise LinuxError(EBADF)
    if not length:
        return 0
    p.scratch.reset()
    at = _offsets(p, off_in, off_out)
    n = p.io.call(NR["copy_file_range"], fin.hfd, fout.hfd, at, min(length, 0x7FFFF000), 0)
    _offsets_back(p, at, off_in, off_out)
    return n


def fallocate(p, fd, mode, offset, length):
    f = _writable(p, fd)
    if s64(offset) < 0 or s64(length) <= 0:
        raise LinuxError(EINVAL)
    return p.io.call(NR["fallocate"], f.hfd, mode & 0xFFFFFFFF, offset, length)


def sync(p):
    return p.io.call(NR["sync"])


def syncfs(p, fd):
    return p.io.call(NR["syncfs"], p.fds.get(s32(fd)).hfd)


def sync_file_range(p, fd, offset, nbytes, flags):
    f = p.fds.get(s32(fd))
    if flags & ~7 or s64(offset) < 0 or s64(nbytes) < 0:
        raise LinuxError(EINVAL)
    return p.io.call(NR["sync_file_range"], f.hfd, offset, nbytes, flags)


def readahead(p, fd, offset, count):
    f = _readable(p, fd)
    return p.io.call(NR["readahead"], f.hfd, offset, count)
