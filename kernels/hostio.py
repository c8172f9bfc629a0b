"""The narrow interface through which a kernel touches host files.

Every syscall handler that needs the host file system goes through a `HostIO`
object, never through `os` directly.  `LocalHostIO` serves the calls in this
process (the monolithic linux kernel model, and everything in the foundation
issue); the FWK proxy takes over the same interface for lwk and unikernel
guests by forwarding each call to another process.

Paths are host byte strings; `dirfd` is a host directory fd or None for "the
path is absolute or relative to the process's host cwd".  Errors are raised as
OSError and translated by the dispatcher.
"""
from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
STATFS_SIZE = 120            # struct statfs on x86-64 Linux


IOV_MAX = 1024


def _batched(call, views) -> int:
    if len(views) <= IOV_MAX:
        return call(views, 0)
    done = 0
    for i in range(0, len(views), IOV_MAX):
        chunk = views[i:i + IOV_MAX]
        n = call(chunk, done)
        done += n
        if n < sum(len(v) for v in chunk):
            break
    return done


class LocalHostIO:
    """Host I/O served in-process with plain system calls."""

    # files
    def open(self, path: bytes, flags: int, mode: int, dirfd=None) -> int:
        return os.open(path, flags, mode, dir_fd=dirfd)

    def close(self, hfd: int) -> None:
        os.close(hfd)

    def dup(self, hfd: int) -> int:
        return os.dup(hfd)

    # Vectored calls take at most IOV_MAX buffers: longer lists go in batches,
    # stopping at the first short transfer, as one call would.
    def readv(self, hfd: int, views) -> int:
        return _batched(lambda vs, off: os.readv(hfd, vs), views)

    def writev(self, hfd: int, views) -> int:
        return _batched(lambda vs, off: os.writev(hfd, vs), views)

    def preadv(self, hfd: int, views, offset: int) -> int:
        return _batched(lambda vs, off: os.preadv(hfd, vs, offset + off), views)

    def pwritev(self, hfd: int, views, offset: int) -> int:
        return _batched(lambda vs, off: os.pwritev(hfd, vs, offset + off), views)

    def lseek(self, hfd: int, offset: int, whence: int) -> int:
        return os.lseek(hfd, offset, whence)

    def fstat(self, hfd: int) -> os.stat_result:
        return os.fstat(hfd)

    def stat(self, path: bytes, follow: bool = True, dirfd=None) -> os.stat_result:
        return os.stat(path, dir_fd=dirfd, follow_symlinks=follow)

    def statfs(self, path: bytes) -> bytes:
        buf = ctypes.create_string_buffer(STATFS_SIZE)
        if _libc.statfs(path, buf) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return buf.raw

    def fstatfs(self, hfd: int) -> bytes:
        buf = ctypes.create_string_buffer(STATFS_SIZE)
        if _libc.fstatfs(hfd, buf) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return buf.raw

    def ftruncate(self, hfd: int, length: int) -> None:
        os.ftruncate(hfd, length)

    def fsync(self, hfd: int) -> None:
        os.fsync(hfd)

    def fcntl_getfl(self, hfd: int) -> int:
        import fcntl
        return fcntl.fcntl(hfd, fcntl.F_GETFL)

    def fcntl_setfl(self, hfd: int, flags: int) -> None:
        import fcntl
        fcntl.fcntl(hfd, fcntl.F_SETFL, flags)

    def ioctl_winsize(self, hfd: int) -> bytes:
        import fcntl
        import termios
        return fcntl.ioctl(hfd, termios.TIOCGWINSZ, b"\0" * 8)

    def ioctl_tcgets(self, hfd: int) -> bytes:
        import fcntl
        import termios
        return fcntl.ioctl(hfd, termios.TCGETS, b"\0" * 60)

    def isatty(self, hfd: int) -> bool:
        return os.isatty(hfd)

    def pipe(self, flags: int) -> tuple[int, int]:
        return os.pipe2(flags)

    # directories
    def list_dir(self, hfd: int) -> list[tuple[bytes, int, int]]:
        """(name, inode, d_type) of every entry, "." and ".." first."""
        st = os.fstat(hfd)
        out = [(b".", st.st_ino, 4), (b"..", st.st_ino, 4)]
        with os.scandir(hfd) as it:
            for e in it:
                try:
                    if e.is_symlink():
                        dt = 10
                    elif e.is_dir(follow_symlinks=False):
                        dt = 4
                    elif e.is_file(follow_symlinks=False):
                        dt = 8
                    else:
                        dt = 0
                except OSError:
                    dt = 0
                out.append((os.fsencode(e.name), e.inode(), dt))
        return out

    def mkdir(self, path: bytes, mode: int, dirfd=None) -> None:
        os.mkdir(path, mode, dir_fd=dirfd)

    def rmdir(self, path: bytes, dirfd=None) -> None:
        os.rmdir(path, dir_fd=dirfd)

    def unlink(self, path: bytes, dirfd=None) -> None:
        os.unlink(path, dir_fd=dirfd)

    def rename(self, old: bytes, new: bytes, olddirfd=None, newdirfd=None) -> None:
        os.rename(old, new, src_dir_fd=olddirfd, dst_dir_fd=newdirfd)

    def link(self, old: bytes, new: bytes, olddirfd=None, newdirfd=None, follow=False) -> None:
        os.link(old, new, src_dir_fd=olddirfd, dst_dir_fd=newdirfd, follow_symlinks=follow)

    def symlink(self, target: bytes, path: bytes, dirfd=None) -> None:
        os.symlink(target, path, dir_fd=dirfd)

    def readlink(self, path: bytes, dirfd=None) -> bytes:
        return os.readlink(path, dir_fd=dirfd)

    def access(self, path: bytes, mode: int, dirfd=None, effective=False, follow=True) -> bool:
        return os.access(path, mode, dir_fd=dirfd, effective_ids=effective, follow_symlinks=follow)

    def chmod(self, path: bytes, mode: int, dirfd=None, follow=True) -> None:
        os.chmod(path, mode, dir_fd=dirfd, follow_symlinks=follow)

    def fchmod(self, hfd: int, mode: int) -> None:
        os.fchmod(hfd, mode)

    def truncate(self, path: bytes, length: int) -> None:
        os.truncate(path, length)

    def utime(self, path, times_ns, dirfd=None, follow=True) -> None:
        """`path` may be a host fd (futimens)."""
        if isinstance(path, int):
            os.utime(path, ns=times_ns)
        else:
            os.utime(path, ns=times_ns, dir_fd=dirfd, follow_symlinks=follow)

    def tcgetpgrp(self, hfd: int) -> int:
        return os.tcgetpgrp(hfd)

    def realpath(self, path: bytes, dirfd=None) -> bytes:
        """The directory `path` names, symlinks resolved (for chdir)."""
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dirfd)
        try:
            return self.realpath_of_fd(fd)
        finally:
            os.close(fd)

    def fionread(self, hfd: int) -> int:
        import fcntl
        import termios
        buf = fcntl.ioctl(hfd, termios.FIONREAD, b"\0" * 4)
        return int.from_bytes(buf, "little")

    def is_mappable(self, hfd: int) -> bool:
        import stat as st
        mode = os.fstat(hfd).st_mode
        return st.S_ISREG(mode) or st.S_ISBLK(mode)

    def realpath_of_fd(self, hfd: int) -> bytes:
        return os.readlink(f"/proc/self/fd/{hfd}".encode())
