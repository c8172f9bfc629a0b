"""read/write and friends (Linux fs/read_write.c): data moves straight
between the host fd and the guest's memory, with no intermediate copy."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EBADF, EINVAL, EISDIR, EPIPE, ESPIPE
from ..errors import LinuxError
from .kernel_signal import raise_signal
from .util import s32, s64


def _readable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_WRONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    if f.is_dir:
        raise LinuxError(EISDIR)
    return f


def _writable(p, fd):
    f = p.fds.get(s32(fd))
    if (f.flags & L.O_ACCMODE) == L.O_RDONLY or f.flags & L.O_PATH:
        raise LinuxError(EBADF)
    return f


def _iov(p, iov, iovcnt, write):
    iovcnt = s32(iovcnt)
    if iovcnt < 0 or iovcnt > L.IOV_MAX:
        raise LinuxError(EINVAL)
    raw = p.mm.read(iov, 16 * iovcnt)
    views = []
    for i in range(iovcnt):
        base, ln = L.IOVEC.unpack_from(raw, 16 * i)
        if ln:
            views += p.mm.views(base, ln, write=write)
    return views


def _on_epipe(p):
    raise_signal(p, L.SIGPIPE)
    raise LinuxError(EPIPE)


def read(p, fd, buf, count):
    f = _readable(p, fd)
    if not count:
        return 0
    return p.host.readv(f.hfd, p.mm.views(buf, min(count, 0x7FFFF000), write=True, partial=True))


def write(p, fd, buf, count):
    f = _writable(p, fd)
    if not count:
        return 0
    try:
        return p.host.writev(f.hfd, p.mm.views(buf, min(count, 0x7FFFF000)))
    except BrokenPipeError:
        _on_epipe(p)


def readv(p, fd, iov, iovcnt):
    f = _readable(p, fd)
    return p.host.readv(f.hfd, _iov(p, iov, iovcnt, True))


def writev(p, fd, iov, iovcnt):
    f = _writable(p, fd)
    try:
        return p.host.writev(f.hfd, _iov(p, iov, iovcnt, False))
    except BrokenPipeError:
        _on_epipe(p)


def pread64(p, fd, buf, count, offset):
    f = _readable(p, fd)
    if s64(offset) < 0:
        raise LinuxError(EINVAL)
    if not count:
        return 0
    return p.host.preadv(f.hfd, p.mm.views(buf, min(count, 0x7FFFF000), write=True, partial=True),
                         s64(offset))


def pwrite64(p, fd, buf, count, offset):
    f = _writable(p, fd)
    if s64(offset) < 0:
        raise LinuxError(EINVAL)
    if not count:
        return 0
    return p.host.pwritev(f.hfd, p.mm.views(buf, count), s64(offset))


def preadv(p, fd, iov, iovcnt, pos_l, pos_h):
    f = _readable(p, fd)
    return p.host.preadv(f.hfd, _iov(p, iov, iovcnt, True), s64(pos_l))


def pwritev(p, fd, iov, iovcnt, pos_l, pos_h):
    f = _writable(p, fd)
    return p.host.pwritev(f.hfd, _iov(p, iov, iovcnt, False), s64(pos_l))


def lseek(p, fd, offset, whence):
    f = p.fds.get(s32(fd))
    whence = s32(whence)
    if whence not in (L.SEEK_SET, L.SEEK_CUR, L.SEEK_END, L.SEEK_DATA, L.SEEK_HOLE):
        raise LinuxError(EINVAL)
    if f.is_dir:
        if whence == L.SEEK_SET and s64(offset) >= 0:     # rewinddir / seekdir
            f.dirpos = s64(offset)
            if offset == 0:
                f.dirents = None
            return offset
        if whence == L.SEEK_CUR and offset == 0:          # telldir
            return f.dirpos
        raise LinuxError(EINVAL)
    try:
        return p.host.lseek(f.hfd, s64(offset), whence)
    except OSError as e:
        if e.errno == ESPIPE:
            raise LinuxError(ESPIPE)
        raise


def sendfile(p, out_fd, in_fd, offset_ptr, count):
    """Copy between two files; the input offset moves by what was written."""
    fin, fout = _readable(p, in_fd), _writable(p, out_fd)
    count = min(count, 1 << 20)
    if offset_ptr:
        off = s64(p.mm.read_u64(offset_ptr))
        if off < 0:
            raise LinuxError(EINVAL)
    else:
        try:
            off = p.host.lseek(fin.hfd, 0, L.SEEK_CUR)
        except OSError:
            off = None                                 # a pipe: plain reads
    data = bytearray(count)
    n = p.host.preadv(fin.hfd, [data], off) if off is not None else p.host.readv(fin.hfd, [data])
    if not n:
        return 0
    try:
        done = p.host.writev(fout.hfd, [memoryview(data)[:n]])
    except BrokenPipeError:
        _on_epipe(p)
    if offset_ptr:
        p.mm.write_u64(offset_ptr, off + done)
    elif off is not None:
        p.host.lseek(fin.hfd, off + done, L.SEEK_SET)
    return done


def fadvise64(p, fd, offset, length, advice):
    """posix_fadvise (Linux mm/fadvise.c): advice only; checked, then ignored."""
    p.fds.get(s32(fd))
    if s32(advice) not in range(6):
        raise LinuxError(EINVAL)
    return 0
