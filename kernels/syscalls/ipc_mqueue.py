"""POSIX message queues between the processes of an instance: mq_open,
mq_unlink, mq_timedsend, mq_timedreceive, mq_notify, mq_getsetattr (Linux
ipc/mqueue.c).

The instance is the queues' namespace (Linux's mqueue file system: a queue
has a name, an owner and a mode, and lives while it has a name or an open
descriptor).  A queue keeps its messages highest priority first, oldest
first within a priority; its limits are Linux's defaults (fs.mqueue:
msg_max 10, msgsize_max 8192; root may exceed them up to the hard limits).

A send to a full queue and a receive from an empty one wait in the
scheduler, for the queue to change, their absolute CLOCK_REALTIME timeout
(ETIMEDOUT), or a signal (EINTR); O_NONBLOCK gives EAGAIN.  mq_notify
registers one process for a signal when a message arrives in an empty
queue that no receiver waits on (SIGEV_SIGNAL, SIGEV_NONE; glibc's
SIGEV_THREAD needs a netlink socket: ENOSYS).

A descriptor must work in poll, select and epoll beside the guest's other
fds, which the host serves, so on the host it is an eventfd the kernel keeps
readable while its queue holds a message (as signalfds keep their pipe).
"""
from __future__ import annotations

import struct
import time

from ..abi import linux as L
from ..abi.linux_errno import (EACCES, EAGAIN, EBADF, EBUSY, EEXIST, EINVAL, EMSGSIZE, ENAMETOOLONG,
                               ENOENT, ENOSYS, ETIMEDOUT)
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError
from ..process import OpenFile
from .util import s32

KIND_MQUEUE = 8                    # guest-side only, as KIND_SIGNALFD (kernel_sigwait.py)
MSG_MAX, MSGSIZE_MAX = 10, 8192    # fs.mqueue.msg_max, msgsize_max (and their defaults)
HARD_MSGMAX, HARD_MSGSIZEMAX = 65536, 16 << 20
_ATTR = struct.Struct("<qqqq32x")  # struct mq_attr: flags, maxmsg, msgsize, curmsgs
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
_EIGHT = struct.Struct("<Q")


class Queue:
    def __init__(self, name: bytes, p, mode: int, maxmsg: int, msgsize: int):
        self.name, self.mode, self.uid, self.gid = name, mode & 0o777, p.euid, p.egid
        self.maxmsg, self.msgsize = maxmsg, msgsize
        self.msgs = []                 # [(-priority, seq, data)], kept sorted
        self.seq = 0
        self.notify = None             # (process, signal number, value) or (process, None, 0)
        self.readers = []              # the descriptions' readiness (Ready), to update

    def allowed(self, p, want: int) -> bool:
        if p.euid == 0:
            return True
        bits = self.mode >> 6 if p.euid == self.uid else \
            self.mode >> 3 if p.egid == self.gid else self.mode
        return bits & want == want

    def changed(self, p) -> None:
        for r in list(self.readers):
            r.update(p, bool(self.msgs))
        p.kernel.sched.wake(("mqueue", id(self)), 1 << 30)


class Ready:
    """A description's host eventfd: readable while its queue has a message."""

    def __init__(self, hfd: int):
        self.hfd, self.full = hfd, False

    def update(self, p, want: bool) -> None:
        if want == self.full:
            return
        at = p.scratch.alloc(8)
        p.scratch.phys.view[at:at + 8] = _EIGHT.pack(1)
        iov, n = p.scratch.iov([(at, 8)])
        try:
            p.io.call(NR["writev"] if want else NR["readv"], self.hfd, iov, n)
            self.full = want
        except LinuxError:
            pass


def _names(p) -> dict:
    k = p.kernel
    if getattr(k, "mqueues", None) is None:
        k.mqueues = {}
    return k.mqueues


def _name(p, ptr) -> bytes:
    name = p.mm.read_cstr(ptr, 4096)
    if len(name) > 255:
        raise LinuxError(ENAMETOOLONG)
    if not name:
        raise LinuxError(ENOENT)
    if b"/" in name:
        raise LinuxError(EACCES)
    return name


def mq_open(p, name, oflag, mode, attr):
    oflag = s32(oflag)
    raw = _name(p, name)
    queues = _names(p)
    q = queues.get(raw)
    acc = oflag & L.O_ACCMODE
    if acc == 3:
        raise LinuxError(EINVAL)
    if q is None:
        if not oflag & L.O_CREAT:
            raise LinuxError(ENOENT)
        maxmsg, msgsize = MSG_MAX, MSGSIZE_MAX
        if attr:
            _, maxmsg, msgsize, _ = _ATTR.unpack(p.mm.read(attr, _ATTR.size))
            if maxmsg <= 0 or msgsize <= 0:
                raise LinuxError(EINVAL)
            limit = (HARD_MSGMAX, HARD_MSGSIZEMAX) if p.euid == 0 else (MSG_MAX, MSGSIZE_MAX)
            if maxmsg > limit[0] or msgsize > limit[1]:
                raise LinuxError(EINVAL)
        q = queues[raw] = Queue(raw, p, mode & ~p.umask, maxmsg, msgsize)
    elif oflag & L.O_CREAT and oflag & L.O_EXCL:
        raise LinuxError(EEXIST)
    elif not q.allowed(p, {L.O_RDONLY: 4, L.O_WRONLY: 2, L.O_RDWR: 6}[acc]):
        raise LinuxError(EACCES)
    fd = p.fds.lowest_free()
    hfd = p.io.call(NR["eventfd2"], 0, 0) & 0xFFFFFFFF
    f = OpenFile(hfd, acc | (oflag & L.O_NONBLOCK), b"/" + raw, False, KIND_MQUEUE)
    f.target = (q, Ready(hfd))
    q.readers.append(f.target[1])
    f.target[1].update(p, bool(q.msgs))
    return p.fds.install(f, at=fd, cloexec=bool(oflag & L.O_CLOEXEC))


def mq_unlink(p, name):
    raw = _name(p, name)
    q = _names(p).get(raw)
    if q is None:
        raise LinuxError(ENOENT)
    if p.euid not in (0, q.uid):
        raise LinuxError(EACCES)
    del _names(p)[raw]
    return 0


def _queue(p, mqdes, want: int):
    f = p.fds.get(s32(mqdes))
    if f.kind != KIND_MQUEUE:
        raise LinuxError(EBADF)
    acc = f.flags & L.O_ACCMODE
    if want == 2 and acc == L.O_RDONLY or want == 4 and acc == L.O_WRONLY:
        raise LinuxError(EBADF)
    return f, f.target[0]


def _wait(p, q, f, abs_timeout) -> None:
    """The call cannot proceed: EAGAIN, ETIMEDOUT, or wait for the queue."""
    if f.flags & L.O_NONBLOCK:
        raise LinuxError(EAGAIN)
    s = p.sched
    if abs_timeout and s.until is None:
        sec, nsec = struct.unpack("<qq", p.mm.read(abs_timeout, 16))
        if sec < 0 or not 0 <= nsec < 10**9:
            raise LinuxError(EINVAL)
        s.until = time.monotonic() + (sec + nsec / 1e9 - time.time())
    if s.until is not None and time.monotonic() >= s.until:
        s.until = None
        raise LinuxError(ETIMEDOUT)
    p.kernel.sched.wait(p, futex=("mqueue", id(q)), deadline=s.until, restart=True)


def mq_timedsend(p, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    f, q = _queue(p, mqdes, 2)
    if msg_prio >= 32768:
        raise LinuxError(EINVAL)
    if msg_len > q.msgsize:
        raise LinuxError(EMSGSIZE)
    if len(q.msgs) >= q.maxmsg:
        _wait(p, q, f, abs_timeout)
    p.sched.until = None
    data = p.mm.read(msg_ptr, msg_len) if msg_len else b""
    q.seq += 1
    q.msgs.append((-msg_prio, q.seq, data))
    q.msgs.sort()
    if len(q.msgs) == 1 and q.notify is not None and \
            not p.kernel.sched.futexes.get(("mqueue", id(q))):
        proc, sig, value = q.notify
        q.notify = None                           # one notification per registration
        if sig is not None and not proc.zombie:
            from ..siginfo import SigInfo
            info = SigInfo(sig, code=-3, pid=p.pid, uid=p.uid, value=value)   # SI_MESGQ
            p.kernel.procs.signal(proc, sig, info=info)
    q.changed(p)
    return 0


def mq_timedreceive(p, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    f, q = _queue(p, mqdes, 4)
    if msg_len < q.msgsize:
        raise LinuxError(EMSGSIZE)
    if not q.msgs:
        _wait(p, q, f, abs_timeout)
    p.sched.until = None
    prio, _, data = q.msgs.pop(0)
    p.mm.write(msg_ptr, data)
    if msg_prio:
        p.mm.write(msg_prio, struct.pack("<I", -prio))
    q.changed(p)
    return len(data)


def mq_notify(p, mqdes, notification):
    _, q = _queue(p, mqdes, 0)
    if not notification:
        if q.notify is not None and q.notify[0] is p.proc:
            q.notify = None                      # this process's registration goes
        return 0
    raw = p.mm.read(notification, 64)            # struct sigevent
    value, signo, notify = struct.unpack_from("<Qii", raw)
    if notify == SIGEV_THREAD:
        raise LinuxError(ENOSYS)
    if notify not in (SIGEV_SIGNAL, SIGEV_NONE) or \
            notify == SIGEV_SIGNAL and not 0 < signo <= L.NSIG:
        raise LinuxError(EINVAL)
    if q.notify is not None and not q.notify[0].zombie:
        raise LinuxError(EBUSY)
    q.notify = (p.proc, signo if notify == SIGEV_SIGNAL else None, value)
    return 0


def mq_getsetattr(p, mqdes, newattr, oldattr):
    f, q = _queue(p, mqdes, 0)
    if newattr:
        flags = _ATTR.unpack(p.mm.read(newattr, _ATTR.size))[0]
        if flags & ~L.O_NONBLOCK:
            raise LinuxError(EINVAL)
    if oldattr:
        p.mm.write(oldattr, _ATTR.pack(f.flags & L.O_NONBLOCK, q.maxmsg, q.msgsize, len(q.msgs)))
    if newattr:
        f.flags = (f.flags & ~L.O_NONBLOCK) | (flags & L.O_NONBLOCK)
    return 0
