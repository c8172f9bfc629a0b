"""The state of one guest process: its open files, memory layout, identity,
signal dispositions and limits.  Syscall handlers receive the `Process` as
their first argument and change it; the kernel model around it decides how a
syscall reaches the handler.
"""
from __future__ import annotations

import os
import time

from .abi import linux as L
from .abi.linux_errno import EBADF, EBUSY, EMFILE
from .errors import LinuxError
from .rusage import Usage, image_ended
from .siginfo import Pending

NR_OPEN = 1048576       # fs.nr_open: the most RLIMIT_NOFILE may be


HOST_FDS = 64           # fds the serving host process keeps for itself


def _inherited_nofile() -> tuple[int, int]:
    """RLIMIT_NOFILE as the guest inherits it: azemu's own, as a process
    started from the same shell has it — less HOST_FDS from the hard limit,
    since the host process that holds the guest's fds (the FWK, or azemu
    itself) has fds of its own under the same limit (it raises its soft
    limit to the hard one: raise_own_nofile)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = (lambda v: NR_OPEN if v == resource.RLIM_INFINITY or v > NR_OPEN else v)
    soft, hard = cap(soft), cap(hard)
    if hard > 4 * HOST_FDS:
        hard -= HOST_FDS
    return min(soft, hard), hard


def raise_own_nofile() -> None:
    """The host process serving the guest's fds may use all its hard limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


NOFILE = _inherited_nofile()
MAX_FDS = NOFILE[0]     # RLIMIT_NOFILE's soft limit: the fds a process may have


class OpenFile:
    """An open file description: a host handle plus what the guest set on it.
    Shared by dup'ed descriptors, closed when the last one goes."""
    __slots__ = ("hfd", "flags", "path", "refs", "is_dir", "kind", "ident", "hostnb", "target", "ctty",
                 "model", "pos")

    def __init__(self, hfd: int, flags: int, path: bytes = b"", is_dir: bool = False, kind: int = 0):
        self.hfd, self.flags, self.path, self.is_dir, self.kind = hfd, flags, path, is_dir, kind
        self.refs = 0
        self.ident = None                     # (st_dev, st_ino), once the page cache asks
        self.hostnb = False                   # non-blocking on the host (a guest's pipe: kernels/blocking.py)
        self.target = None                    # a pidfd's process (kernels/syscalls/proc_pidfd.py)
        self.ctty = None                      # azemu's controlling terminal? (kernels/tty.py), once asked
        self.model = None                     # what the kernel's /proc, /dev or /sys made it (kernels/procfs.py)
        self.pos = 0                          # the offset of a /proc/PID/mem file


class FdTable:
    """Guest fd -> OpenFile.  `close_handle(hfd)` gives a handle back to the host."""

    def __init__(self, close_handle):
        self.close_handle = close_handle
        self.files: dict[int, OpenFile] = {}
        self.cloexec: set[int] = set()
        self.limit = MAX_FDS                  # RLIMIT_NOFILE's soft limit (kernel_sys.prlimit64)
        self.reserved: set[int] = set()       # numbers a blocked accept holds (reserve)

    def get(self, fd: int) -> OpenFile:
        try:
            return self.files[fd]
        except KeyError:
            raise LinuxError(EBADF) from None

    def lowest_free(self, lowest: int = 0) -> int:
        fd = lowest
        while fd in self.files or fd in self.reserved:
            fd += 1
        if fd >= self.limit:
            raise LinuxError(EMFILE)
        return fd

    def reserve(self) -> int:
        """Take the lowest free number before a call that may wait and then
        install a file (accept: Linux's get_unused_fd_flags before it
        blocks): other threads' files get other numbers meanwhile, and a
        dup2 onto it is EBUSY.  `install(at=)` or `unreserve` ends it."""
        fd = self.lowest_free()
        self.reserved.add(fd)
        return fd

    def unreserve(self, fd: int) -> None:
        self.reserved.discard(fd)

    def check_target(self, fd: int) -> None:
        """dup2/dup3 onto `fd`: EBUSY while a call holds it reserved."""
        if fd in self.reserved:
            raise LinuxError(EBUSY)

    def install(self, f: OpenFile, lowest: int = 0, cloexec: bool = False, at: int | None = None) -> int:
        if at is None:
            at = self.lowest_free(lowest)
        elif at in self.files:
            self.close(at)
        self.reserved.discard(at)
        f.refs += 1
        self.files[at] = f
        if cloexec:
            self.cloexec.add(at)
        else:
            self.cloexec.discard(at)
        return at

    def close(self, fd: int) -> None:
        f = self.files.pop(fd, None)
        if f is None:
            raise LinuxError(EBADF)
        self.cloexec.discard(fd)
        f.refs -= 1
        if f.refs == 0:
            self.close_handle(f.hfd)

    def close_all(self) -> None:
        for fd in list(self.files):
            try:
                self.close(fd)
            except (LinuxError, OSError):
                pass


def release_reserved(task) -> None:
    """A call that reserved an fd number (accept4) ended without a file:
    the number is free again (kernels/sched.py, when a wait ends the call,
    or the thread)."""
    s = task.sched
    if s.reserved is not None:
        fds, fd = s.reserved
        s.reserved = None
        fds.unreserve(fd)


class SigAction:
    __slots__ = ("handler", "flags", "restorer", "mask")

    def __init__(self, handler=L.SIG_DFL, flags=0, restorer=0, mask=0):
        self.handler, self.flags, self.restorer, self.mask = handler, flags, restorer, mask

    def copy(self) -> "SigAction":
        return SigAction(self.handler, self.flags, self.restorer, self.mask)


class Process:
    def __init__(self, mm, io, scratch, *, pid=None):
        self.mm = mm                          # azemu.memory.AddressSpace
        self.io = io                          # kernels.hostio.HostIO: files and sockets
        self.scratch = scratch                # kernels.hostio.Scratch of the current core
        self.pid = pid if pid is not None else os.getpid()
        self.tid = self.pid
        self.ppid = os.getppid()
        self.uid, self.euid = os.getuid(), os.geteuid()
        self.gid, self.egid = os.getgid(), os.getegid()
        self.pgid, self.sid = os.getpgrp(), os.getsid(0)
        self.umask = 0o022
        self.fds = FdTable(self._close_handle)
        self.brk_start = self.brk = 0
        self.sigactions = [SigAction() for _ in range(L.NSIG + 1)]
        self.sigmask = 0
        self.pending = Pending()              # signals waiting for an unblock (kernels/siginfo.py)
        self.signal_listeners = []            # signalfds to tell when one becomes pending
        self.timers = None                    # its timers, once it has one (kernels/timers.py)
        self.pending_delivery = []            # signals to deliver on syscall return
        self.saved_mask = None                # the mask sigsuspend replaced, for the frame
        self.altstack = (0, L.SS_DISABLE, 0)
        self.rlimits = {}
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        self.rseq = 0
        self.fs_base = 0
        self.gs_base = 0
        self.libos_block = None                # libOS images: this thread's call block
        self.libos = None                      # the libOS of its image (kernels/unikernel.py), if any
        self.instance = None                   # unikernel mode: its instance (kernels/instances.py)
        self.start_time = time.monotonic()
        self.exe = b""
        self.image = None                      # azemu.loader.Image of its program
        self.comm = b""                        # prctl(PR_SET_NAME), /proc/self/comm
        self.cmdline = b""                     # argv, NUL-separated: /proc/self/cmdline
        self.dumpable = 1
        self.pdeathsig = 0
        self.core = None                       # the core this task runs on
        self.kernel = None
        # As a process among others (kernels/procs.py)
        self.tasks = {self}                    # its live threads, this one first
        self.zombie = False                    # ended, not yet reaped
        self.stopped = False                   # by SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU
        self.report = None                     # ("stopped", sig) or ("continued", SIGCONT) for wait
        self.status = None                     # procs.WaitStatus, once ended
        self.vfork_parent = None               # the thread vfork suspended for it
        self.vfork_frame = None                # (address, bytes) of the parent's libOS call frame
        self.exit_signal = L.SIGCHLD           # what its parent is sent when it ends
        self.start_ticks = 0
        self.usage = Usage()                   # its ended threads' and images' (kernels/rusage.py)
        self.cusage = Usage()                  # the children it reaped by waiting
        self.pidfd_ends = []                   # host write ends of the pipes behind its pidfds

    def release_memory(self) -> None:
        """The process no longer uses its address space (exit, exec): the
        last user's end writes shared file pages back and frees the frames."""
        mm = self.mm
        mm.users -= 1
        if mm.users == 0:
            image_ended(self, mm)
            mm.close()

    def copy_files(self, close_handle) -> "FdTable":
        """A copy of the fd table sharing every open file description (fork);
        `close_handle` is the new owner's."""
        t = FdTable(close_handle)
        t.limit = self.fds.limit
        for fd, f in self.fds.files.items():
            f.refs += 1
            t.files[fd] = f
        t.cloexec = set(self.fds.cloexec)
        return t

    def _close_handle(self, hfd: int) -> None:
        from .abi.syscall_numbers import SYSCALL_NUMBERS
        try:
            self.io.call(SYSCALL_NUMBERS["close"], hfd)
        except LinuxError:
            pass

    def std_files(self) -> None:
        """Guest fds 0-2 refer to the host's stdin, stdout and stderr."""
        from .fwk.channel import FWK_STDIO
        from .abi.syscall_numbers import SYSCALL_NUMBERS
        for fd in (0, 1, 2):
            try:
                ret = self.io.call(FWK_STDIO, fd)
            except LinuxError:
                continue                       # closed in the host: closed in the guest
            hfd, kind = ret & 0xFFFFFFFF, (ret >> 32) & 0xFF
            flags = self.io.call(SYSCALL_NUMBERS["fcntl"], hfd, L.F_GETFL)
            self.fds.install(OpenFile(hfd, flags & ~L.O_LARGEFILE, b"", kind == 1, kind), at=fd)
