"""open/close, access, chdir, chmod, truncate (Linux fs/open.c)."""
from __future__ import annotations

import os
import stat as st

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOTDIR
from ..errors import LinuxError
from ..process import OpenFile
from .util import at_dir, host_open_flags, path_arg, resolve, s32, s64


def openat(p, dirfd, pathname, flags, mode):
    flags = flags & 0xFFFFFFFF
    path = path_arg(p, pathname)
    hdir, hpath = at_dir(p, dirfd, path)
    if flags & L.O_CREAT or flags & L.O_TMPFILE == L.O_TMPFILE:
        mode = mode & 0o7777 & ~p.umask
    else:
        mode = 0
    fd = p.fds.lowest_free()                 # EMFILE before anything is created
    hfd = p.host.open(hpath, host_open_flags(flags), mode, hdir)
    try:
        is_dir = st.S_ISDIR(p.host.fstat(hfd).st_mode)
        full = hpath if hdir is None else os.path.join(p.host.realpath_of_fd(hdir), hpath)
    except OSError:
        p.host.close(hfd)
        raise
    kept = flags & ~(L.O_CLOEXEC | L.O_CREAT | L.O_EXCL | L.O_NOCTTY | L.O_TRUNC)
    return p.fds.install(OpenFile(hfd, kept, full, is_dir), at=fd,
                         cloexec=bool(flags & L.O_CLOEXEC))


def open(p, pathname, flags, mode):
    return openat(p, L.AT_FDCWD, pathname, flags, mode)


def creat(p, pathname, mode):
    return openat(p, L.AT_FDCWD, pathname, L.O_CREAT | L.O_WRONLY | L.O_TRUNC, mode)


def close(p, fd):
    p.fds.close(s32(fd))
    return 0


def faccessat2(p, dirfd, pathname, mode, flags):
    mode, flags = s32(mode), s32(flags)
    if mode & ~7 or flags & ~(L.AT_EACCESS | L.AT_SYMLINK_NOFOLLOW | L.AT_EMPTY_PATH):
        raise LinuxError(EINVAL)
    hdir, hpath = resolve(p, dirfd, pathname, empty_ok=bool(flags & L.AT_EMPTY_PATH))
    if not hpath and hdir is not None:        # AT_EMPTY_PATH: the dirfd itself
        hpath = p.host.realpath_of_fd(hdir)
        hdir = None
    follow = not flags & L.AT_SYMLINK_NOFOLLOW
    p.host.stat(hpath, follow, hdir)              # ENOENT/ENOTDIR/ELOOP as the host says
    if not p.host.access(hpath, mode, hdir, bool(flags & L.AT_EACCESS), follow):
        raise LinuxError(13)                      # EACCES
    return 0


def faccessat(p, dirfd, pathname, mode):
    return faccessat2(p, dirfd, pathname, mode, 0)


def access(p, pathname, mode):
    return faccessat2(p, L.AT_FDCWD, pathname, mode, 0)


def chdir(p, pathname):
    hdir, hpath = resolve(p, L.AT_FDCWD, pathname)
    s = p.host.stat(hpath, True, hdir)
    if not st.S_ISDIR(s.st_mode):
        raise LinuxError(ENOTDIR)
    if not p.host.access(hpath, os.X_OK, hdir):
        raise LinuxError(13)
    p.cwd = p.host.realpath(hpath, hdir)     # symlinks resolved, as the kernel's cwd is
    return 0


def fchdir(p, fd):
    f = p.fds.get(s32(fd))
    if not f.is_dir:
        raise LinuxError(ENOTDIR)
    p.cwd = p.host.realpath_of_fd(f.hfd)
    return 0


def fchmodat(p, dirfd, pathname, mode):
    hdir, hpath = resolve(p, dirfd, pathname)
    p.host.chmod(hpath, mode & 0o7777, hdir)
    return 0


def chmod(p, pathname, mode):
    return fchmodat(p, L.AT_FDCWD, pathname, mode)


def fchmod(p, fd, mode):
    p.host.fchmod(p.fds.get(s32(fd)).hfd, mode & 0o7777)
    return 0


def ftruncate(p, fd, length):
    if s64(length) < 0:
        raise LinuxError(EINVAL)
    p.host.ftruncate(p.fds.get(s32(fd)).hfd, s64(length))
    return 0


def truncate(p, pathname, length):
    if s64(length) < 0:
        raise LinuxError(EINVAL)
    hdir, hpath = resolve(p, L.AT_FDCWD, pathname)
    p.host.truncate(hpath, s64(length))
    return 0


def fsync(p, fd):
    p.host.fsync(p.fds.get(s32(fd)).hfd)
    return 0


def fdatasync(p, fd):
    return fsync(p, fd)


def utimensat(p, dirfd, pathname, times, flags):
    if pathname:
        hdir, hpath = resolve(p, dirfd, pathname)
    else:
        hdir, hpath = None, p.fds.get(s32(dirfd)).hfd
    ns = None
    if times:
        raw = p.mm.read(times, 32)
        a = L.TIMESPEC.unpack_from(raw, 0)
        m = L.TIMESPEC.unpack_from(raw, 16)
        now = None
        vals = []
        for sec, nsec in (a, m):
            if nsec == (1 << 30) - 1:            # UTIME_NOW
                import time
                now = now or time.time_ns()
                vals.append(now)
            elif nsec == (1 << 30) - 2:          # UTIME_OMIT: keep the current value
                s = p.host.stat(hpath, True, hdir) if isinstance(hpath, bytes) else p.host.fstat(hpath)
                vals.append(s.st_atime_ns if len(vals) == 0 else s.st_mtime_ns)
            elif 0 <= nsec < 10**9:
                vals.append(sec * 10**9 + nsec)
            else:
                raise LinuxError(EINVAL)
        ns = tuple(vals)
    follow = not (s32(flags) & L.AT_SYMLINK_NOFOLLOW)
    p.host.utime(hpath, ns, hdir, follow)
    return 0
