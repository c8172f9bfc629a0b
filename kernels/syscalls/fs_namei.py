"""Creating, removing and renaming names: mkdir, unlink, rename, link,
symlink (Linux fs/namei.c)."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EINVAL
from ..errors import LinuxError
from .util import at_dir, path_arg, resolve, s32


def mkdirat(p, dirfd, pathname, mode):
    hdir, hpath = resolve(p, dirfd, pathname)
    p.host.mkdir(hpath, mode & 0o7777 & ~p.umask, hdir)
    return 0


def mkdir(p, pathname, mode):
    return mkdirat(p, L.AT_FDCWD, pathname, mode)


def unlinkat(p, dirfd, pathname, flags):
    flags = s32(flags)
    if flags & ~L.AT_REMOVEDIR:
        raise LinuxError(EINVAL)
    hdir, hpath = resolve(p, dirfd, pathname)
    if flags & L.AT_REMOVEDIR:
        p.host.rmdir(hpath, hdir)
    else:
        p.host.unlink(hpath, hdir)
    return 0


def unlink(p, pathname):
    return unlinkat(p, L.AT_FDCWD, pathname, 0)


def rmdir(p, pathname):
    return unlinkat(p, L.AT_FDCWD, pathname, L.AT_REMOVEDIR)


def renameat2(p, olddirfd, oldpath, newdirfd, newpath, flags):
    if s32(flags):
        raise LinuxError(EINVAL)          # RENAME_NOREPLACE/EXCHANGE: not offered
    od, op = resolve(p, olddirfd, oldpath)
    nd, np_ = resolve(p, newdirfd, newpath)
    p.host.rename(op, np_, od, nd)
    return 0


def renameat(p, olddirfd, oldpath, newdirfd, newpath):
    return renameat2(p, olddirfd, oldpath, newdirfd, newpath, 0)


def rename(p, oldpath, newpath):
    return renameat2(p, L.AT_FDCWD, oldpath, L.AT_FDCWD, newpath, 0)


def linkat(p, olddirfd, oldpath, newdirfd, newpath, flags):
    if s32(flags) & ~(L.AT_SYMLINK_FOLLOW | L.AT_EMPTY_PATH):
        raise LinuxError(EINVAL)
    od, op = resolve(p, olddirfd, oldpath)
    nd, np_ = resolve(p, newdirfd, newpath)
    p.host.link(op, np_, od, nd, bool(s32(flags) & L.AT_SYMLINK_FOLLOW))
    return 0


def link(p, oldpath, newpath):
    return linkat(p, L.AT_FDCWD, oldpath, L.AT_FDCWD, newpath, 0)


def symlinkat(p, target, newdirfd, linkpath):
    t = path_arg(p, target)
    hdir, hpath = at_dir(p, newdirfd, path_arg(p, linkpath))
    p.host.symlink(t, hpath, hdir)
    return 0


def symlink(p, target, linkpath):
    return symlinkat(p, target, L.AT_FDCWD, linkpath)
