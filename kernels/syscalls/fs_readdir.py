"""getdents64 (Linux fs/readdir.c).

The host directory is listed once, when the guest first reads it (and again
after a rewind); entries are then handed out in `linux_dirent64` records as
the guest's buffer allows, the position kept in the open file description."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOTDIR
from ..errors import LinuxError
from .util import s32


def getdents64(p, fd, dirp, count):
    f = p.fds.get(s32(fd))
    if not f.is_dir:
        raise LinuxError(ENOTDIR)
    if f.dirents is None:
        f.dirents = p.host.list_dir(f.hfd)
    out = bytearray()
    while f.dirpos < len(f.dirents):
        name, ino, dtype = f.dirents[f.dirpos]
        reclen = (L.DIRENT64.size + len(name) + 1 + 7) & ~7
        if len(out) + reclen > count:
            if not out:
                raise LinuxError(EINVAL)        # buffer too small for one entry
            break
        rec = L.DIRENT64.pack(ino, f.dirpos + 1, reclen, dtype) + name
        out += rec + b"\0" * (reclen - len(rec))
        f.dirpos += 1
    if out:
        p.mm.write(dirp, bytes(out))
    return len(out)
