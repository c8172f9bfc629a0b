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

The guest's /proc, /dev and /sys are the kernel's (kernels/procfs.py): a
walk that arrives at one of them from the root — a relative path, `..`, a
symlink such as /etc/mtab -> ../proc/self/mounts — stops and hands the
guest path back (`Redirect`, EMODEL to the kernel), which looks it up in
its own tree.  Only /dev/shm is a host directory: one of the sandbox's own,
made for the run and removed after it, shared by every process of the
instance (POSIX shared memory).

No walk enters a host procfs, sysfs, devtmpfs or other kernel file system
wherever it is mounted (inside --root too): the host's procfs is azemu's
own — its memory, its descriptors.  And no walk opens a device node (as
a `nodev` mount): the devices a guest may use are the kernel's /dev.

Runs of plain components are walked in one host call where the host has
openat2 (probed once; ENOSYS or EPERM from a seccomp filter, or
AZEMU_SANDBOX_WALK=components: one component at a time, as before).  A run
is the components between two `..`, never the first one of the root (it
may be /proc, /dev, /sys) nor, for a lookup, the path's last one (a symlink
there may be wanted unfollowed), and it is opened as directories with
RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV: a symlink (ELOOP),
a mount point (EXDEV) or a concurrent rename (EAGAIN) in it makes the walk
take that run one component at a time, which follows the link inside the
root or checks the mount, exactly as without openat2.  The last component
is looked at with one fstatat: a file on the directory's device is done;
a directory, a symlink to follow or another device is opened and checked
as before.  RESOLVE_IN_ROOT is the walk's own semantics (a chroot's); the
host only ever sees paths where it and RESOLVE_BENEATH agree, and BENEATH
fails closed.  So the rules above hold unchanged; only the number of host
calls changes (`/usr/bin/ls`: one openat2 and one fstatat, instead of
three opens, three fstats, three closes).  The directories inside a run
are not opened: a walk that steps back into one (`..` after a symlink)
opens it then, by the same kind of call from the nearest directory held.
"""
from __future__ import annotations

import ctypes
import errno
import os
import stat as st

from ..abi.linux import RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV

MAXSYMLINKS = 40
PATH_MAX = 4096
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
try:
    _PROC_DEV = os.stat("/proc").st_dev
except OSError:
    _PROC_DEV = None
_PROCESS_DIR = __import__("re").compile(rb"^/proc/(\d+|self|thread-self)(/|$)")
TOPS = (b"proc", b"dev", b"sys")             # the kernel's trees (kernels/procfs.py)
EMODEL = 600                                 # kernels/fwk/channel.py
_DEV_LEVEL = -1                              # the walk is at the guest's /dev (only shm/ below)
# Kernel file systems no walk enters (statfs magic numbers, include/uapi/linux/magic.h)
_KERNEL_FS = {0x9FA0, 0x62656572, 0x1CD1, 0x64626720, 0x74726163, 0x73636673, 0x27E0EB,
              0x63677270, 0xCAFE4A11, 0x42494E4D, 0x6165676C, 0xDE5E81E4, 0xF97CFF8C}
_libc = None

# ---- openat2 for runs of plain components (see the module's docstring) ----
_NR_OPENAT2 = 437
_RUN_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC   # (O_NOFOLLOW would open a last symlink)
_RUN_RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV
_RUN_RETRY = (errno.ELOOP, errno.EXDEV, errno.EAGAIN)   # the run walked one at a time
_RUN_FINAL = (errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.ENAMETOOLONG)  # as the walk's


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _make_openat2():
    """A function (dirfd, relative path) -> O_PATH directory fd by openat2,
    or None when the host has no usable openat2 (or AZEMU_SANDBOX_WALK=components)."""
    if os.environ.get("AZEMU_SANDBOX_WALK") == "components":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    how = _OpenHow(_RUN_FLAGS, 0, _RUN_RESOLVE)
    ref, size, get_errno, strerror = ctypes.byref(how), ctypes.sizeof(how), ctypes.get_errno, os.strerror

    def openat2(dirfd: int, path: bytes) -> int:
        fd = syscall(_NR_OPENAT2, dirfd, path, ref, size)
        if fd < 0:
            e = get_errno()
            raise OSError(e, strerror(e))
        return fd
    try:
        os.close(openat2(-100, b"."))           # AT_FDCWD: is it there, and allowed?
    except OSError:                            # ENOSYS, EPERM (seccomp), EINVAL (old kernel)
        return None
    return openat2


_openat2 = _make_openat2()


def fast_walks() -> bool:
    """Are runs of components walked by openat2 in this process?"""
    return _openat2 is not None


class Redirect(OSError):
    """The walk arrived at the guest's /proc, /dev or /sys: `path` is the
    guest path to look up in the kernel's tree."""

    def __init__(self, path: bytes):
        super().__init__(EMODEL, "the kernel's own tree")
        self.path = path


def _fs_type(fd: int) -> int:
    import ctypes
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(120)
    if _libc.fstatfs(fd, buf) != 0:
        return 0
    return int.from_bytes(buf.raw[:8], "little")


def _kernel_fs_devices() -> set:
    """st_dev of the host's kernel file systems in its mount table (devtmpfs
    among them: its statfs magic is tmpfs's)."""
    found = set()
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split()
                sep = fields.index(b"-")
                if fields[sep + 1] in (b"devtmpfs", b"proc", b"sysfs", b"devpts"):
                    major, minor = fields[2].split(b":")
                    found.add(os.makedev(int(major), int(minor)))
    except (OSError, ValueError):
        pass
    return found


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


def _no_device(name: bytes, dir_fd: int) -> None:
    """A device node found by a walk is not opened (as on a nodev mount)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if st.S_ISCHR(mode) or st.S_ISBLK(mode):
        raise _err(errno.EACCES)


def _no_device_fd(fd: int) -> int:
    """`fd`, just opened, unless a device node was swapped in for the file
    the walk found (the check before the open and the open are two calls)."""
    mode = os.fstat(fd).st_mode
    if st.S_ISCHR(mode) or st.S_ISBLK(mode):
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
    """Where a walk ended: the directory fds along it (closed by close()).
    With openat2's `resolve` flags, `floor` is the depth of the directory
    the path is resolved from: RESOLVE_BENEATH refuses to go above it
    (EXDEV), RESOLVE_IN_ROOT takes it as the root."""

    def __init__(self, root_fd, root_dev=None):
        self.fds = [root_fd]          # fds[0] is the root: never closed here
        self.names: list[bytes] = []
        self.devs = [root_dev]        # the file system each directory is on
        self.last_mode = 0            # st_mode of the last component, when not a directory
        self.resolve, self.floor = 0, 0
        self.rooted = True            # has the walk a root (openat2: an absolute path, IN_ROOT)?

    def dotdot(self):
        """`..` in a path."""
        if self.resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) and len(self.names) <= self.floor:
            if self.resolve & RESOLVE_BENEATH:
                raise _err(errno.EXDEV)
            return                    # RESOLVE_IN_ROOT: `..` of the root is the root
        if self.resolve & RESOLVE_NO_XDEV and len(self.devs) > 1 and self.devs[-1] != self.devs[-2]:
            raise _err(errno.EXDEV)
        self.up()

    def to_root(self):
        """An absolute symlink: from the root again (or the floor).  With
        RESOLVE_NO_XDEV, Linux refuses the jump (EXDEV) while the walk has
        no root yet: a relative path, before any absolute link (nd_jump_root)."""
        if self.resolve & RESOLVE_BENEATH or self.resolve & RESOLVE_NO_XDEV and not self.rooted:
            raise _err(errno.EXDEV)
        self.rooted = True
        while len(self.names) > (self.floor if self.resolve & RESOLVE_IN_ROOT else 0):
            self.up()

    @property
    def fd(self) -> int:
        fd = self.fds[-1]
        return fd if fd is not None else self._reopen()

    @property
    def path(self) -> bytes:
        return join(self.names)

    def _reopen(self) -> int:
        """The directory of a run not opened by the run's openat2 (None in
        fds): opened now, from the nearest directory held, the same way."""
        top = len(self.fds) - 1
        at = top - 1
        while self.fds[at] is None:
            at -= 1
        try:
            fd = _openat2(self.fds[at], b"/".join(self.names[at:top]))
        except OSError as e:                 # changed since: as if gone
            raise _err(errno.ENOENT if e.errno in _RUN_RETRY else e.errno) from None
        self.fds[top] = fd
        return fd

    def up(self):
        if self.names:
            fd = self.fds.pop()
            if fd is not None and fd != _DEV_LEVEL:
                os.close(fd)
            self.names.pop()
            self.devs.pop()

    def run(self, fd, names, dev):
        """A run of directories walked by one openat2: `fd` is the last."""
        k = len(names)
        self.fds.extend([None] * (k - 1))
        self.fds.append(fd)
        self.names.extend(names)
        self.devs.extend([dev] * k)

    def down(self, fd, name, dev=None):
        self.fds.append(fd)
        self.names.append(name)
        self.devs.append(dev)

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
        self.root_dev = os.fstat(self.root_fd).st_dev
        self.kernel_fs = _kernel_fs_devices()     # st_dev -> refused; others checked once each
        self.checked = {self.root_dev}
        self.shm_fd = -1
        self.shm_path = None

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1
        if self.shm_fd >= 0:
            os.close(self.shm_fd)
            self.shm_fd = -1
            import shutil
            shutil.rmtree(self.shm_path, ignore_errors=True)

    def shm(self) -> int:
        """The directory behind the guest's /dev/shm (made on first use)."""
        if self.shm_fd < 0:
            import tempfile
            where = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
            self.shm_path = tempfile.mkdtemp(prefix="azemu-shm-", dir=where)
            os.chmod(self.shm_path, 0o1777)
            import atexit
            import shutil
            atexit.register(shutil.rmtree, self.shm_path, True)
            self.shm_fd = os.open(self.shm_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self.shm_fd

    def _kernel_fs(self, dev: int, fd: int) -> bool:
        """Is the directory `fd`, on device `dev`, in a host kernel file system?"""
        if dev in self.checked:
            return False
        if dev in self.kernel_fs or _fs_type(fd) in _KERNEL_FS:
            self.kernel_fs.add(dev)
            return True
        self.checked.add(dev)
        return False

    def check_writable(self):
        if self.readonly:
            raise _err(errno.EROFS)

    # ---- the walk ----------------------------------------------------------
    def _run(self, w: Walk, comps: list[bytes], i: int, dirs: bool) -> tuple[int, int]:
        """Walk the run of plain components from comps[i] by one openat2
        (the last component too when `dirs`: all must be directories).
        Returns (where the walk goes on, end of the components it must take
        one at a time: the run, when a symlink or mount point is in it)."""
        end = len(comps) if dirs else len(comps) - 1
        j = i
        while j < end and comps[j] != b"..":
            j += 1
        names = [c for c in comps[i:j] if c != b"."]
        if not names:
            return i, i
        try:
            fd = _openat2(w.fd, b"/".join(comps[i:j]))
        except OSError as e:
            if e.errno in _RUN_FINAL:
                raise
            return i, j                            # ELOOP, EXDEV, EAGAIN (or anything else)
        w.run(fd, names, w.devs[-1])
        return j, j

    def _walk(self, w: Walk, comps: list[bytes], follow_last: bool, budget: list,
              dirs: bool = False) -> bytes | None:
        """Walk `comps` from `w`; returns None when all were walked (w is the
        object itself, a directory), or the last component, not walked, when it
        is not a directory (or is a symlink and follow_last is False).  With
        `dirs`, every component is to be a directory (a parent's walk)."""
        i = slow = 0                  # comps[:slow]: one at a time (a run of them failed)
        while i < len(comps):
            c = comps[i]
            if i >= slow and _openat2 is not None and not w.resolve and c != b"." \
                    and w.fds[-1] != _DEV_LEVEL and (w.names or c not in TOPS):
                i, slow = self._run(w, comps, i, dirs)
                if i >= len(comps):
                    break
                c = comps[i]
            last = i == len(comps) - 1
            i += 1
            if c == b".":
                continue
            if c == b"..":
                w.dotdot()
                continue
            if len(c) > 255:
                raise _err(errno.ENAMETOOLONG)
            if w.fd == _DEV_LEVEL:                # the guest's /dev: only shm/ is the host's
                if c != b"shm":
                    raise Redirect(join([b"dev", c] + comps[i:]))
                shm = self.shm()
                w.down(os.dup(shm), c, os.fstat(shm).st_dev)
                continue
            if not w.names and c in TOPS:
                if w.resolve & RESOLVE_NO_XDEV and w.floor == 0:   # the kernel's /proc...: mounts
                    raise _err(errno.EXDEV)
                if c == b"dev" and comps[i:i + 1] == [b"shm"]:
                    w.down(_DEV_LEVEL, c)
                    continue
                raise Redirect(join([c] + comps[i:]))
            if last and _openat2 is not None:     # a file at the end: one fstatat tells
                s = os.stat(c, dir_fd=w.fd, follow_symlinks=False)
                if s.st_dev == w.devs[-1] and not st.S_ISDIR(s.st_mode) and \
                        (not st.S_ISLNK(s.st_mode) or not follow_last):
                    w.last_mode = s.st_mode
                    return c
            fd = os.open(c, _O_PATH, dir_fd=w.fd)
            s = os.fstat(fd)
            if s.st_dev != w.devs[-1] and s.st_dev not in self.checked and \
                    self._kernel_fs(s.st_dev, fd):
                os.close(fd)
                raise _err(errno.EACCES)
            if s.st_dev != w.devs[-1] and w.resolve & RESOLVE_NO_XDEV and len(w.names) >= w.floor:
                os.close(fd)
                raise _err(errno.EXDEV)
            if st.S_ISLNK(s.st_mode):
                if last and not follow_last:
                    os.close(fd)
                    w.last_mode = s.st_mode
                    return c
                budget[0] += 1
                if budget[0] > MAXSYMLINKS or w.resolve & RESOLVE_NO_SYMLINKS:
                    os.close(fd)
                    raise _err(errno.ELOOP)
                target = os.readlink(b"", dir_fd=fd)
                os.close(fd)
                if target.startswith(b"/"):
                    w.to_root()
                rest = split(target) + comps[i:]
                if target.endswith(b"/") and not rest[len(split(target)):]:
                    rest.append(b".")
                comps, i, slow = rest, 0, 0
                continue
            if st.S_ISDIR(s.st_mode):
                w.down(fd, c, s.st_dev)
                continue
            os.close(fd)
            if not last:
                raise _err(errno.ENOTDIR)
            w.last_mode = s.st_mode
            return c
        if w.fd == _DEV_LEVEL:
            raise Redirect(b"/dev")
        return None

    def start(self, base: bytes, path: bytes, resolve: int = 0) -> tuple[Walk, list[bytes]]:
        """A walk positioned at the root, and the components to walk: the
        base directory's guest path (for relative paths), then `path`."""
        if len(path) >= PATH_MAX:
            raise _err(errno.ENAMETOOLONG)
        w = Walk(self.root_fd, self.root_dev)
        if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT):
            if path.startswith(b"/") and resolve & RESOLVE_BENEATH:
                raise _err(errno.EXDEV)
            comps = split(base) + split(path)      # IN_ROOT: an absolute path starts at base
            w.floor = len(split(base))
        elif path.startswith(b"/"):
            comps = split(path)
        else:
            comps = split(base) + split(path)
            w.floor = len(split(base))             # (base's own walk is not the path's)
        w.resolve = resolve
        w.rooted = path.startswith(b"/") or bool(resolve & RESOLVE_IN_ROOT)
        if path.endswith(b"/") and split(path):
            comps.append(b".")             # a trailing slash: it must be a directory
        return w, comps

    def resolve(self, base: bytes, path: bytes, follow: bool = True, resolve: int = 0):
        """Walk the whole path.  Returns (walk, name): name is None when the
        object is the directory walk.fd; else the object is `name` in walk.fd
        (a non-directory, or an unfollowed symlink)."""
        w, comps = self.start(base, path, resolve)
        try:
            name = self._walk(w, comps, follow, [0])
        except BaseException:
            w.close()
            raise
        return w, name

    def parent(self, base: bytes, path: bytes, resolve: int = 0):
        """Walk all but the last component.  Returns (walk, last) with `last`
        a plain name (never "." or ".."), for calls that create or remove it."""
        w, comps = self.start(base, path, resolve)
        while comps and comps[-1] == b".":
            comps.pop()
            if not comps:
                break
        if not comps:
            w.close()
            raise _err(errno.EBUSY if path.strip(b"/") == b"" else errno.EINVAL)
        last = comps[-1]
        try:
            if not comps[:-1] and last in TOPS:     # /proc, /dev, /sys themselves
                w.close()
                raise Redirect(join([last]))
            try:
                name = self._walk(w, comps[:-1], True, [0], dirs=True)
            except Redirect as e:
                e.path = e.path.rstrip(b"/") + b"/" + last
                raise
            if name is not None:
                raise _err(errno.ENOTDIR)
        except Redirect:
            w.close()
            raise
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
    def open(self, base: bytes, path: bytes, flags: int, mode: int,
             resolve: int = 0) -> tuple[int, bytes]:
        """openat inside the root — openat2 with its `resolve` flags; returns
        (host fd, canonical guest path)."""
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) or \
            flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1)
        if writes:
            self.check_writable()
        budget = [0]
        follow = not flags & os.O_NOFOLLOW
        if flags & os.O_CREAT and not flags & getattr(os, "O_DIRECTORY", 0):
            if path.endswith(b"/"):                # a directory cannot be created by open
                raise _err(errno.EISDIR)
            w, last = self.parent(base, path, resolve)
            try:
                for _ in range(MAXSYMLINKS + 1):
                    try:
                        _no_device(last, w.fd)
                        fd = os.open(last, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=w.fd)
                        return _no_device_fd(guard_proc(fd, flags)), join(w.names + [last])
                    except OSError as e:
                        if e.errno != errno.ELOOP or flags & os.O_EXCL or not follow or \
                                resolve & RESOLVE_NO_SYMLINKS:
                            raise
                    # the last component is a symlink: create or open its target
                    lfd = os.open(last, _O_PATH, dir_fd=w.fd)
                    target = os.readlink(b"", dir_fd=lfd)
                    os.close(lfd)
                    budget[0] += 1
                    if target.startswith(b"/"):
                        w.to_root()
                    comps = split(target)
                    if not comps:
                        raise _err(errno.EISDIR)
                    name = self._walk(w, comps[:-1], True, budget, dirs=True)
                    if name is not None:
                        raise _err(errno.ENOTDIR)
                    last = comps[-1]
                    if last in (b".", b".."):          # a directory, never created nor opened here
                        raise _err(errno.EISDIR)
                raise _err(errno.ELOOP)
            finally:
                w.close()
        w, name = self.resolve(base, path, follow, resolve)
        try:
            if name is None:                    # a directory
                if flags & (os.O_WRONLY | os.O_RDWR):
                    raise _err(errno.EISDIR)
                fd = os.open(b".", flags | os.O_CLOEXEC, dir_fd=w.fd)
                return guard_proc(fd, flags), w.path
            if flags & getattr(os, "O_DIRECTORY", 0):
                raise _err(errno.ENOTDIR)
            if st.S_ISCHR(w.last_mode) or st.S_ISBLK(w.last_mode):
                raise _err(errno.EACCES)         # a device node: not opened (nodev)
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=w.fd)
            return _no_device_fd(guard_proc(fd, flags)), join(w.names + [name])
        finally:
            w.close()
