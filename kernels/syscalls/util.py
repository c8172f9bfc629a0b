"""Argument decoding shared by the syscall families (xv6's argraw/fetchaddr).

Registers arrive as unsigned 64-bit integers; these helpers give them their C
types, fetch path strings from guest memory, and turn a (dirfd, path) pair into
something the host-I/O interface can open.
"""
from __future__ import annotations

import os
import stat as st

from ..abi import linux as L
from ..abi.linux_errno import EBADF, EFAULT, ENAMETOOLONG, ENOENT, ENOTDIR
from ..errors import LinuxError


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def u32(v: int) -> int:
    return v & 0xFFFFFFFF


def path_arg(p, addr: int, empty_ok: bool = False) -> bytes:
    """A path string from guest memory, as Linux's getname() checks it."""
    if addr == 0:
        raise LinuxError(EFAULT)
    try:
        s = p.mm.read_cstr(addr, L.PATH_MAX - 1)
    except ValueError:
        raise LinuxError(ENAMETOOLONG) from None
    if not s and not empty_ok:
        raise LinuxError(ENOENT)
    return s


def at_dir(p, dirfd: int, path: bytes):
    """(host dirfd or None, host path) for a guest (dirfd, path) pair."""
    if path.startswith(b"/"):
        return None, path
    dirfd = s32(dirfd)
    if dirfd == L.AT_FDCWD:
        return None, os.path.join(p.cwd, path) if path else p.cwd
    f = p.fds.files.get(dirfd)
    if f is None:
        raise LinuxError(EBADF)
    if not f.is_dir:
        raise LinuxError(ENOTDIR)
    return f.hfd, path


def resolve(p, dirfd: int, addr: int, empty_ok: bool = False):
    return at_dir(p, dirfd, path_arg(p, addr, empty_ok))


def host_open_flags(flags: int) -> int:
    """Linux O_* flags -> the host's (identical on x86-64 Linux, but said once here)."""
    out = flags & L.O_ACCMODE
    for lin, host in ((L.O_CREAT, os.O_CREAT), (L.O_EXCL, os.O_EXCL), (L.O_NOCTTY, os.O_NOCTTY),
                      (L.O_TRUNC, os.O_TRUNC), (L.O_APPEND, os.O_APPEND),
                      (L.O_NONBLOCK, os.O_NONBLOCK), (L.O_DSYNC, os.O_DSYNC),
                      (L.O_DIRECTORY, os.O_DIRECTORY), (L.O_NOFOLLOW, os.O_NOFOLLOW),
                      (L.O_SYNC, os.O_SYNC), (L.O_PATH, getattr(os, "O_PATH", 0)),
                      (L.O_NOATIME, getattr(os, "O_NOATIME", 0))):
        if flags & lin == lin:
            out |= host
    if flags & L.O_TMPFILE == L.O_TMPFILE:
        out |= getattr(os, "O_TMPFILE", 0)
    return out | os.O_CLOEXEC          # the host fd never leaks into host children


def pack_stat(s: os.stat_result) -> bytes:
    return L.STAT.pack(s.st_dev, s.st_ino, s.st_nlink, s.st_mode, s.st_uid, s.st_gid, 0,
                       s.st_rdev, s.st_size, s.st_blksize, s.st_blocks,
                       s.st_atime_ns // 10**9, s.st_atime_ns % 10**9,
                       s.st_mtime_ns // 10**9, s.st_mtime_ns % 10**9,
                       s.st_ctime_ns // 10**9, s.st_ctime_ns % 10**9)


def pack_statx(s: os.stat_result) -> bytes:
    def ts(ns):
        return ns // 10**9, ns % 10**9, 0
    birth = getattr(s, "st_birthtime_ns", None)
    mask = L.STATX_BASIC_STATS | (L.STATX_BTIME if birth else 0)
    return L.STATX.pack(mask, s.st_blksize, 0, s.st_nlink, s.st_uid, s.st_gid,
                        s.st_mode, 0, s.st_ino, s.st_size, s.st_blocks, 0,
                        *ts(s.st_atime_ns), *ts(birth or 0), *ts(s.st_ctime_ns),
                        *ts(s.st_mtime_ns),
                        os.major(s.st_rdev), os.minor(s.st_rdev),
                        os.major(s.st_dev), os.minor(s.st_dev))


def d_type(mode: int) -> int:
    fmt = st.S_IFMT(mode)
    return {st.S_IFDIR: L.DT_DIR, st.S_IFREG: L.DT_REG, st.S_IFLNK: L.DT_LNK,
            st.S_IFCHR: L.DT_CHR, st.S_IFBLK: L.DT_BLK, st.S_IFIFO: L.DT_FIFO,
            st.S_IFSOCK: L.DT_SOCK}.get(fmt, L.DT_UNKNOWN)
