"""getdents64 (Linux fs/readdir.c).  The host side lists the directory once
per open file description (again after a rewind) and hands out
`linux_dirent64` records straight into the guest's buffer."""
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
