"""More of the FWK's file service (kernels/fwk/server.py): ownership and
nodes, space and copies between files, syncing, record-free locking, and
the host objects that are fds — eventfd, timerfd, inotify, memfd.

Paths are walked by the sandbox as every other path is; an object made here
is a handle of this process like any file, so it polls, reads and closes
the same way.  inotify watches are added on the walked directory or file
(through /proc/self/fd/N of the walk's descriptor, so the host never
resolves the guest's path itself), and the names its events carry are the
entries' own, never a host path.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat as st
import struct

from ..abi import linux as L
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from . import channel as C

_libc = ctypes.CDLL(None, use_errno=True)
_ITIMERSPEC = struct.Struct("<qqqq")
AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH = 0x100, 0x1000


def _check(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def _s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _id(v):
    """A uid_t or gid_t: unsigned 32 bits, (uid_t)-1 meaning unchanged."""
    v &= 0xFFFFFFFF
    return -1 if v == 0xFFFFFFFF else v


def _s64(v):
    return v - (1 << 64) if v & (1 << 63) else v


CALLS = ("fchownat", "fchown", "mknodat", "fallocate", "copy_file_range", "splice", "tee",
         "sync", "syncfs", "sync_file_range", "readahead", "flock", "memfd_create", "eventfd2",
         "timerfd_create", "timerfd_settime", "timerfd_gettime", "inotify_init1",
         "inotify_add_watch", "inotify_rm_watch", "openat2", "statx")


def register(server):
    f = Files(server)
    for name in CALLS:
        server.ops[NR[name]] = getattr(f, name)
    server.ops[C.FWK_FD_KIND] = lambda tid, handle, *_: server.h(tid, handle).kind
    register_xattrs(server)


class Files:
    def __init__(self, server):
        self.s = server

    def _fd(self, tid, handle) -> int:
        return self.s.h(tid, handle).fd

    def openat2(self, tid, dirfd, phys, flags, mode, resolve, *_):
        """openat with openat2's resolve flags (kernels/fwk/sandbox.py: Walk)."""
        base, path = self.s.path(tid, dirfd, phys)
        if resolve & L.RESOLVE_IN_ROOT:          # "/" is dirfd
            base = self.s.start_dir(tid, dirfd)
        fd, gpath = self.s.box.open(base, path, flags & 0xFFFFFFFF, mode & 0o7777, resolve)
        return self.s.new_handle(tid, fd, gpath)

    def statx(self, tid, dirfd, phys, flags, mask, out, *_):
        """statx by the host's own: every field the mask asks and the file
        system has (birth time, mount id, attributes), found inside the root."""
        s, flags = self.s, _s32(flags)
        sync = flags & 0x6000                    # AT_STATX_SYNC_TYPE
        base, path = s.path(tid, dirfd, phys, empty_ok=True)
        if not path and not flags & L.AT_EMPTY_PATH:
            raise OSError(errno.ENOENT, "empty path")
        if not path and _s32(dirfd) != L.AT_FDCWD:
            s.put(out, _statx(s.h(tid, dirfd).fd, b"", L.AT_EMPTY_PATH | sync, mask))
            return 0
        if not path:                             # AT_FDCWD, "", AT_EMPTY_PATH: the cwd itself
            base = s.guest(tid).cwd
        w, name = s.box.resolve(base, path or b".", follow=not flags & L.AT_SYMLINK_NOFOLLOW)
        try:
            s.put(out, _statx(w.fd, name or b".", L.AT_SYMLINK_NOFOLLOW | sync, mask))
        finally:
            w.close()
        return 0

    # ---- ownership and nodes -------------------------------------------------------------
    def fchownat(self, tid, dirfd, phys, uid, gid, flags, *_):
        s = self.s
        s.box.check_writable()
        flags = _s32(flags)
        base, p = s.path(tid, dirfd, phys, empty_ok=True)
        if not p:
            if not flags & AT_EMPTY_PATH:
                raise OSError(errno.ENOENT, "")
            os.chown(self._fd(tid, dirfd), _id(uid), _id(gid))
            return 0
        w, name = s.box.resolve(base, p, follow=not flags & AT_SYMLINK_NOFOLLOW)
        try:
            os.chown(name or b".", _id(uid), _id(gid), dir_fd=w.fd, follow_symlinks=False)
        finally:
            w.close()
        return 0

    def fchown(self, tid, handle, uid, gid, *_):
        self.s.box.check_writable()
        os.chown(self._fd(tid, handle), _id(uid), _id(gid))
        return 0

    def mknodat(self, tid, dirfd, phys, mode, dev, *_):
        """Regular files and FIFOs (devices and sockets: the kernel refuses,
        and so does this side: a guest has no CAP_MKNOD)."""
        s = self.s
        if st.S_IFMT(mode & 0o177777) not in (0, st.S_IFREG, st.S_IFIFO):
            raise OSError(errno.EPERM, "")
        base, p = s.path(tid, dirfd, phys)
        s.box.check_writable()
        w, last = s.box.parent(base, p)
        try:
            os.mknod(last, mode & 0o177777, 0, dir_fd=w.fd)
        finally:
            w.close()
        return 0

    # ---- space, copies, syncing ----------------------------------------------------------
    def fallocate(self, tid, handle, mode, offset, length, *_):
        self.s.box.check_writable()
        _check(_libc.fallocate(self._fd(tid, handle), ctypes.c_int(_s32(mode)),
                               ctypes.c_long(_s64(offset)), ctypes.c_long(_s64(length))))
        return 0

    def copy_file_range(self, tid, in_h, out_h, offsets, count, flags, *_):
        """offsets: guest-physical address of two int64 (in, out; -1: the
        file's own offset), updated as the host updates them."""
        s = self.s
        s.box.check_writable()
        off_in, off_out = struct.unpack("<qq", bytes(s._range(offsets, 16)))
        n = os.copy_file_range(self._fd(tid, in_h), self._fd(tid, out_h), count,
                               None if off_in < 0 else off_in, None if off_out < 0 else off_out)
        s.put(offsets, struct.pack("<qq", off_in + n if off_in >= 0 else -1,
                                   off_out + n if off_out >= 0 else -1))
        return n

    def splice(self, tid, in_h, out_h, offsets, count, flags, *_):
        s = self.s
        off_in, off_out = struct.unpack("<qq", bytes(s._range(offsets, 16)))
        a = ctypes.c_longlong(off_in)
        b = ctypes.c_longlong(off_out)
        n = _check(_libc.splice(self._fd(tid, in_h), ctypes.byref(a) if off_in >= 0 else None,
                                self._fd(tid, out_h), ctypes.byref(b) if off_out >= 0 else None,
                                ctypes.c_size_t(count), ctypes.c_uint(flags & 0xFFFFFFFF)))
        s.put(offsets, struct.pack("<qq", a.value if off_in >= 0 else -1,
                                   b.value if off_out >= 0 else -1))
        return n

    def tee(self, tid, in_h, out_h, count, flags, *_):
        return _check(_libc.tee(self._fd(tid, in_h), self._fd(tid, out_h), ctypes.c_size_t(count),
                                ctypes.c_uint(flags & 0xFFFFFFFF)))

    def sync(self, tid, *_):
        os.sync()
        return 0

    def syncfs(self, tid, handle, *_):
        _check(_libc.syncfs(self._fd(tid, handle)))
        return 0

    def sync_file_range(self, tid, handle, offset, nbytes, flags, *_):
        _check(_libc.sync_file_range(self._fd(tid, handle), ctypes.c_long(_s64(offset)),
                                     ctypes.c_long(_s64(nbytes)), ctypes.c_uint(flags & 0xFFFFFFFF)))
        return 0

    def readahead(self, tid, handle, offset, count, *_):
        _check(_libc.readahead(self._fd(tid, handle), ctypes.c_long(_s64(offset)),
                               ctypes.c_size_t(count)))
        return 0

    def flock(self, tid, handle, op, *_):
        """Always non-blocking here: the kernel waits and asks again."""
        fcntl.flock(self._fd(tid, handle), _s32(op) | fcntl.LOCK_NB)
        return 0

    # ---- host objects that are fds -------------------------------------------------------
    def memfd_create(self, tid, phys, flags, *_):
        s = self.s
        name = s.cstr(phys) if phys else b""
        fd = os.memfd_create(name.decode(errors="replace"),
                             os.MFD_CLOEXEC | (flags & os.MFD_ALLOW_SEALING))
        return s.new_handle(tid, fd, b"/memfd:" + name + b" (deleted)", C.KIND_FILE)

    def eventfd2(self, tid, initval, flags, *_):
        fd = os.eventfd(initval & 0xFFFFFFFF, os.EFD_CLOEXEC | os.EFD_NONBLOCK
                        | (flags & os.EFD_SEMAPHORE))
        return self.s.new_handle(tid, fd, b"anon_inode:[eventfd]", C.KIND_OTHER)

    def timerfd_create(self, tid, clockid, flags, *_):
        fd = _check(_libc.timerfd_create(ctypes.c_int(_s32(clockid)),
                                         ctypes.c_int(os.O_CLOEXEC | os.O_NONBLOCK)))
        return self.s.new_handle(tid, fd, b"anon_inode:[timerfd]", C.KIND_OTHER)

    def timerfd_settime(self, tid, handle, flags, new_phys, old_phys, *_):
        s = self.s
        new = ctypes.create_string_buffer(bytes(s._range(new_phys, 32)), 32)
        old = ctypes.create_string_buffer(32)
        _check(_libc.timerfd_settime(self._fd(tid, handle), ctypes.c_int(_s32(flags)), new, old))
        if old_phys:
            s.put(old_phys, old.raw)
        return 0

    def timerfd_gettime(self, tid, handle, out, *_):
        cur = ctypes.create_string_buffer(32)
        _check(_libc.timerfd_gettime(self._fd(tid, handle), cur))
        self.s.put(out, cur.raw)
        return 0

    def inotify_init1(self, tid, flags, *_):
        fd = _check(_libc.inotify_init1(ctypes.c_int(os.O_CLOEXEC | os.O_NONBLOCK)))
        return self.s.new_handle(tid, fd, b"anon_inode:inotify", C.KIND_OTHER)

    def inotify_add_watch(self, tid, handle, phys, mask, *_):
        s = self.s
        ifd = self._fd(tid, handle)
        base, p = s.path(tid, L.AT_FDCWD & 0xFFFFFFFF, phys)
        dont_follow = mask & 0x02000000                        # IN_DONT_FOLLOW
        w, name = s.box.resolve(base, p, follow=not dont_follow)
        try:
            if name is None:
                target = os.open(b".", os.O_PATH | os.O_CLOEXEC, dir_fd=w.fd)
            else:
                target = os.open(name, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=w.fd)
        finally:
            w.close()
        try:
            if st.S_ISLNK(os.fstat(target).st_mode) and not dont_follow:
                raise OSError(errno.ELOOP, "")
            return _check(_libc.inotify_add_watch(ifd, f"/proc/self/fd/{target}".encode(),
                                                  ctypes.c_uint32(mask & 0xFFFFFFFF)))
        finally:
            os.close(target)

    def inotify_rm_watch(self, tid, handle, wd, *_):
        _check(_libc.inotify_rm_watch(self._fd(tid, handle), ctypes.c_int(_s32(wd))))
        return 0


# ---- extended attributes (kernels/syscalls/fs_xattr.py) ------------------------------------
class Xattrs:
    """getxattr & co on a walked path (its last link followed or not) or a
    handle.  The object is reached through its walk's O_PATH descriptor
    (/proc/self/fd/N of this process), never by the guest's path."""

    def __init__(self, server):
        self.s = server

    def _on(self, tid, how, first, fn):
        s = self.s
        if how == "f":
            return fn(s.h(tid, first).fd, True)
        base, p = s.path(tid, 0xFFFFFF9C, first)
        w, name = s.box.resolve(base, p, follow=how != "l")
        try:
            fd = os.open(name or b".", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=w.fd)
        finally:
            w.close()
        try:
            if how == "l" and st.S_ISLNK(os.fstat(fd).st_mode):
                return fn(None, False)           # a symlink: no user attributes (Linux)
            return fn(f"/proc/self/fd/{fd}", True)
        finally:
            os.close(fd)

    def get(self, tid, how, first, nphys, out, size):
        name = self.s.cstr(nphys)

        def do(target, ok):
            if not ok:
                raise OSError(errno.ENODATA, "")
            value = os.getxattr(target, name)
            if size and len(value) > size:
                raise OSError(errno.ERANGE, "")
            if size:
                self.s.put(out, value)
            return len(value)
        return self._on(tid, how, first, do)

    def set(self, tid, how, first, nphys, data, size, flags):
        self.s.box.check_writable()
        name = self.s.cstr(nphys)
        value = bytes(self.s._range(data, size)) if size else b""

        def do(target, ok):
            if not ok:
                raise OSError(errno.EPERM, "")
            os.setxattr(target, name, value, _s32(flags))
            return 0
        return self._on(tid, how, first, do)

    def list(self, tid, how, first, out, size):
        def do(target, ok):
            names = os.listxattr(target) if ok else []
            blob = b"".join(os.fsencode(n) + b"\0" for n in names)
            if size and len(blob) > size:
                raise OSError(errno.ERANGE, "")
            if size:
                self.s.put(out, blob)
            return len(blob)
        return self._on(tid, how, first, do)

    def remove(self, tid, how, first, nphys):
        self.s.box.check_writable()
        name = self.s.cstr(nphys)

        def do(target, ok):
            if not ok:
                raise OSError(errno.EPERM, "")
            os.removexattr(target, name)
            return 0
        return self._on(tid, how, first, do)


def register_xattrs(server):
    x = Xattrs(server)
    for how in ("", "l", "f"):
        server.ops[NR[how + "getxattr"]] = lambda tid, a, b, c, d, *_, how=how: x.get(tid, how, a, b, c, d)
        server.ops[NR[how + "setxattr"]] = \
            lambda tid, a, b, c, d, e, *_, how=how: x.set(tid, how, a, b, c, d, e)
        server.ops[NR[how + "listxattr"]] = lambda tid, a, b, c, *_, how=how: x.list(tid, how, a, b, c)
        server.ops[NR[how + "removexattr"]] = lambda tid, a, b, *_, how=how: x.remove(tid, how, a, b)


def _statx(dirfd: int, name: bytes, flags: int, mask: int) -> bytes:
    """The host's struct statx of `name` in `dirfd` (256 bytes)."""
    buf = ctypes.create_string_buffer(256)
    statx = getattr(_libc, "statx", None)
    if statx is None:                            # a libc without it: the basic fields
        return _pack_statx(os.stat(name or b".", dir_fd=dirfd, follow_symlinks=False)
                           if name else os.fstat(dirfd))
    _check(statx(ctypes.c_int(dirfd), ctypes.c_char_p(name), ctypes.c_int(flags),
                 ctypes.c_uint(mask & 0xFFFFFFFF), buf))
    return buf.raw


def _pack_statx(s) -> bytes:
    def ts(ns):
        return ns // 10**9, ns % 10**9, 0
    return L.STATX.pack(L.STATX_BASIC_STATS, s.st_blksize, 0, s.st_nlink, s.st_uid, s.st_gid,
                        s.st_mode, 0, s.st_ino, s.st_size, s.st_blocks, 0,
                        *ts(s.st_atime_ns), *ts(0), *ts(s.st_ctime_ns), *ts(s.st_mtime_ns),
                        os.major(s.st_rdev), os.minor(s.st_rdev),
                        os.major(s.st_dev), os.minor(s.st_dev))


