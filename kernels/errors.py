"""How a syscall handler fails, and how the guest leaves.

Handlers raise `LinuxError(errno)`; the dispatcher (kernels/syscalls/dispatch.py)
is the one place that turns it — or a host OSError, or a bad guest pointer —
into the `-errno` the guest sees.
"""
from .abi.linux_errno import ERRNO_NAMES


class LinuxError(Exception):
    __slots__ = ("errno",)

    def __init__(self, errno: int):
        self.errno = errno

    def __str__(self):
        return ERRNO_NAMES.get(self.errno, str(self.errno))


class ModelPath(LinuxError):
    """The FWK's walk of a path arrived at the guest's /proc, /dev or /sys
    (kernels/fwk/sandbox.py): the kernel's tree answers (kernels/procfs.py).
    A call that does not ask the tree fails with EACCES, as on a file system
    the guest may not change."""
    __slots__ = ()

    def __init__(self):
        super().__init__(13)


class RegistersSet(Exception):
    """Raised by a handler that has written the guest's registers itself
    (rt_sigreturn): the entry path must not write a result into rax."""


class Block(Exception):
    """Raised by a handler whose task must wait (futex, sleep, yield with other
    threads ready): the entry stops the core; the scheduler resumes the task,
    with its result in rax, when the wait is over."""


class GuestExit(Exception):
    """The process is over: exited with `status`, or killed by `signal`."""

    def __init__(self, status: int = 0, signal: int = 0, report: str = "", result=None):
        self.status = status
        self.signal = signal
        self.report = report
        self.result = result     # what the call that raised the fatal signal returned (traces)

    @property
    def exit_status(self) -> int:
        """What a shell would show: the status, or 128 + the killing signal."""
        return 128 + self.signal if self.signal else self.status & 0xFF
