"""read/write and friends (Linux fs/read_write.c).  Data moves between the
host file and guest memory with no copy: the host side is handed the
guest-physical extents of the buffer (an iovec list built in scratch).
While a file is mapped MAP_SHARED, each transfer goes through
kernels/pagecache.py so that it and the mappings see the same bytes."""
from __future__ import annotations

import struct

from .. import blocking, pagecache, tty
from ..abi import linux as L
from ..procfs import MEM
from ..abi.linux_errno import EBADF, EINVAL, EISDIR, EOPNOTSUPP, EPIPE
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import GuestExit, LinuxError
from ..fwk.channel import FWK_READ, FWK_WRITE, KIND_CHAR, KIND_FILE, KIND_PIDFD, KIND_SOCKET
from ..siginfo import SI_USER
from .kernel_signal import raise_signal
from .util import s32, s64

_READV, _WRITEV, _PREADV, _PWRITEV = NR["readv"], NR["writev"], NR["preadv"], NR["pwritev"]
MAX_RW = 0x7FFFF000                      # Linux's MAX_RW_COUNT


def _readable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_WRONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    if f.is_dir:
        raise LinuxError(EISDIR)
    if f.kind == KIND_PIDFD:
        raise LinuxError(EINVAL)
    return f


KIND_SIGNALFD = 7                        # kernels/syscalls/kernel_sigwait.py


def _writable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_RDONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    if f.kind in (KIND_PIDFD, KIND_SIGNALFD):
        raise LinuxError(EINVAL)
    return f


def _guest_iov(p, iov, iovcnt, write):
    """The extents of every buffer of a guest iovec array, as an iovec list
    in scratch: (its address, its count), and the bytes they hold."""
    iovcnt = s32(iovcnt)
    if iovcnt < 0 or iovcnt > L.IOV_MAX:
        raise LinuxError(EINVAL)
    raw = p.mm.read(iov, 16 * iovcnt)
    extents = []
    for i in range(iovcnt):
        base, ln = L.IOVEC.unpack_from(raw, 16 * i)
        if ln:
            extents += p.mm.extents(base, ln, write)
    return p.scratch.iov(extents), sum(n for _, n in extents)


def _write(p, function, *params):
    try:
        return p.io.call(function, *params)
    except LinuxError as e:
        if e.errno == EPIPE:
            try:
                raise_signal(p, L.SIGPIPE, SI_USER)  # Linux: sent by the writer itself
            except GuestExit as end:
                end.result = -EPIPE                  # the write failed, then the signal killed
                raise
        raise


_MSGHDR = struct.Struct("<QI4xQQQQi4x")


def _send(p, f, buf, count):
    """write(2) on a socket: a send with no flags (kernels/blocking.py send:
    a full socket waits in the scheduler, not in the FWK)."""
    mark = p.scratch.used

    def call(offset, flags):
        p.scratch.used = mark
        iov, n = p.scratch.iov(p.mm.extents(buf + offset, min(CHUNK, count - offset)))
        return _write(p, NR["sendmsg"], f.hfd, p.scratch.put(_MSGHDR.pack(0, 0, iov, n, 0, 0, 0)),
                      flags)
    return blocking.send(p, f, count, 0, call)


def _mem(p, f, buf, count, offset, write):
    """/proc/PID/mem (kernels/procfs_files.py): the process's memory at the
    file offset, through its page table."""
    from ..procfs_files import mem_access
    at = f.pos if offset is None else offset
    count = min(count, MAX_RW)
    if write:
        n = mem_access(p, f, at, count, p.mm.read(buf, count))
    else:
        data = mem_access(p, f, at, count)
        p.mm.write(buf, data)
        n = len(data)
    if offset is None:
        f.pos = at + n
    return n


CHUNK = 2 << 20          # bytes one host call moves: its iovec (a page each) under IOV_MAX


def _transfer(p, direct, vectored, hfd, extents, how=None):
    """The host call that moves a read's or write's bytes: one or two
    extents go in the packet itself, more as an iovec in the scratch area."""
    how = how or (lambda p, *a: p.io.call(*a))
    if len(extents) == 1:
        (o, n), = extents
        return lambda: how(p, direct, hfd, o, n, 0, 0)
    if len(extents) == 2:
        (o1, n1), (o2, n2) = extents
        return lambda: how(p, direct, hfd, o1, n1, o2, n2)
    iov, n = p.scratch.iov(extents)
    return lambda: how(p, vectored, hfd, iov, n)


def _in_chunks(buf, count, one):
    """A read or write of a regular file larger than CHUNK, as several host
    calls (`one(buf, count)` each): all of it, as Linux, unless one falls short."""
    done = 0
    while done < count:
        want = min(CHUNK, count - done)
        n = one(buf + done, want)
        done += n
        if n < want:
            break
    return done


def read(p, fd, buf, count):
    f = _readable(p, fd)
    if f.kind == KIND_FILE and f.model is None and 0 < count <= CHUNK and not f.hostnb \
            and _uncached(p, f):
        # The common case, a file's bytes into a buffer of one or two
        # extents, in one host call (what the general path below comes to).
        spans = p.mm.extents(buf, count, True, True)
        if len(spans) <= 2:
            (o1, n1), (o2, n2) = spans[0], spans[1] if len(spans) == 2 else (0, 0)
            return p.io.call(FWK_READ, f.hfd, o1, n1, o2, n2, 0)
    if count > CHUNK and f.kind == KIND_FILE and f.model is None:
        return _in_chunks(buf, min(count, MAX_RW), lambda b, n: read(p, fd, b, n))
    count = min(count, CHUNK)
    if f.model is not None and f.model.kind == MEM:
        return _mem(p, f, buf, count, None, False)
    if f.kind == KIND_SIGNALFD:
        from .kernel_sigwait import read as read_signals
        return read_signals(p, f, buf, count)
    if f.kind == KIND_CHAR:
        tty.check(p, f, L.SIGTTIN)               # a background process reading its terminal
    if not count:
        return 0
    p.scratch.reset()
    call = _transfer(p, FWK_READ, _READV, f.hfd,
                     p.mm.extents(buf, min(count, MAX_RW), write=True, partial=True))
    if f.kind in blocking.STREAMS or f.hostnb:
        return blocking.read(p, f, call)
    if p.kernel.page_cache:
        return pagecache.transfer(p, f, call, count, None, False)
    return call()


def _uncached(p, f) -> bool:
    """No mapping of the file has pages in the page cache (known without a
    host call), so a read need not be kept coherent with one."""
    caches = p.kernel.page_cache
    return f.ident not in caches if f.ident is not None else not caches


def write(p, fd, buf, count):
    f = _writable(p, fd)
    if count > CHUNK and f.kind in (KIND_FILE, KIND_SOCKET) and f.model is None:
        if f.kind == KIND_SOCKET and not f.hostnb:
            p.scratch.reset()
            return _send(p, f, buf, min(count, MAX_RW))
        return _in_chunks(buf, min(count, MAX_RW), lambda b, n: write(p, fd, b, n))
    count = min(count, CHUNK)
    if f.model is not None and f.model.kind == MEM:
        return _mem(p, f, buf, count, None, True)
    if f.kind == KIND_CHAR:
        tty.before_write(p, f)                   # with TOSTOP, from the background
    if not count:
        return 0
    p.scratch.reset()
    if f.kind == KIND_SOCKET and not f.hostnb:
        return _send(p, f, buf, min(count, MAX_RW))
    send = _transfer(p, FWK_WRITE, _WRITEV, f.hfd, p.mm.extents(buf, min(count, MAX_RW)), _write)
    if f.hostnb:
        return blocking.write(p, f, send)
    if p.kernel.page_cache:
        return pagecache.transfer(p, f, send, count, None, True)
    return send()


def _vector(p, f, call, total, offset, write):
    """A readv/writev family call, through the page cache when one is in use."""
    if f.kind in blocking.STREAMS or f.hostnb:
        return blocking.write(p, f, call) if write else blocking.read(p, f, call)
    if not p.kernel.page_cache:
        return call()
    return pagecache.transfer(p, f, call, total, offset, write)


def readv(p, fd, iov, iovcnt):
    f = _readable(p, fd)
    if f.kind == KIND_CHAR:
        tty.check(p, f, L.SIGTTIN)
    p.scratch.reset()
    v, total = _guest_iov(p, iov, iovcnt, True)
    return _vector(p, f, lambda: p.io.call(_READV, f.hfd, *v), total, None, False)


def writev(p, fd, iov, iovcnt):
    f = _writable(p, fd)
    if f.kind == KIND_CHAR:
        tty.before_write(p, f)
    p.scratch.reset()
    v, total = _guest_iov(p, iov, iovcnt, False)
    return _vector(p, f, lambda: _write(p, _WRITEV, f.hfd, *v), total, None, True)


def pread64(p, fd, buf, count, offset):
    f = _readable(p, fd)
    if f.model is not None and f.model.kind == MEM:
        return _mem(p, f, buf, count, offset & 0xFFFFFFFFFFFFFFFF, False)
    if s64(offset) < 0:
        raise LinuxError(EINVAL)
    if not count:
        return 0
    if count > CHUNK:
        return _in_chunks(buf, min(count, MAX_RW),
                          lambda b, n: pread64(p, fd, b, n, offset + (b - buf)))
    p.scratch.reset()
    iov, n = p.scratch.iov(p.mm.extents(buf, count, write=True, partial=True))
    if p.kernel.page_cache:
        return pagecache.transfer(p, f, lambda: p.io.call(_PREADV, f.hfd, iov, n, s64(offset)),
                                  count, s64(offset), False)
    return p.io.call(_PREADV, f.hfd, iov, n, s64(offset))


def pwrite64(p, fd, buf, count, offset):
    f = _writable(p, fd)
    if f.model is not None and f.model.kind == MEM:
        return _mem(p, f, buf, count, offset & 0xFFFFFFFFFFFFFFFF, True)
    if s64(offset) < 0:
        raise LinuxError(EINVAL)
    if not count:
        return 0
    if count > CHUNK:
        return _in_chunks(buf, min(count, MAX_RW),
                          lambda b, n: pwrite64(p, fd, b, n, offset + (b - buf)))
    p.scratch.reset()
    iov, n = p.scratch.iov(p.mm.extents(buf, count))
    if p.kernel.page_cache:
        return pagecache.transfer(p, f, lambda: _write(p, _PWRITEV, f.hfd, iov, n, s64(offset)),
                                  count, s64(offset), True)
    return _write(p, _PWRITEV, f.hfd, iov, n, s64(offset))


def preadv(p, fd, iov, iovcnt, pos_l, pos_h):
    f = _readable(p, fd)
    p.scratch.reset()
    v, total = _guest_iov(p, iov, iovcnt, True)
    return _vector(p, f, lambda: p.io.call(_PREADV, f.hfd, *v, s64(pos_l)), total, s64(pos_l), False)


def pwritev(p, fd, iov, iovcnt, pos_l, pos_h):
    f = _writable(p, fd)
    p.scratch.reset()
    v, total = _guest_iov(p, iov, iovcnt, False)
    return _vector(p, f, lambda: _write(p, _PWRITEV, f.hfd, *v, s64(pos_l)), total, s64(pos_l), True)


RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND = 1, 2, 4, 8, 16


def preadv2(p, fd, iov, iovcnt, pos_l, pos_h, flags):
    """preadv, or readv at offset -1; RWF_HIPRI is a hint, RWF_NOWAIT is
    not offered (EOPNOTSUPP, as on a file system without it)."""
    return _v2(p, fd, iov, iovcnt, pos_l, flags, readv, preadv)


def pwritev2(p, fd, iov, iovcnt, pos_l, pos_h, flags):
    """pwritev, or writev at offset -1; RWF_DSYNC/RWF_SYNC sync after, as
    O_DSYNC/O_SYNC would; RWF_APPEND writes at the end."""
    return _v2(p, fd, iov, iovcnt, pos_l, flags, writev, pwritev)


def _v2(p, fd, iov, iovcnt, pos, flags, current, positioned):
    flags &= 0xFFFFFFFF
    if flags & ~(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND):
        raise LinuxError(EOPNOTSUPP)
    if flags & RWF_NOWAIT:
        raise LinuxError(EOPNOTSUPP)
    write = current is writev
    if flags & RWF_APPEND and write:
        f = _writable(p, fd)
        end = p.io.call(NR["lseek"], f.hfd, 0, L.SEEK_END)
        n = pwritev(p, fd, iov, iovcnt, end, 0)
    elif s64(pos) == -1:
        n = current(p, fd, iov, iovcnt)
    elif s64(pos) < 0:
        raise LinuxError(EINVAL)
    else:
        n = positioned(p, fd, iov, iovcnt, pos, 0)
    if write and flags & (RWF_DSYNC | RWF_SYNC):
        p.io.call(NR["fsync" if flags & RWF_SYNC else "fdatasync"], p.fds.get(s32(fd)).hfd)
    return n


def lseek(p, fd, offset, whence):
    f = p.fds.get(s32(fd))
    if s32(whence) not in (L.SEEK_SET, L.SEEK_CUR, L.SEEK_END, L.SEEK_DATA, L.SEEK_HOLE):
        raise LinuxError(EINVAL)
    if f.model is not None and f.model.kind == MEM:
        pos = {L.SEEK_SET: 0, L.SEEK_CUR: f.pos}.get(s32(whence))
        if pos is None:
            raise LinuxError(EINVAL)
        f.pos = (pos + offset) & 0xFFFFFFFFFFFFFFFF     # an address: any 64-bit value
        return f.pos
    return p.io.call(NR["lseek"], f.hfd, offset, whence)


def sendfile(p, out_fd, in_fd, offset_ptr, count):
    """Copy between two files on the host side; the offset, when given, is
    read from and written back to guest memory here."""
    fin, fout = _readable(p, in_fd), _writable(p, out_fd)
    if fin.model is not None and fin.model.kind == MEM or fout.model is not None:
        raise LinuxError(EINVAL)                 # /proc/PID/mem has no splice_read (Linux)
    count = min(count, MAX_RW)
    if fout.kind == KIND_SOCKET and not fout.flags & L.O_NONBLOCK and not fout.hostnb \
            and not p.kernel.sched.undisturbed():
        return _sendfile_to_socket(p, fout, fin, offset_ptr, count)
    if offset_ptr:
        off = s64(p.mm.read_u64(offset_ptr))
        if off < 0:
            raise LinuxError(EINVAL)
        n = _write(p, NR["sendfile"], fout.hfd, fin.hfd, 1, off, count)
        p.mm.write_u64(offset_ptr, off + n)
        return n
    return _write(p, NR["sendfile"], fout.hfd, fin.hfd, 0, 0, count)


def _sendfile_to_socket(p, fout, fin, offset_ptr, count):
    """sendfile into a blocking socket while other tasks may run or a signal
    come: the file's bytes through a buffer and a send that waits in the
    scheduler for room (blocking.send; the host's sendfile would wait in the
    FWK, where the reader — maybe another guest thread — could never run).
    The file's offset moves by what was sent, as Linux's."""
    if offset_ptr:
        start = s64(p.mm.read_u64(offset_ptr))
        if start < 0:
            raise LinuxError(EINVAL)
    else:
        start = p.io.call(NR["lseek"], fin.hfd, 0, L.SEEK_CUR)
    p.scratch.reset()
    mark = p.scratch.used

    def call(done, flags):
        p.scratch.used = mark
        want = min(CHUNK, count - done)
        buf = p.scratch.alloc(want)
        iov, n = p.scratch.iov([(buf, want)])
        got = p.io.call(NR["preadv"], fin.hfd, iov, n, start + done)
        if not got:
            return 0                             # end of the file
        iov, n = p.scratch.iov([(buf, got)])
        return _write(p, NR["sendmsg"], fout.hfd, p.scratch.put(_MSGHDR.pack(0, 0, iov, n, 0, 0, 0)),
                      flags)
    sent = blocking.send(p, fout, count, 0, call)
    if offset_ptr:
        p.mm.write_u64(offset_ptr, start + sent)
    else:
        p.io.call(NR["lseek"], fin.hfd, start + sent, L.SEEK_SET)
    return sent


def fadvise64(p, fd, offset, length, advice):
    """posix_fadvise (Linux mm/fadvise.c): advice only; checked, then ignored."""
    p.fds.get(s32(fd))
    if s32(advice) not in range(6):
        raise LinuxError(EINVAL)
    return 0
