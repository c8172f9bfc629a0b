"""The FWK's service: file (and, in server_net.py, network) calls executed on
the host, confined by the sandbox, reading and writing guest memory directly.

A call arrives as (tid, function, six parameters) — the offload packet's
fields — where function is a Linux syscall number (or an FWK_* code from
channel.py) and pointer parameters are guest-physical addresses: offsets into
the kernel instance's memory segment, mapped here too.  The reply is one
integer: the result, or -errno.  Handles are this process's own fds; each
carries its kind and, for paths, the canonical guest path it was opened by.

The same Server runs inside the FWK proxy process (lwk and unikernel
guests, kernels/fwk/proxy.py) and inside the emulator itself (the monolithic
linux kernel serves its own I/O), so both go through one confinement code.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat as st
import struct
import termios
import time

from ..abi import linux as L
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from . import channel as C
from .sandbox import Redirect, Sandbox, join

# Served by server_net.py, imported when the first of them comes.
NET_CALLS = {NR[name] for name in (
    "socket", "socketpair", "bind", "listen", "accept4", "connect", "sendto", "recvfrom",
    "sendmsg", "recvmsg", "shutdown", "getsockname", "getpeername", "setsockopt", "getsockopt",
    "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait")}

_STAT = L.STAT
_IOV = struct.Struct("<QQ")


def s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v):
    return v - (1 << 64) if v & (1 << 63) else v


_KINDS = {st.S_IFREG: C.KIND_FILE, st.S_IFDIR: C.KIND_DIR, st.S_IFIFO: C.KIND_FIFO,
          st.S_IFSOCK: C.KIND_SOCKET, st.S_IFCHR: C.KIND_CHAR}


def _kind(mode: int) -> int:
    return _KINDS.get(st.S_IFMT(mode), C.KIND_OTHER)


class Handle:
    """A host descriptor served to the guests of one domain (one kernel
    instance: its processes share open file descriptions after a fork)."""
    __slots__ = ("fd", "kind", "path", "domain", "dirents", "dirpos", "made")

    def __init__(self, fd, kind, path, domain):
        self.fd, self.kind, self.path, self.domain = fd, kind, path, domain
        self.made = False                      # a listing the kernel made (server_model.py)
        self.dirents = None
        self.dirpos = 0


class GuestState:
    """A guest process: its working directory; `domain` is its instance."""
    __slots__ = ("pid", "cwd", "uid", "domain")

    def __init__(self, pid, uid, domain=None, cwd=b"/"):
        self.pid, self.uid, self.cwd = pid, uid, cwd
        self.domain = pid if domain is None else domain


class Server:
    def __init__(self, memory, base: int, sandbox: Sandbox, stdio=None):
        self.stdio = stdio                     # host fds for the guest's 0-2, or None: this process's
        self.mem = memory                      # memoryview of the whole segment
        self.base = base                       # its host address (for libc calls)
        self.size = len(memory)
        self.box = sandbox
        self.handles: dict[int, Handle] = {}
        self.guests: dict[int, GuestState] = {}  # tid -> process state
        self.ops = {}
        self.net_loaded = False
        for name in ("openat", "close", "readv", "writev", "preadv", "pwritev", "lseek", "fstat",
                     "newfstatat", "statfs", "fstatfs", "readlinkat", "getdents64",
                     "mkdirat", "unlinkat", "renameat2", "linkat", "symlinkat", "faccessat2",
                     "fchmodat", "fchmod", "truncate", "ftruncate", "fsync", "fdatasync",
                     "utimensat", "fcntl", "ioctl", "pipe2", "chdir", "fchdir", "getcwd",
                     "sendfile", "fadvise64"):
            self.ops[NR[name]] = getattr(self, "do_" + name)
        from . import server_files               # ownership, copies, eventfd, timerfd, inotify...
        server_files.register(self)
        from . import server_model               # the kernel's /proc, /dev, /sys
        server_model.register(self)
        self.ops.update({C.FWK_HELLO: self.fwk_hello, C.FWK_STDIO: self.fwk_stdio,
                         C.FWK_FD_PATH: self.fwk_fd_path, C.FWK_DUP: self.fwk_dup,
                         C.FWK_BYE: self.fwk_bye, C.FWK_FORK: self.fwk_fork,
                         C.FWK_REOPEN: self.fwk_reopen, C.FWK_MADE: self.fwk_made,
                         C.FWK_READ: self.fwk_read, C.FWK_WRITE: self.fwk_write})

    def close(self) -> None:
        """Every host descriptor this server holds, and its root."""
        for fd in list(self.handles):
            try:
                os.close(fd)
            except OSError:
                pass
        self.handles.clear()
        self.box.close()

    # ---- the entry -----------------------------------------------------------
    def handle(self, tid: int, function: int, params) -> int:
        op = self.ops.get(function)
        if op is None:
            if function not in NET_CALLS or self.net_loaded:
                return -errno.ENOSYS
            from . import server_net      # the first network call: most programs make none
            server_net.register(self)
            self.net_loaded = True
            op = self.ops[function]
        if len(params) < 6:
            params = tuple(params) + (0,) * (6 - len(params))
        try:
            return op(tid, *params)
        except Exception as e:
            return self.failed(tid, function, e)

    def failed(self, tid: int, function: int, e: Exception) -> int:
        """What a call that raised `e` returns (for handle, and for the
        proxy's loop, which calls an operation of `ops` itself)."""
        if isinstance(e, Redirect):            # the walk arrived at the kernel's /proc, /dev, /sys
            self.redirects[tid] = e.path
            return -e.errno
        if isinstance(e, OSError):
            return -(e.errno or errno.EIO)
        if isinstance(e, (ValueError, OverflowError, IndexError, struct.error)):
            return -errno.EINVAL
        if isinstance(e, MemoryError):         # a length no host buffer can hold
            return -errno.ENOMEM
        import sys                             # a bug here must not take the service down
        print(f"azemu fwk: internal error in function {function}: {type(e).__name__}: {e}",
              file=sys.stderr, flush=True)
        return -errno.EIO

    # ---- guest memory ----------------------------------------------------------
    def _range(self, phys, n):
        if phys < 0 or n < 0 or phys + n > self.size:
            raise OSError(errno.EFAULT, "bad guest-physical address")
        return self.mem[phys:phys + n]

    def cstr(self, phys) -> bytes:
        if phys <= 0 or phys >= self.size:
            raise OSError(errno.EFAULT, "bad guest-physical address")
        end = bytes(self.mem[phys:min(self.size, phys + 4097)]).find(b"\0")
        if end < 0:
            raise OSError(errno.ENAMETOOLONG, "path too long")
        return bytes(self.mem[phys:phys + end])

    def put(self, phys, data: bytes):
        self._range(phys, len(data))[:] = data

    def iov(self, phys, count) -> list:
        raw = bytes(self._range(phys, 16 * count))
        return [self._range(b, n) for b, n in (_IOV.unpack_from(raw, 16 * i) for i in range(count)) if n]

    # ---- handles and paths -------------------------------------------------------
    def guest(self, tid) -> GuestState:
        g = self.guests.get(tid)
        if g is None:
            raise OSError(errno.EPERM, "unknown guest")
        return g

    def h(self, tid, handle) -> Handle:
        hd = self.handles.get(s32(handle))
        if hd is None or hd.domain != self.guest(tid).domain:
            raise OSError(errno.EBADF, "bad handle")
        return hd

    def start_dir(self, tid, dirfd) -> bytes:
        """The guest path relative paths start from: cwd, or a directory handle's."""
        if s32(dirfd) == L.AT_FDCWD:
            return self.guest(tid).cwd
        hd = self.h(tid, dirfd)
        if hd.kind != C.KIND_DIR or hd.path is None:
            raise OSError(errno.ENOTDIR, "not a directory")
        return hd.path

    def path(self, tid, dirfd, phys, empty_ok=False):
        """(start directory's guest path, path); the start directory matters
        only for a relative, non-empty path."""
        p = self.cstr(phys)
        if not p:
            if not empty_ok:
                raise OSError(errno.ENOENT, "empty path")
            return None, p
        if p.startswith(b"/"):
            return b"/", p
        return self.start_dir(tid, dirfd), p

    def new_handle(self, tid, fd, path, kind=None) -> int:
        if kind is None:
            kind = _kind(os.fstat(fd).st_mode)
        self.handles[fd] = Handle(fd, kind, path, self.guest(tid).domain)
        return fd | (kind << 32)

    def _stat(self, tid, dirfd, phys, flags):
        base, p = self.path(tid, dirfd, phys, empty_ok=True)
        if not p:
            if not flags & L.AT_EMPTY_PATH:
                raise OSError(errno.ENOENT, "empty path")
            if s32(dirfd) == L.AT_FDCWD:
                base, p = self.guest(tid).cwd, b"."       # the working directory itself
            else:
                return os.fstat(self.h(tid, dirfd).fd)
        w, name = self.box.resolve(base, p, follow=not flags & L.AT_SYMLINK_NOFOLLOW)
        try:
            return os.stat(name if name is not None else b".", dir_fd=w.fd, follow_symlinks=False)
        finally:
            w.close()

    # ---- FWK functions -------------------------------------------------------------
    def fwk_hello(self, tid, pid, uid, *_):
        """A new guest thread; the threads of one process share its state."""
        for g in self.guests.values():
            if g.pid == pid:
                self.guests[tid] = g
                return 0
        self.guests[tid] = GuestState(pid, uid)
        return 0

    def fwk_fork(self, tid, child_tid, child_pid, *_):
        """A new process made by the caller's (fork): the caller's working
        directory, and its instance's handles (the open file descriptions
        the two now share)."""
        g = self.guest(tid)
        if s32(child_tid) <= 0 or child_tid in self.guests:
            raise OSError(errno.EINVAL, "bad child")
        self.guests[child_tid] = GuestState(child_pid, g.uid, g.domain, g.cwd)
        return 0

    def fwk_bye(self, tid, *_):
        """A guest thread is gone; when the last guest of its instance goes,
        whatever handles the instance still had are closed."""
        g = self.guests.pop(tid, None)
        if g is not None and not any(o.domain == g.domain for o in self.guests.values()):
            for fd, hd in list(self.handles.items()):
                if hd.domain == g.domain:
                    os.close(fd)
                    del self.handles[fd]
        return 0

    def fwk_stdio(self, tid, which, *_):
        which = s32(which)
        if not 0 <= which <= 2:
            return -errno.EBADF
        fd = self.stdio[which] if self.stdio else which
        if fd < 0:
            return -errno.EBADF                # closed when azemu started
        fd = os.dup(fd)
        os.set_inheritable(fd, False)
        return self.new_handle(tid, fd, None)

    def fwk_fd_path(self, tid, handle, out, size, *_):
        hd = self.h(tid, handle)
        p = hd.path if hd.path is not None else os.fsencode(f"pipe:[{os.fstat(hd.fd).st_ino}]")
        p = p[:size]
        self.put(out, p)
        return len(p)

    def fwk_dup(self, tid, handle, *_):
        hd = self.h(tid, handle)
        new = self.new_handle(tid, os.dup(hd.fd), hd.path, hd.kind)
        if hd.made:
            copy = self.handles[new & 0xFFFFFFFF]
            copy.made, copy.dirents = True, list(hd.dirents)
        return new

    # ---- the guest's /proc (kernels/procfs.py) -----------------------------------------
    def fwk_reopen(self, tid, handle, flags, *_):
        """/proc/self/fd/N: the file of a handle, opened anew."""
        hd = self.h(tid, handle)
        flags &= 0xFFFFFFFF
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            self.box.check_writable()
        fd = os.open(f"/proc/self/fd/{hd.fd}", (flags & ~os.O_CREAT) | os.O_CLOEXEC)
        return self.new_handle(tid, fd, hd.path, hd.kind)

    def fwk_made(self, tid, phys, length, path_phys, *_):
        """A file the kernel made (/proc/self/maps...), read-only."""
        data = bytes(self._range(phys, length))
        wfd = os.memfd_create("azemu-proc", os.MFD_CLOEXEC)
        try:
            os.write(wfd, data)
            fd = os.open(f"/proc/self/fd/{wfd}", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            os.close(wfd)
        return self.new_handle(tid, fd, self.cstr(path_phys))

    # ---- files ---------------------------------------------------------------------
    def do_openat(self, tid, dirfd, phys, flags, mode, *_):
        base, p = self.path(tid, dirfd, phys)
        fd, gpath = self.box.open(base, p, flags & 0xFFFFFFFF, mode & 0o7777)
        return self.new_handle(tid, fd, gpath)

    def do_close(self, tid, handle, *_):
        hd = self.h(tid, handle)
        del self.handles[hd.fd]
        os.close(hd.fd)
        return 0

    def fwk_read(self, tid, handle, p1, n1, p2, n2, *_):
        """read(2) into one or two extents: no iovec to build or to parse."""
        return os.readv(self.h(tid, handle).fd, self._extents2(p1, n1, p2, n2))

    def fwk_write(self, tid, handle, p1, n1, p2, n2, *_):
        return os.writev(self.h(tid, handle).fd, self._extents2(p1, n1, p2, n2))

    def _extents2(self, p1, n1, p2, n2):
        return [self._range(p1, n1), self._range(p2, n2)] if n2 else [self._range(p1, n1)]

    def do_readv(self, tid, handle, iov, count, *_):
        return os.readv(self.h(tid, handle).fd, self.iov(iov, count))

    def do_writev(self, tid, handle, iov, count, *_):
        return os.writev(self.h(tid, handle).fd, self.iov(iov, count))

    def do_preadv(self, tid, handle, iov, count, offset, *_):
        return os.preadv(self.h(tid, handle).fd, self.iov(iov, count), s64(offset))

    def do_pwritev(self, tid, handle, iov, count, offset, *_):
        return os.pwritev(self.h(tid, handle).fd, self.iov(iov, count), s64(offset))

    def do_lseek(self, tid, handle, offset, whence, *_):
        hd = self.h(tid, handle)
        offset, whence = s64(offset), s32(whence)
        if hd.kind == C.KIND_DIR:
            if whence == L.SEEK_SET and offset >= 0:
                hd.dirpos = offset
                if offset == 0 and not hd.made:
                    hd.dirents = None
                return offset
            if whence == L.SEEK_CUR and offset == 0:
                return hd.dirpos
            raise OSError(errno.EINVAL, "")
        return os.lseek(hd.fd, offset, whence)

    def do_fstat(self, tid, handle, out, *_):
        self.put(out, _pack_stat(os.fstat(self.h(tid, handle).fd)))
        return 0

    def do_newfstatat(self, tid, dirfd, phys, out, flags, *_):
        self.put(out, _pack_stat(self._stat(tid, dirfd, phys, s32(flags))))
        return 0

    def do_statfs(self, tid, phys, out, *_):
        base, p = self.path(tid, L.AT_FDCWD, phys)
        w, name = self.box.resolve(base, p)
        try:
            fd = os.open(name or b".", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=w.fd)
        finally:
            w.close()
        try:
            self.put(out, _statfs(fd))
        finally:
            os.close(fd)
        return 0

    def do_fstatfs(self, tid, handle, out, *_):
        self.put(out, _statfs(self.h(tid, handle).fd))
        return 0

    def do_readlinkat(self, tid, dirfd, phys, out, size, *_):
        base, p = self.path(tid, dirfd, phys)
        w, name = self.box.resolve(base, p, follow=False)
        try:
            if name is None:
                raise OSError(errno.EINVAL, "not a symlink")
            target = os.readlink(name, dir_fd=w.fd)
        finally:
            w.close()
        target = target[:size]
        self.put(out, target)
        return len(target)

    def do_getdents64(self, tid, handle, out, count, *_):
        hd = self.h(tid, handle)
        if hd.kind != C.KIND_DIR:
            raise OSError(errno.ENOTDIR, "")
        if hd.dirents is None:
            hd.dirents = _list_dir(hd.fd)
        buf = bytearray()
        while hd.dirpos < len(hd.dirents):
            name, ino, dtype = hd.dirents[hd.dirpos]
            reclen = (L.DIRENT64.size + len(name) + 1 + 7) & ~7
            if len(buf) + reclen > count:
                if not buf:
                    raise OSError(errno.EINVAL, "")
                break
            rec = L.DIRENT64.pack(ino, hd.dirpos + 1, reclen, dtype) + name
            buf += rec + b"\0" * (reclen - len(rec))
            hd.dirpos += 1
        self.put(out, bytes(buf))
        return len(buf)

    def do_mkdirat(self, tid, dirfd, phys, mode, *_):
        base, p = self.path(tid, dirfd, phys)
        self.box.check_writable()
        w, last = self.box.parent(base, p)
        try:
            os.mkdir(last, mode & 0o7777, dir_fd=w.fd)
        finally:
            w.close()
        return 0

    def do_unlinkat(self, tid, dirfd, phys, flags, *_):
        base, p = self.path(tid, dirfd, phys)
        self.box.check_writable()
        w, last = self.box.parent(base, p)
        try:
            if s32(flags) & L.AT_REMOVEDIR:
                os.rmdir(last, dir_fd=w.fd)
            else:
                os.unlink(last, dir_fd=w.fd)
        finally:
            w.close()
        return 0

    def do_renameat2(self, tid, olddirfd, oldp, newdirfd, newp, flags, *_):
        ob, op = self.path(tid, olddirfd, oldp)
        nb, np_ = self.path(tid, newdirfd, newp)
        self.box.check_writable()
        if s32(flags):
            raise OSError(errno.EINVAL, "")
        w1, l1 = self.box.parent(ob, op)
        try:
            w2, l2 = self.box.parent(nb, np_)
            try:
                os.rename(l1, l2, src_dir_fd=w1.fd, dst_dir_fd=w2.fd)
            finally:
                w2.close()
        finally:
            w1.close()
        return 0

    def do_linkat(self, tid, olddirfd, oldp, newdirfd, newp, flags, *_):
        ob, op = self.path(tid, olddirfd, oldp)
        nb, np_ = self.path(tid, newdirfd, newp)
        self.box.check_writable()
        follow = bool(s32(flags) & L.AT_SYMLINK_FOLLOW)
        w1, name = self.box.resolve(ob, op, follow=follow)
        try:
            if name is None:
                raise OSError(errno.EPERM, "hard link to a directory")
            w2, l2 = self.box.parent(nb, np_)
            try:
                os.link(name, l2, src_dir_fd=w1.fd, dst_dir_fd=w2.fd, follow_symlinks=False)
            finally:
                w2.close()
        finally:
            w1.close()
        return 0

    def do_symlinkat(self, tid, target, newdirfd, linkp, *_):
        t = self.cstr(target)
        nb, np_ = self.path(tid, newdirfd, linkp)
        self.box.check_writable()
        w, last = self.box.parent(nb, np_)
        try:
            os.symlink(t, last, dir_fd=w.fd)   # its target is walked inside the root when used
        finally:
            w.close()
        return 0

    def do_faccessat2(self, tid, dirfd, phys, mode, flags, *_):
        flags = s32(flags)
        base, p = self.path(tid, dirfd, phys, empty_ok=bool(flags & L.AT_EMPTY_PATH))
        if not p:
            fd = os.dup(self.h(tid, dirfd).fd) if s32(dirfd) != L.AT_FDCWD else None
            w, name = (None, None) if fd is not None else self.box.resolve(base, b".")
        else:
            fd = None
            w, name = self.box.resolve(base, p, follow=not flags & L.AT_SYMLINK_NOFOLLOW)
        try:
            if mode & 2 and self.box.readonly:
                raise OSError(errno.EROFS, "")
            target = (f"/proc/self/fd/{fd}" if fd is not None else (name or b"."))
            ok = os.access(target, mode & 7, dir_fd=None if fd is not None else w.fd,
                           effective_ids=bool(flags & L.AT_EACCESS) and os.access in os.supports_effective_ids,
                           follow_symlinks=fd is not None or name is None or not flags & L.AT_SYMLINK_NOFOLLOW)
        finally:
            if fd is not None:
                os.close(fd)
            if w is not None:
                w.close()
        if not ok:
            raise OSError(errno.EACCES, "")
        return 0

    def do_fchmodat(self, tid, dirfd, phys, mode, *_):
        base, p = self.path(tid, dirfd, phys)
        self.box.check_writable()
        w, name = self.box.resolve(base, p)
        try:
            os.chmod(name or b".", mode & 0o7777, dir_fd=w.fd, follow_symlinks=False)
        finally:
            w.close()
        return 0

    def do_fchmod(self, tid, handle, mode, *_):
        self.box.check_writable()
        os.fchmod(self.h(tid, handle).fd, mode & 0o7777)
        return 0

    def do_truncate(self, tid, phys, length, *_):
        base, p = self.path(tid, L.AT_FDCWD, phys)
        fd, _ = self.box.open(base, p, os.O_WRONLY, 0)
        try:
            os.ftruncate(fd, s64(length))
        finally:
            os.close(fd)
        return 0

    def do_ftruncate(self, tid, handle, length, *_):
        self.box.check_writable()
        os.ftruncate(self.h(tid, handle).fd, s64(length))
        return 0

    def do_fsync(self, tid, handle, *_):
        os.fsync(self.h(tid, handle).fd)
        return 0

    def do_fdatasync(self, tid, handle, *_):
        os.fdatasync(self.h(tid, handle).fd)
        return 0

    def do_fadvise64(self, tid, handle, *_):
        self.h(tid, handle)
        return 0

    def do_utimensat(self, tid, dirfd, phys, times, flags, *_):
        """times: guest-physical address of two timespecs, already checked by
        the kernel, or 0 for "now"."""
        self.box.check_writable()
        ns = None
        if times:
            a, an, m, mn = struct.unpack("<qqqq", bytes(self._range(times, 32)))
            now = time.time_ns()
            vals = []
            for sec, nsec in ((a, an), (m, mn)):
                vals.append(now if nsec == (1 << 30) - 1 else None if nsec == (1 << 30) - 2
                            else sec * 10**9 + nsec)
        if phys:
            base, p = self.path(tid, dirfd, phys)
            w, name = self.box.resolve(base, p, follow=not s32(flags) & L.AT_SYMLINK_NOFOLLOW)
            fd = os.open(name or b".", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=w.fd)
            w.close()
        else:
            fd = os.dup(self.h(tid, dirfd).fd)
        try:
            s = os.fstat(fd)
            if times:
                ns = (vals[0] if vals[0] is not None else s.st_atime_ns,
                      vals[1] if vals[1] is not None else s.st_mtime_ns)
            if ns is None:                     # "now" (os.utime takes no ns=None)
                os.utime(f"/proc/self/fd/{fd}")
            else:
                os.utime(f"/proc/self/fd/{fd}", ns=ns)
        finally:
            os.close(fd)
        return 0

    def do_fcntl(self, tid, handle, cmd, arg, *_):
        hd = self.h(tid, handle)
        cmd = s32(cmd)
        if cmd == L.F_GETFL:
            return fcntl.fcntl(hd.fd, fcntl.F_GETFL)
        if cmd == L.F_SETFL:
            fcntl.fcntl(hd.fd, fcntl.F_SETFL, arg & (os.O_APPEND | os.O_NONBLOCK))
            return 0
        if cmd in (L.F_GETPIPE_SZ, L.F_SETPIPE_SZ):      # the kernel caps the size asked
            return fcntl.fcntl(hd.fd, cmd, arg & 0xFFFFFFFF)
        raise OSError(errno.EINVAL, "")

    def do_ioctl(self, tid, handle, request, out, *_):
        hd = self.h(tid, handle)
        request &= 0xFFFFFFFF
        if request == L.FIONREAD:
            n = int.from_bytes(fcntl.ioctl(hd.fd, termios.FIONREAD, b"\0" * 4), "little")
            self.put(out, n.to_bytes(4, "little"))
            return 0
        if hd.kind == C.KIND_SOCKET and request in L.SIOCGIF:   # an interface's name, index...
            self.put(out, fcntl.ioctl(hd.fd, request, bytes(self._range(out, L.IFREQ_SIZE))))
            return 0
        if not os.isatty(hd.fd):
            raise OSError(errno.ENOTTY, "")
        if request == L.TIOCGWINSZ:
            self.put(out, fcntl.ioctl(hd.fd, termios.TIOCGWINSZ, b"\0" * 8))
        elif request == L.TCGETS:
            self.put(out, fcntl.ioctl(hd.fd, termios.TCGETS, b"\0" * 60)[:L.TERMIOS_SIZE])
        elif request == L.TIOCGPGRP:               # the host's: the kernel keeps the guest's
            self.put(out, os.tcgetpgrp(hd.fd).to_bytes(4, "little"))
        elif request in (L.TCSETS, L.TCSETSW, L.TCSETSF):
            fcntl.ioctl(hd.fd, request, bytes(self._range(out, L.TERMIOS_SIZE)))
        elif request == L.TIOCSWINSZ:
            fcntl.ioctl(hd.fd, termios.TIOCSWINSZ, bytes(self._range(out, L.WINSIZE.size)))
        elif request == 0x80045430:                 # TIOCGPTN: a /dev/ptmx master's number
            self.put(out, fcntl.ioctl(hd.fd, request, b"\0" * 4))
        elif request == 0x40045431:                 # TIOCSPTLCK: (un)lock its pts
            fcntl.ioctl(hd.fd, request, bytes(self._range(out, 4)))
        elif request in (L.TCFLSH, L.TCXONC):      # `out` is the value itself
            fcntl.ioctl(hd.fd, request, out & 0xFFFFFFFF)
        else:
            raise OSError(errno.ENOTTY, "")
        return 0

    def do_pipe2(self, tid, flags, *_):
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)    # the guest's blocking is the kernel's
        self.new_handle(tid, r, None, C.KIND_FIFO)
        self.new_handle(tid, w, None, C.KIND_FIFO)
        return r | (w << 32)

    def do_chdir(self, tid, phys, *_):
        g = self.guest(tid)
        p = self.cstr(phys)
        if not p:
            raise OSError(errno.ENOENT, "")
        w, name = self.box.resolve(g.cwd, p)
        try:
            if name is not None:
                raise OSError(errno.ENOTDIR, "")
            if not os.access(b".", os.X_OK, dir_fd=w.fd):
                raise OSError(errno.EACCES, "")
            g.cwd = w.path
        finally:
            w.close()
        return 0

    def do_fchdir(self, tid, handle, *_):
        hd = self.h(tid, handle)
        if hd.kind != C.KIND_DIR or hd.path is None:
            raise OSError(errno.ENOTDIR, "")
        self.guest(tid).cwd = hd.path
        return 0

    def do_getcwd(self, tid, out, size, *_):
        cwd = self.guest(tid).cwd + b"\0"
        if len(cwd) > size:
            raise OSError(errno.ERANGE, "")
        self.put(out, cwd)
        return len(cwd)

    def do_sendfile(self, tid, out_h, in_h, has_offset, offset, count, *_):
        fout, fin = self.h(tid, out_h).fd, self.h(tid, in_h).fd
        return os.sendfile(fout, fin, s64(offset) if has_offset else None, count)


def _pack_stat(s) -> bytes:
    return _STAT.pack(s.st_dev, s.st_ino, s.st_nlink, s.st_mode, s.st_uid, s.st_gid, 0,
                      s.st_rdev, s.st_size, s.st_blksize, s.st_blocks,
                      s.st_atime_ns // 10**9, s.st_atime_ns % 10**9,
                      s.st_mtime_ns // 10**9, s.st_mtime_ns % 10**9,
                      s.st_ctime_ns // 10**9, s.st_ctime_ns % 10**9)


def _statfs(fd) -> bytes:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(120)
    if libc.fstatfs(fd, buf) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return buf.raw


def _list_dir(fd) -> list:
    s = os.fstat(fd)
    out = [(b".", s.st_ino, L.DT_DIR), (b"..", s.st_ino, L.DT_DIR)]
    dup = os.open(b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
    try:
        with os.scandir(dup) as it:
            for e in it:
                try:
                    dt = (L.DT_LNK if e.is_symlink() else L.DT_DIR if e.is_dir(follow_symlinks=False)
                          else L.DT_REG if e.is_file(follow_symlinks=False) else L.DT_UNKNOWN)
                except OSError:
                    dt = L.DT_UNKNOWN
                out.append((os.fsencode(e.name), e.inode(), dt))
    finally:
        os.close(dup)
    return out


__all__ = ["Server", "join"]
