"""Creating, removing and renaming names: mkdir, unlink, rename, link,
symlink (Linux fs/namei.c).  Both ends of a rename or link are walked inside
the sandbox root by the host side."""
from __future__ import annotations

from ..abi import linux as L
from ..abi.linux_errno import EINVAL
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from .util import gpath, hdir, s32


def mkdirat(p, dirfd, pathname, mode):
    p.scratch.reset()
    return p.io.call(NR["mkdirat"], hdir(p, dirfd), gpath(p, pathname), mode & 0o7777 & ~p.umask)


def mkdir(p, pathname, mode):
    return mkdirat(p, L.AT_FDCWD, pathname, mode)


def unlinkat(p, dirfd, pathname, flags):
    if s32(flags) & ~L.AT_REMOVEDIR:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    return p.io.call(NR["unlinkat"], hdir(p, dirfd), gpath(p, pathname), flags)


def unlink(p, pathname):
    return unlinkat(p, L.AT_FDCWD, pathname, 0)


def rmdir(p, pathname):
    return unlinkat(p, L.AT_FDCWD, pathname, L.AT_REMOVEDIR)


def renameat2(p, olddirfd, oldpath, newdirfd, newpath, flags):
    if s32(flags):
        raise LinuxError(EINVAL)          # RENAME_NOREPLACE/EXCHANGE: not offered
    p.scratch.reset()
    return p.io.call(NR["renameat2"], hdir(p, olddirfd), gpath(p, oldpath),
                     hdir(p, newdirfd), gpath(p, newpath), 0)


def renameat(p, olddirfd, oldpath, newdirfd, newpath):
    return renameat2(p, olddirfd, oldpath, newdirfd, newpath, 0)


def rename(p, oldpath, newpath):
    return renameat2(p, L.AT_FDCWD, oldpath, L.AT_FDCWD, newpath, 0)


def linkat(p, olddirfd, oldpath, newdirfd, newpath, flags):
    if s32(flags) & ~(L.AT_SYMLINK_FOLLOW | L.AT_EMPTY_PATH):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    return p.io.call(NR["linkat"], hdir(p, olddirfd), gpath(p, oldpath),
                     hdir(p, newdirfd), gpath(p, newpath), flags)


def link(p, oldpath, newpath):
    return linkat(p, L.AT_FDCWD, oldpath, L.AT_FDCWD, newpath, 0)


def symlinkat(p, target, newdirfd, linkpath):
    p.scratch.reset()
    return p.io.call(NR["symlinkat"], gpath(p, target), hdir(p, newdirfd), gpath(p, linkpath))


def symlink(p, target, linkpath):
    return symlinkat(p, target, L.AT_FDCWD, linkpath)
