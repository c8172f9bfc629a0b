"""process_vm_readv and process_vm_writev (Linux mm/process_vm_access.c):
copy between this process's memory and another's of the same instance; and
kcmp (kernel/kcmp.c), which asks whether two processes share a resource.

The other process is any the caller may look into as ptrace would (the same
user's, or root's: kernels/procfs.py may_look; EPERM otherwise).  Unlike
/proc/PID/mem its memory's protection is asked: the copy stops at the first
page the other process could not read (or write), and the count copied so
far is returned — EFAULT only when nothing was.  Both sides go through the
address spaces' page tables, frame by frame.
"""
from __future__ import annotations

from azemu.memory import GuestFault

from ..abi import linux as L
from ..abi.linux_errno import EACCES, EBADF, EFAULT, EINVAL, EOPNOTSUPP, EPERM, ESRCH
from ..errors import LinuxError
from ..procfs import may_look
from .util import s32


def _iovs(mm, at: int, count: int) -> list[tuple[int, int]]:
    if count > L.IOV_MAX:
        raise LinuxError(EINVAL)
    raw = mm.read(at, 16 * count) if count else b""
    out = []
    for i in range(count):
        base, n = L.IOVEC.unpack_from(raw, 16 * i)
        if n > 1 << 62:
            raise LinuxError(EINVAL)
        if n:
            out.append((base, n))
    return out


def _target(p, pid: int):
    proc = p.kernel.procs.get(s32(pid)) if p.kernel is not None else None
    if proc is None or proc.zombie or proc.mm is None:
        raise LinuxError(ESRCH)
    try:
        may_look(p, proc)
    except LinuxError as e:
        raise LinuxError(EPERM if e.errno == EACCES else e.errno) from None
    return proc


def _copy(p, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write: bool) -> int:
    if flags:
        raise LinuxError(EINVAL)
    local, remote = _iovs(p.mm, local_iov, liovcnt), _iovs(p.mm, remote_iov, riovcnt)
    other = _target(p, pid).mm
    view = p.mm.phys.view
    done, li, loff = 0, 0, 0
    for rbase, rlen in remote:
        roff = 0
        while roff < rlen and li < len(local):
            lbase, llen = local[li]
            n = min(rlen - roff, llen - loff)
            try:                                  # the remote side: its own protection
                rspans = other.extents(rbase + roff, n, write=write, partial=True)
                lspans = p.mm.extents(lbase + loff, sum(k for _, k in rspans), write=not write,
                                      partial=True)
            except GuestFault:
                if done:
                    return done
                raise LinuxError(EFAULT) from None
            src, dst = (lspans, rspans) if write else (rspans, lspans)
            data = b"".join(bytes(view[o:o + k]) for o, k in src)
            moved = 0
            for o, k in dst:
                k = min(k, len(data) - moved)
                view[o:o + k] = data[moved:moved + k]
                moved += k
            done += moved
            if moved < n:                         # a page it could not reach: what was copied
                return done
            roff += n
            loff += n
            if loff == llen:
                li, loff = li + 1, 0
    return done


def process_vm_readv(p, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    return _copy(p, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write=False)


def process_vm_writev(p, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    return _copy(p, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write=True)


# kcmp (Linux kernel/kcmp.c): are two processes' resources the same object?
KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM = range(7)
KCMP_EPOLL_TFD = 7


def kcmp(p, pid1, pid2, type_, idx1, idx2):
    """0 when the resources are the same object; else 1 or 2 by an order
    of objects that is stable within a run (Linux: of kernel addresses,
    obfuscated); EBADF for an fd that is not open."""
    a, b = _target(p, pid1), _target(p, pid2)
    type_ = s32(type_)
    if type_ == KCMP_FILE:
        fa, fb = a.fds.files.get(s32(idx1)), b.fds.files.get(s32(idx2))
        if fa is None or fb is None:
            raise LinuxError(EBADF)
        x, y = fa, fb
    elif type_ == KCMP_VM:
        x, y = a.mm, b.mm
    elif type_ == KCMP_FILES:
        x, y = a.fds, b.fds
    elif type_ in (KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM):
        # Not shared between processes here (no CLONE_FS/SIGHAND/IO across
        # processes): the same process's, or different.
        x, y = a.proc, b.proc
    elif type_ == KCMP_EPOLL_TFD:
        raise LinuxError(EOPNOTSUPP)
    else:
        raise LinuxError(EINVAL)
    if x is y:
        return 0
    return 1 if id(x) < id(y) else 2
