"""Ownership, nodes and old time setters (Linux fs/open.c chown, fs/namei.c
mknod, fs/utimes.c).

chown and its kin are served by the FWK inside the sandbox, as the host
user azemu runs as: changing a file's group to one of the user's groups,
or to what it already is, works; giving it away takes the host's privilege
(EPERM otherwise), as for an unprivileged user natively.  mknod makes
regular files and FIFOs; a device or socket node takes privilege a guest
does not have (EPERM).  utime, utimes and futimesat are utimensat with
microseconds."""
from __future__ import annotations

import stat
import struct

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, EPERM
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .fs_open import set_times
from .util import gpath, hdir, s32

AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH = 0x100, 0x1000


def fchownat(p, dirfd, pathname, owner, group, flags):
    flags = s32(flags)
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    path = gpath(p, pathname, empty_ok=bool(flags & AT_EMPTY_PATH))
    return p.io.call(NR["fchownat"], hdir(p, dirfd), path, owner & 0xFFFFFFFF,
                     group & 0xFFFFFFFF, flags)


def chown(p, pathname, owner, group):
    return fchownat(p, L.AT_FDCWD, pathname, owner, group, 0)


def lchown(p, pathname, owner, group):
    return fchownat(p, L.AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


def fchown(p, fd, owner, group):
    f = p.fds.get(s32(fd))
    return p.io.call(NR["fchown"], f.hfd, owner & 0xFFFFFFFF, group & 0xFFFFFFFF)


def mknodat(p, dirfd, pathname, mode, dev):
    mode &= 0xFFFFFFFF
    kind = stat.S_IFMT(mode) or stat.S_IFREG
    if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK):
        raise LinuxError(EPERM)                  # CAP_MKNOD (a socket: bind makes it)
    if kind not in (stat.S_IFREG, stat.S_IFIFO):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    mode = kind | (mode & 0o7777 & ~p.umask)
    return p.io.call(NR["mknodat"], hdir(p, dirfd), gpath(p, pathname), mode, 0)


def mknod(p, pathname, mode, dev):
    return mknodat(p, L.AT_FDCWD, pathname, mode, dev)


# ---- utime, utimes, futimesat: utimensat with microseconds ------------------------------
_TIMEVALS = struct.Struct("<qqqq")


def futimesat(p, dirfd, pathname, times):
    return _utimes(p, dirfd, pathname, times, utimbuf=False)


def utimes(p, pathname, times):
    return _utimes(p, L.AT_FDCWD, pathname, times, utimbuf=False)


def utime(p, pathname, times):
    return _utimes(p, L.AT_FDCWD, pathname, times, utimbuf=True)


def _utimes(p, dirfd, pathname, times, utimbuf: bool) -> int:
    if not times:
        return set_times(p, dirfd, pathname, None, 0)
    if utimbuf:                                  # struct utimbuf: two time_t, seconds
        atime, mtime = struct.unpack("<qq", p.mm.read(times, 16))
        specs = (atime, 0, mtime, 0)
    else:                                        # two struct timeval
        a_s, a_us, m_s, m_us = _TIMEVALS.unpack(p.mm.read(times, 32))
        if not (0 <= a_us < 10**6 and 0 <= m_us < 10**6):
            raise LinuxError(EINVAL)
        specs = (a_s, a_us * 1000, m_s, m_us * 1000)
    return set_times(p, dirfd, pathname, struct.pack("<qqqq", *specs), 0)
