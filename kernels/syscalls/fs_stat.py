"""stat, fstat, lstat, newfstatat, statx, statfs, readlink (Linux fs/stat.c,
fs/statfs.c).  The host side packs the structures in Linux's layout."""
from __future__ import annotations

from .. import procfs
from ..abi import linux as L
from ..abi.linux_errno import EINVAL, ENOENT
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError, ModelPath
from . import fs_model
from .util import OUT, gpath, hdir, out_struct, path_arg, s32

_STAT_FLAGS = L.AT_SYMLINK_NOFOLLOW | L.AT_NO_AUTOMOUNT | L.AT_EMPTY_PATH
_STATX_SYNC = 0x6000                          # AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC
STATFS_SIZE = 120
_O_PATH = 0o10000000


def _node(p, dirfd, pathname, flags):
    """The node of the kernel's /proc, /dev or /sys (kernels/procfs.py) a
    stat names, or None when the host's walk takes it."""
    raw = path_arg(p, pathname, empty_ok=True)
    if not raw and s32(flags) & L.AT_EMPTY_PATH:
        return fs_model.dirfd_node(p, dirfd)
    return fs_model.node_at(p, s32(dirfd), raw, not s32(flags) & L.AT_SYMLINK_NOFOLLOW)


def _host_of(p, node, flags):
    """Where the host stats a node that leads out of the tree, else Nones."""
    if node.kind == procfs.OPEN:
        return node.what.hfd, p.scratch.put(b"\0"), s32(flags) | L.AT_EMPTY_PATH
    if node.kind == procfs.HOST:
        return hdir(p, L.AT_FDCWD), p.scratch.put(node.what + b"\0"), flags
    if node.kind == procfs.HOSTAT:
        return node.what[0].hfd, p.scratch.put(node.what[1] + b"\0"), flags
    if node.kind == procfs.DEVICE:
        from ..fwk.channel import FWK_DEVICE
        h = p.io.call(FWK_DEVICE, p.scratch.put(node.what + b"\0"), _O_PATH) & 0xFFFFFFFF
        return h, p.scratch.put(b"\0"), s32(flags) | L.AT_EMPTY_PATH
    return None, None, None


def _stat_where(p, dirfd, pathname, flags, pack, call):
    """stat through `call(host dir, path, flags)`, or of a node of the tree
    with `pack`: (packed bytes or None, call's result)."""
    node = _node(p, dirfd, pathname, flags)
    if node is None:
        try:
            return None, call(hdir(p, dirfd), gpath(p, pathname, empty_ok=True), flags)
        except ModelPath:                        # the walk arrived at the tree
            node = fs_model.redirected(p, not s32(flags) & L.AT_SYMLINK_NOFOLLOW)
    where, path, flags = _host_of(p, node, flags)
    if where is None:
        return pack(node), 0
    try:
        return None, call(where, path, flags)
    finally:
        if node.kind == procfs.DEVICE:
            p.io.call(NR["close"], where)


def newfstatat(p, dirfd, pathname, statbuf, flags):
    if s32(flags) & ~_STAT_FLAGS:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    packed, done = _stat_where(p, dirfd, pathname, flags, fs_model.pack_stat,
                             lambda h, path, fl: out_struct(p, statbuf, L.STAT.size, NR["newfstatat"],
                                                            h, path, OUT, fl))
    if packed is not None:
        p.mm.write(statbuf, packed)
    return done


def stat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, 0)


def lstat(p, pathname, statbuf):
    return newfstatat(p, L.AT_FDCWD, pathname, statbuf, L.AT_SYMLINK_NOFOLLOW)


def fstat(p, fd, statbuf):
    f = p.fds.get(s32(fd))
    if f.model is not None:
        p.mm.write(statbuf, fs_model.pack_stat(f.model))
        return 0
    p.scratch.reset()
    return out_struct(p, statbuf, L.STAT.size, NR["fstat"], f.hfd, OUT)


def statx(p, dirfd, pathname, flags, mask, statxbuf):
    if s32(flags) & ~(_STAT_FLAGS | _STATX_SYNC):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    packed, done = _stat_where(p, dirfd, pathname, flags, fs_model.pack_statx,
                             lambda h, path, fl: out_struct(p, statxbuf, L.STATX.size, NR["statx"],
                                                            h, path, fl, mask, OUT))
    if packed is not None:
        p.mm.write(statxbuf, packed)
    return done


def statfs(p, pathname, buf):
    p.scratch.reset()
    node = fs_model.node_at(p, L.AT_FDCWD, path_arg(p, pathname))
    if node is None:
        try:
            return out_struct(p, buf, STATFS_SIZE, NR["statfs"], gpath(p, pathname), OUT)
        except ModelPath:
            node = fs_model.redirected(p)
    if node.kind in (procfs.HOST, procfs.HOSTAT, procfs.OPEN):
        h, path, _ = _host_of(p, node, 0)
        if node.kind == procfs.HOST:
            return out_struct(p, buf, STATFS_SIZE, NR["statfs"], path, OUT)
        raise LinuxError(ENOENT)
    p.mm.write(buf, fs_model.pack_statfs(node))
    return 0


def fstatfs(p, fd, buf):
    f = p.fds.get(s32(fd))
    if f.model is not None:
        p.mm.write(buf, fs_model.pack_statfs(f.model))
        return 0
    p.scratch.reset()
    return out_struct(p, buf, STATFS_SIZE, NR["fstatfs"], f.hfd, OUT)


def fd_path(p, f) -> bytes:
    """The guest path an open file was reached by (as /proc/self/fd shows it)."""
    from ..procfs_files import fd_path as path_of
    return path_of(p, f)


def readlinkat(p, dirfd, pathname, buf, bufsiz):
    if s32(bufsiz) <= 0:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    raw = path_arg(p, pathname, empty_ok=True)
    node = fs_model.node_at(p, s32(dirfd), raw, follow=False)
    if node is None:
        out = p.scratch.alloc(min(bufsiz, 4096))
        try:
            n = p.io.call(NR["readlinkat"], hdir(p, dirfd), gpath(p, pathname, empty_ok=True), out,
                          min(bufsiz, 4096))
            p.mm.write(buf, p.scratch.get(out, n))
            return n
        except ModelPath:
            node = fs_model.redirected(p, follow=False)
    target = fs_model.readlink_of(node)[:bufsiz]
    p.mm.write(buf, target)
    return len(target)


def readlink(p, pathname, buf, bufsiz):
    return readlinkat(p, L.AT_FDCWD, pathname, buf, bufsiz)
