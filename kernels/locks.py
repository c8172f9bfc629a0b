"""POSIX record locks and open-file-description locks (Linux fs/locks.c),
kept by the kernel model between the instance's processes.

The host cannot keep them: every guest file is opened by one host process
(azemu, or its FWK proxy), and the host's fcntl locks belong to a process,
so two guest processes would never conflict.  So the kernel keeps them, per
file (its host (st_dev, st_ino)), as Linux does:

* a POSIX lock (F_SETLK, F_SETLKW, F_GETLK) belongs to a process: its own
  locks never conflict with each other, a new one replaces the overlapping
  part of the old, and closing *any* of its fds for the file drops all its
  locks on that file — as does its exit;
* an OFD lock (F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK) belongs to an open
  file description, shared by dup and fork, dropped when its last fd closes;
* a read lock conflicts with another owner's write lock, a write lock with
  any other owner's lock; F_SETLK fails with EAGAIN, F_SETLKW waits in the
  scheduler (a signal ends the wait: EINTR, or a restart with SA_RESTART)
  and gives EDEADLK when the owner it waits for waits for it.
"""
from __future__ import annotations

import struct

from .abi import linux as L
from .abi.linux_errno import EAGAIN, EBADF, EDEADLK, EINVAL
from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
from .errors import LinuxError

FLOCK = struct.Struct("<hhxxxxqqi4x")             # struct flock (x86-64)
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
END = 1 << 63                                     # "to the end of the file, and beyond"


class Lock:
    __slots__ = ("owner", "kind", "start", "end", "pid")

    def __init__(self, owner, kind, start, end, pid):
        self.owner, self.kind, self.start, self.end, self.pid = owner, kind, start, end, pid

    def meets(self, start, end) -> bool:
        return self.start <= end and start <= self.end


class RecordLocks:
    def __init__(self):
        self.files: dict[tuple, list[Lock]] = {}
        self.waiting: dict[object, object] = {}    # owner -> the owner it waits for

    def conflict(self, key, owner, kind, start, end):
        for lk in self.files.get(key, ()):
            if lk.owner is not owner and lk.meets(start, end) and F_WRLCK in (kind, lk.kind):
                return lk
        return None

    def set(self, key, owner, kind, start, end, pid) -> None:
        """Replace `owner`'s locks over [start, end] by one of `kind` (or none)."""
        kept = []
        for lk in self.files.get(key, ()):
            if lk.owner is not owner or not lk.meets(start, end):
                kept.append(lk)
                continue
            if lk.start < start:
                kept.append(Lock(owner, lk.kind, lk.start, start - 1, lk.pid))
            if lk.end > end:
                kept.append(Lock(owner, lk.kind, end + 1, lk.end, lk.pid))
        if kind != F_UNLCK:
            kept.append(Lock(owner, kind, start, end, pid))
        kept.sort(key=lambda lk: lk.start)        # as Linux lists them: F_GETLK finds the first
        if kept:
            self.files[key] = kept
        else:
            self.files.pop(key, None)

    def drop(self, owner, key=None) -> list:
        """Every lock of `owner` (on the file `key` only, if given): the keys freed."""
        freed = []
        for k in [key] if key is not None else list(self.files):
            locks = self.files.get(k, [])
            mine = [lk for lk in locks if lk.owner is owner]
            if mine:
                rest = [lk for lk in locks if lk.owner is not owner]
                if rest:
                    self.files[k] = rest
                else:
                    del self.files[k]
                freed.append(k)
        return freed


def table(k) -> RecordLocks:
    if k.record_locks is None:
        k.record_locks = RecordLocks()
    return k.record_locks


def identity(p, f) -> tuple | None:
    """The file's (st_dev, st_ino), kept on it; None if the host has none."""
    try:
        return _key(p, f)
    except LinuxError:
        return None


def _key(p, f) -> tuple:
    if f.ident is None:
        out = p.scratch.alloc(L.STAT.size)
        p.io.call(NR["fstat"], f.hfd, out)
        st = L.STAT.unpack(p.scratch.get(out, L.STAT.size))
        f.ident = (st[0], st[1])
    return f.ident


def _range(p, f, whence, start, length) -> tuple[int, int]:
    if whence == L.SEEK_CUR:
        start += p.io.call(NR["lseek"], f.hfd, 0, L.SEEK_CUR)
    elif whence == L.SEEK_END:
        out = p.scratch.alloc(L.STAT.size)
        p.io.call(NR["fstat"], f.hfd, out)
        start += L.STAT.unpack(p.scratch.get(out, L.STAT.size))[8]
    elif whence != L.SEEK_SET:
        raise LinuxError(EINVAL)
    if length > 0:
        end = start + length - 1
    elif length < 0:
        start, end = start + length, start - 1
    else:
        end = END
    if start < 0:
        raise LinuxError(EINVAL)
    return start, end


def fcntl_lock(p, f, cmd: int, arg: int) -> int:
    """F_GETLK, F_SETLK, F_SETLKW and their OFD forms on open file `f`."""
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    kind, whence, start, length, pid = FLOCK.unpack(p.mm.read(arg, FLOCK.size))
    if kind not in (F_RDLCK, F_WRLCK, F_UNLCK) or (ofd and pid != 0):
        raise LinuxError(EINVAL)
    p.scratch.reset()
    start, end = _range(p, f, whence, start, length)
    owner = f if ofd else p.proc
    locks, key = table(p.kernel), _key(p, f)
    if cmd in (L.F_GETLK, F_OFD_GETLK):
        if kind == F_UNLCK:
            raise LinuxError(EINVAL)
        lk = locks.conflict(key, owner, kind, start, end)
        if lk is None:
            p.mm.write(arg, FLOCK.pack(F_UNLCK, whence, start, length, pid))
        else:
            n = 0 if lk.end == END else lk.end - lk.start + 1
            p.mm.write(arg, FLOCK.pack(lk.kind, L.SEEK_SET, lk.start, n, -1 if ofd else lk.pid))
        return 0
    access = f.flags & L.O_ACCMODE
    if kind == F_RDLCK and access == L.O_WRONLY or kind == F_WRLCK and access == L.O_RDONLY:
        raise LinuxError(EBADF)
    lk = locks.conflict(key, owner, kind, start, end) if kind != F_UNLCK else None
    if lk is not None:
        if cmd in (L.F_SETLK, F_OFD_SETLK):
            raise LinuxError(EAGAIN)
        if locks.waiting.get(lk.owner) is owner:  # it waits for us: neither would wake
            raise LinuxError(EDEADLK)
        locks.waiting[owner] = lk.owner
        p.kernel.sched.wait(p, futex=("record-lock", key), restart=True)
    locks.waiting.pop(owner, None)
    locks.set(key, owner, kind, start, end, p.pid)
    if kind == F_UNLCK or lk is None:
        _wake(p.kernel, [key])
    return 0


def _wake(k, keys) -> None:
    for key in keys:
        k.sched.wake(("record-lock", key), 1 << 30)


def closed(p, f, last: bool) -> None:
    """Process `p` closed an fd of `f` (`last`: the description's last)."""
    locks = p.kernel.record_locks
    if locks is None or f.ident is None or f.ident not in locks.files:
        return
    freed = locks.drop(p.proc, f.ident)
    if last:
        freed += locks.drop(f, f.ident)
    _wake(p.kernel, freed)


def exited(proc) -> None:
    """Process `proc` is gone: its POSIX locks go with it."""
    locks = proc.kernel.record_locks
    if locks is not None and locks.files:
        locks.waiting.pop(proc, None)
        _wake(proc.kernel, locks.drop(proc))
