"""stat, fstat, lstat, newfstatat, statx, readlink (Linux fs/stat.c)."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOENT
from ..errors import LinuxError
from .util import at_dir, pack_stat, pack_statx, path_arg, s32


def _stat_at(p, dirfd, pathname, flags):
    flags = s32(flags)
    path = path_arg(p, pathname, empty_ok=True)
    if not path:
        if not flags & L.AT_EMPTY_PATH:
            raise LinuxError(ENOENT)
        if s32(dirfd) == L.AT_FDCWD:
            return p.host.stat(p.cwd, True)
        return p.host.fstat(p.fds.get(s32(dirfd)).hfd)
    hdir, hpath = at_dir(p, dirfd, path)
    return p.host.stat(hpath, not flags & L.AT_SYMLINK_NOFOLLOW, hdir)


def newfstatat(p, dirfd, pathname, statbuf, flags):
    s = _stat_at(p, dirfd, pathname, flags)
    p.mm.write(statbuf, pack_stat(s))
    return 0


def stat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, 0)


def lstat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, L.AT_SYMLINK_NOFOLLOW)


def fstat(p, fd, statbuf):
    s = p.host.fstat(p.fds.get(s32(fd)).hfd)
    p.mm.write(statbuf, pack_stat(s))
    return 0


def statx(p, dirfd, pathname, flags, mask, statxbuf):
    s = _stat_at(p, dirfd, pathname, flags)
    p.mm.write(statxbuf, pack_statx(s))
    return 0


def readlinkat(p, dirfd, pathname, buf, bufsiz):
    if s32(bufsiz) <= 0:
        raise LinuxError(EINVAL)
    hdir, hpath = at_dir(p, dirfd, path_arg(p, pathname))
    if hdir is None and hpath == b"/proc/self/exe":
        target = p.exe
    else:
        target = p.host.readlink(hpath, hdir)
    out = target[:bufsiz]
    p.mm.write(buf, out)
    return len(out)


def readlink(p, pathname, buf, bufsiz):
    return readlinkat(p, L.AT_FDCWD, pathname, buf, bufsiz)


def statfs(p, pathname, buf):
    """statfs (Linux fs/statfs.c): the host file system's figures."""
    hdir, hpath = at_dir(p, L.AT_FDCWD, path_arg(p, pathname))
    p.mm.write(buf, p.host.statfs(hpath))
    return 0


def fstatfs(p, fd, buf):
    p.mm.write(buf, p.host.fstatfs(p.fds.get(s32(fd)).hfd))
    return 0
