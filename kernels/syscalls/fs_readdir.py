"""getdents64 and the old getdents (Linux fs/readdir.c).  The host side
lists the directory once per open file description (again after a rewind)
and hands out `linux_dirent64` records straight into the guest's buffer;
getdents's `linux_dirent` records are the same size on x86-64 (d_type
moves from before the name to the record's last byte), so they are
rewritten in place."""
from __future__ import annotations

from ..abi.linux_errno import ENOTDIR
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .util import s32


def getdents64(p, fd, dirp, count):
    f = p.fds.get(s32(fd))
    if not f.is_dir:
        raise LinuxError(ENOTDIR)
    count = min(count, 1 << 20)
    ext = p.mm.extents(dirp, count, write=True)
    p.scratch.reset()
    if len(ext) == 1:                        # contiguous: written in place
        return p.io.call(NR["getdents64"], f.hfd, ext[0][0], count)
    out = p.scratch.alloc(count)
    n = p.io.call(NR["getdents64"], f.hfd, out, count)
    p.mm.write(dirp, p.scratch.get(out, n))
    return n


def getdents(p, fd, dirp, count):
    n = getdents64(p, fd, dirp, count)
    raw = bytearray(p.mm.read(dirp, n)) if n else bytearray()
    at = 0
    while at < n:
        reclen, dtype = raw[at + 16] | raw[at + 17] << 8, raw[at + 18]
        name = bytes(raw[at + 19:at + reclen]).split(b"\0", 1)[0]
        rec = raw[at:at + 18] + name + b"\0"
        rec += bytes(reclen - 1 - len(rec)) + bytes([dtype])
        raw[at:at + reclen] = rec
        at += reclen
    if n:
        p.mm.write(dirp, bytes(raw))
    return n
