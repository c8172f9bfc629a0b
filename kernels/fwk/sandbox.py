"""Path confinement: every guest path is resolved inside one root directory.

The walk follows gVisor's gofer and Linux's openat2(RESOLVE_IN_ROOT): one
component at a time from the root, each opened with O_PATH | O_NOFOLLOW
relative to the directory before it, so no host path is ever handed whole to
the host kernel:

* `..` steps back along the walk and is clamped at the root;
* a symlink is read through the handle just opened for it (no race with a
  swap) and its target walked in its place — an absolute target restarts at
  the root; more than MAXSYMLINKS of them give ELOOP;
* the final object is opened relative to its parent with O_NOFOLLOW.

Paths are guest paths: "/" is the root.  Each directory handle remembers the
canonical guest path it was reached by, and relative paths are walked from
the root along that path (a chroot'd process with a path-based cwd: a
directory renamed while open is found under its old name).  With `readonly`,
anything that would change the tree fails with EROFS.

Without --root the root is the host's "/", and the same code runs.

The host's procfs is azemu's own: no walk may open an entry of a host
process's /proc directory (its mem, fd/, maps — however the path got there:
/proc/self, a symlink to it, /proc/<pid>), nor anything in procfs for
writing.  The guest's own /proc/self is the kernel's (kernels/procfs.py).
"""
from __future__ import annotations

import errno
import os
import stat as st

MAXSYMLINKS = 40
PATH_MAX = 4096
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
try:
    _PROC_DEV = os.stat("/proc").st_dev
except OSError:
    _PROC_DEV = None
_PROCESS_DIR = __import__("re").compile(rb"^/proc/(\d+|self|thread-self)(/|$)")


def guard_proc(fd: int, flags: int) -> int:
    """`fd`, just opened, unless it is in the host's procfs and either
    under a process's directory or opened for writing: then EACCES."""
    if _PROC_DEV is None or os.fstat(fd).st_dev != _PROC_DEV:
        return fd
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        where = ""
    if flags & (os.O_WRONLY | os.O_RDWR) or _PROCESS_DIR.match(os.fsencode(where)) \
            or not where.startswith("/proc"):
        os.close(fd)
        raise _err(errno.EACCES)
    return fd


def _err(e):
    return OSError(e, os.strerror(e))


def split(path: bytes) -> list[bytes]:
    return [c for c in path.split(b"/") if c]


def join(parts: list[bytes]) -> bytes:
    return b"/" + b"/".join(parts)


class Walk:
    """Where a walk ended: the directory fds along it (closed by close())."""

    def __init__(self, root_fd):
        self.fds = [root_fd]          # fds[0] is the root: never closed here
        self.names: list[bytes] = []

    @property
    def fd(self) -> int:
        return self.fds[-1]

    @property
    def path(self) -> bytes:
        return join(self.names)

    def up(self):
        if self.names:
            os.close(self.fds.pop())
            self.names.pop()

    def down(self, fd, name):
        self.fds.append(fd)
        self.names.append(name)

    def reset(self):
        while self.names:
            self.up()

    def close(self):
        self.reset()


class Sandbox:
    def __init__(self, root: str | bytes | None = None, readonly: bool = False):
        self.root = os.fsencode(root or "/")
        self.readonly = readonly
        self.root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def check_writable(self):
        if self.readonly:
            raise _err(errno.EROFS)

    # ---- the walk ----------------------------------------------------------
    def _walk(self, w: Walk, comps: list[bytes], follow_last: bool, budget: list) -> bytes | None:
        """Walk `comps` from `w`; returns None when all were walked (w is the
        object itself, a directory), or the last component, not walked, when it
        is not a directory (or is a symlink and follow_last is False)."""
        i = 0
        while i < len(comps):
            c = comps[i]
            last = i == len(comps) - 1
            i += 1
            if c == b".":
                continue
            if c == b"..":
                w.up()
                continue
            if len(c) > 255:
                raise _err(errno.ENAMETOOLONG)
            fd = os.open(c, _O_PATH, dir_fd=w.fd)
            s = os.fstat(fd)
            if st.S_ISLNK(s.st_mode):
                if last and not follow_last:
                    os.close(fd)
                    return c
                budget[0] += 1
                if budget[0] > MAXSYMLINKS:
                    os.close(fd)
                    raise _err(errno.ELOOP)
                target = os.readlink(b"", dir_fd=fd)
                os.close(fd)
                if target.startswith(b"/"):
                    w.reset()
                rest = split(target) + comps[i:]
                if target.endswith(b"/") and not rest[len(split(target)):]:
                    rest.append(b".")
                comps, i = rest, 0
                continue
            if st.S_ISDIR(s.st_mode):
                w.down(fd, c)
                continue
            os.close(fd)
            if not last:
                raise _err(errno.ENOTDIR)
            return c
        return None

    def start(self, base: bytes, path: bytes) -> tuple[Walk, list[bytes]]:
        """A walk positioned at the root, and the components to walk: the
        base directory's guest path (for relative paths), then `path`."""
        if len(path) >= PATH_MAX:
            raise _err(errno.ENAMETOOLONG)
        w = Walk(self.root_fd)
        comps = split(path) if path.startswith(b"/") else split(base) + split(path)
        if path.endswith(b"/") and split(path):
            comps.append(b".")             # a trailing slash: it must be a directory
        return w, comps

    def resolve(self, base: bytes, path: bytes, follow: bool = True):
        """Walk the whole path.  Returns (walk, name): name is None when the
        object is the directory walk.fd; else the object is `name` in walk.fd
        (a non-directory, or an unfollowed symlink)."""
        w, comps = self.start(base, path)
        try:
            name = self._walk(w, comps, follow, [0])
        except BaseException:
            w.close()
            raise
        return w, name

    def parent(self, base: bytes, path: bytes):
        """Walk all but the last component.  Returns (walk, last) with `last`
        a plain name (never "." or ".."), for calls that create or remove it."""
        w, comps = self.start(base, path)
        while comps and comps[-1] == b".":
            comps.pop()
            if not comps:
                break
        if not comps:
            w.close()
            raise _err(errno.EBUSY if path.strip(b"/") == b"" else errno.EINVAL)
        last = comps[-1]
        try:
            name = self._walk(w, comps[:-1], True, [0])
            if name is not None:
                raise _err(errno.ENOTDIR)
        except BaseException:
            w.close()
            raise
        if last == b"..":
            w.close()
            raise _err(errno.ENOTEMPTY)
        if len(last) > 255:
            w.close()
            raise _err(errno.ENAMETOOLONG)
        return w, last

    # ---- opening -----------------------------------------------------------
    def open(self, base: bytes, path: bytes, flags: int, mode: int) -> tuple[int, bytes]:
        """openat inside the root; returns (host fd, canonical guest path)."""
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) or \
            flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1)
        if writes:
            self.check_writable()
        budget = [0]
        follow = not flags & os.O_NOFOLLOW
        if flags & os.O_CREAT and not flags & getattr(os, "O_DIRECTORY", 0):
            w, last = self.parent(base, path)
            try:
                for _ in range(MAXSYMLINKS + 1):
                    try:
                        fd = os.open(last, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=w.fd)
                        return guard_proc(fd, flags), join(w.names + [last])
                    except OSError as e:
                        if e.errno != errno.ELOOP or flags & os.O_EXCL or not follow:
                            raise
                    # the last component is a symlink: create or open its target
                    lfd = os.open(last, _O_PATH, dir_fd=w.fd)
                    target = os.readlink(b"", dir_fd=lfd)
                    os.close(lfd)
                    budget[0] += 1
                    if target.startswith(b"/"):
                        w.reset()
                    comps = split(target)
                    if not comps:
                        raise _err(errno.EISDIR)
                    name = self._walk(w, comps[:-1], True, budget)
                    if name is not None:
                        raise _err(errno.ENOTDIR)
                    last = comps[-1]
                raise _err(errno.ELOOP)
            finally:
                w.close()
        w, name = self.resolve(base, path, follow)
        try:
            if name is None:                    # a directory
                if flags & (os.O_WRONLY | os.O_RDWR):
                    raise _err(errno.EISDIR)
                fd = os.open(b".", flags | os.O_CLOEXEC, dir_fd=w.fd)
                return guard_proc(fd, flags), w.path
            if flags & getattr(os, "O_DIRECTORY", 0):
                raise _err(errno.ENOTDIR)
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=w.fd)
            return guard_proc(fd, flags), join(w.names + [name])
        finally:
            w.close()
