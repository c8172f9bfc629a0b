"""System V IPC between the processes of an instance: shared memory,
semaphore sets and message queues (Linux ipc/shm.c, ipc/sem.c, ipc/msg.c).

The instance is the IPC namespace: its processes find an object by key, or
share its id.  Permissions are Linux's, by the caller's credentials against
the object's owner, creator and mode (root passes).

* A shared memory segment is a pager of frames of its own (the one shared
  anonymous mappings use, kernels/pagecache.py); shmat maps it MAP_SHARED,
  so its pages are the same for every process and survive fork; it goes
  when it is removed and no process has it attached.
* A semop that cannot proceed and a msgsnd/msgrcv that would block wait in
  the scheduler and run again when the object changes (or their time is up,
  or a signal comes: EINTR); removing the object wakes them with EIDRM.
  SEM_UNDO's adjustments are applied when the process ends.
"""
from __future__ import annotations

import struct
import time

from ..abi.linux_errno import (E2BIG, EACCES, EAGAIN, EEXIST, EFBIG, EIDRM, EINVAL, ENOENT,
                               ENOMEM, ENOMSG, EPERM, ERANGE)
from ..errors import LinuxError
from .util import s32

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
IPC_64 = 0x100
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO = 11, 12, 13, 14
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL, SEM_STAT, SEM_INFO = 11, 12, 13, 14, 15, 16, 17, 18, 19
MSG_STAT, MSG_INFO = 11, 12
SEM_UNDO = 0x1000
MSG_NOERROR, MSG_EXCEPT = 0o10000, 0o20000
SHMMAX, SHMMNI, SEMMSL, SEMOPM, SEMVMX = (1 << 63) - 1, 4096, 32000, 500, 32767
MSGMAX, MSGMNB, MSGMNI = 8192, 16384, 32000
PAGE = 4096
_PERM = struct.Struct("<iIIIIHxxHxx4x16x")      # struct ipc64_perm (48 bytes on x86-64)
_SEMBUF = struct.Struct("<Hhh")


class IpcObject:
    def __init__(self, key, id_, p, mode):
        self.key, self.id, self.mode = key, id_, mode & 0o777
        self.uid = self.cuid = p.euid
        self.gid = self.cgid = p.egid
        self.ctime = int(time.time())
        self.removed = False

    def perm(self) -> bytes:
        return _PERM.pack(self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode, self.id // 32768)

    def check(self, p, want: int) -> None:
        """`want`: 4 read, 2 write (alter)."""
        if p.euid == 0:
            return
        if p.euid in (self.uid, self.cuid):
            bits = self.mode >> 6
        elif p.egid in (self.gid, self.cgid):
            bits = self.mode >> 3
        else:
            bits = self.mode
        if want & ~bits & 7:
            raise LinuxError(EACCES)

    def owner(self, p) -> None:
        if p.euid != 0 and p.euid not in (self.uid, self.cuid):
            raise LinuxError(EPERM)


class Segment(IpcObject):
    def __init__(self, key, id_, p, mode, size):
        super().__init__(key, id_, p, mode)
        from ..pagecache import SharedMemory
        self.size, self.pages = size, SharedMemory(p.mm.phys)
        self.nattch = 0
        self.atime = self.dtime = 0
        self.cpid, self.lpid = p.pid, 0


class SemSet(IpcObject):
    def __init__(self, key, id_, p, mode, n):
        super().__init__(key, id_, p, mode)
        self.vals, self.pids = [0] * n, [0] * n
        self.otime = 0


class Queue(IpcObject):
    def __init__(self, key, id_, p, mode):
        super().__init__(key, id_, p, mode)
        self.msgs: list[tuple[int, bytes]] = []
        self.qbytes, self.cbytes = MSGMNB, 0
        self.stime = self.rtime = 0
        self.lspid = self.lrpid = 0


class Namespace:
    """The System V objects of one instance."""

    def __init__(self):
        self.objects: dict[str, dict[int, IpcObject]] = {"shm": {}, "sem": {}, "msg": {}}
        self._seq = 0

    def get(self, p, kind: str, key: int, flags: int, make) -> int:
        table = self.objects[kind]
        if key != IPC_PRIVATE:
            for o in table.values():
                if o.key == key and not o.removed:
                    if flags & IPC_CREAT and flags & IPC_EXCL:
                        raise LinuxError(EEXIST)
                    o.check(p, (flags >> 6 | flags >> 3 | flags) & 7)
                    return o
            if not flags & IPC_CREAT:
                raise LinuxError(ENOENT)
        self._seq += 1
        o = make(self._seq - 1)
        table[o.id] = o
        return o

    def find(self, kind: str, id_: int) -> IpcObject:
        o = self.objects[kind].get(s32(id_))
        if o is None or o.removed:
            raise LinuxError(EINVAL)
        return o

    def remove(self, kind: str, o) -> None:
        self.objects[kind].pop(o.id, None)


def ns(p) -> Namespace:
    k = p.kernel
    if getattr(k, "ipc", None) is None:
        k.ipc = Namespace()
    return k.ipc


def _wait_key(kind, o):
    return ("ipc", kind, o.id)


def _changed(p, kind, o) -> None:
    p.kernel.sched.wake(_wait_key(kind, o), 1 << 30)


def _timeout(p, timeout_ptr) -> float | None:
    """The end of a timed wait, kept across restarts (the call runs again)."""
    s = p.sched
    if not timeout_ptr:
        return None
    if s.until is None:
        sec, nsec = struct.unpack("<qq", p.mm.read(timeout_ptr, 16))
        if sec < 0 or not 0 <= nsec < 10**9:
            raise LinuxError(EINVAL)
        s.until = time.monotonic() + sec + nsec / 1e9
    if time.monotonic() >= s.until:
        s.until = None
        raise LinuxError(EAGAIN)
    return s.until


# ---- shared memory -------------------------------------------------------------------
def shmget(p, key, size, flags):
    key, flags = s32(key), s32(flags)

    def make(i):
        if size < 1 or size > SHMMAX:
            raise LinuxError(EINVAL)
        return Segment(key, i, p, flags, size)
    o = ns(p).get(p, "shm", key, flags, make)
    if size > o.size:
        raise LinuxError(EINVAL)
    return o.id


def _attachments(mm) -> dict:
    if getattr(mm, "shm_attached", None) is None:
        mm.shm_attached = {}
    return mm.shm_attached


def shmat(p, shmid, shmaddr, flags):
    flags = s32(flags)
    seg = ns(p).find("shm", shmid)
    prot = 1 if flags & SHM_RDONLY else 3
    if flags & SHM_EXEC:
        prot |= 4
    seg.check(p, 4 if flags & SHM_RDONLY else 6)
    size = (seg.size + PAGE - 1) & ~(PAGE - 1)
    mm = p.mm
    if shmaddr:
        if flags & SHM_RND:
            shmaddr &= ~(PAGE - 1)
        if shmaddr & (PAGE - 1):
            raise LinuxError(EINVAL)
        if not flags & SHM_REMAP and not mm.is_free(shmaddr, shmaddr + size):
            raise LinuxError(EINVAL)
        start = shmaddr
    else:
        start = mm.find_free(size)
        if start is None:
            raise LinuxError(ENOMEM)
    mm.map(start, size, prot, f"/SYSV{seg.key & 0xFFFFFFFF:08x} (deleted)", shared=True,
           reserve=False, pager=seg.pages)
    _attachments(mm)[start] = seg
    seg.nattch += 1
    seg.atime, seg.lpid = int(time.time()), p.pid
    return start


def shmdt(p, shmaddr):
    seg = _attachments(p.mm).pop(shmaddr, None)
    if seg is None:
        raise LinuxError(EINVAL)
    p.mm.unmap(shmaddr, (seg.size + PAGE - 1) & ~(PAGE - 1))
    _detached(p, seg)
    return 0


def _detached(p, seg) -> None:
    seg.nattch -= 1
    seg.dtime, seg.lpid = int(time.time()), p.pid
    if seg.removed and seg.nattch <= 0:
        ns(p).remove("shm", seg)


def shm_fork(kernel, parent_mm, child_mm) -> None:
    """fork: the child has the parent's attachments too."""
    att = getattr(parent_mm, "shm_attached", None)
    if att:
        child_mm.shm_attached = dict(att)
        for seg in att.values():
            seg.nattch += 1


def shm_gone(p, mm) -> None:
    """An address space ends (exit, exec): its attachments with it."""
    for seg in list(getattr(mm, "shm_attached", {}).values()):
        _detached(p, seg)
    mm.shm_attached = {}


def shmctl(p, shmid, cmd, buf):
    cmd = s32(cmd) & ~IPC_64
    if cmd in (IPC_INFO, SHM_INFO):
        if buf:
            p.mm.write(buf, struct.pack("<QQQQQ", SHMMAX, 1, SHMMNI, 1, 1 << 24).ljust(80, b"\0"))
        return max((o.id for o in ns(p).objects["shm"].values()), default=0)
    seg = ns(p).find("shm", shmid)
    if cmd in (IPC_STAT, SHM_STAT):
        seg.check(p, 4)
        p.mm.write(buf, seg.perm() + struct.pack("<QqqqiiQ16x", seg.size, seg.atime, seg.dtime,
                                                 seg.ctime, seg.cpid, seg.lpid, seg.nattch))
        return seg.id if cmd == SHM_STAT else 0
    if cmd == IPC_SET:
        seg.owner(p)
        _key, uid, gid, _cu, _cg, mode, _seq = _PERM.unpack(p.mm.read(buf, _PERM.size))
        seg.uid, seg.gid, seg.mode, seg.ctime = uid, gid, mode & 0o777, int(time.time())
        return 0
    if cmd == IPC_RMID:
        seg.owner(p)
        seg.removed, seg.key = True, IPC_PRIVATE
        if seg.nattch <= 0:
            ns(p).remove("shm", seg)
        return 0
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        seg.owner(p)
        return 0
    raise LinuxError(EINVAL)


# ---- semaphores ----------------------------------------------------------------------
def semget(p, key, nsems, flags):
    key, nsems, flags = s32(key), s32(nsems), s32(flags)

    def make(i):
        if not 0 < nsems <= SEMMSL:
            raise LinuxError(EINVAL)
        return SemSet(key, i, p, flags, nsems)
    o = ns(p).get(p, "sem", key, flags, make)
    if nsems > len(o.vals):
        raise LinuxError(EINVAL)
    return o.id


def semop(p, semid, sops, nsops):
    return semtimedop(p, semid, sops, nsops, 0)


def semtimedop(p, semid, sops, nsops, timeout):
    if nsops < 1 or nsops > SEMOPM:
        raise LinuxError(E2BIG if nsops > SEMOPM else EINVAL)
    ops = [_SEMBUF.unpack_from(p.mm.read(sops, 6 * nsops), 6 * i) for i in range(nsops)]
    sem = ns(p).find("sem", semid)
    if any(num >= len(sem.vals) for num, _, _ in ops):
        raise LinuxError(EFBIG)
    sem.check(p, 6 if any(op for _, op, _ in ops) else 4)
    vals = list(sem.vals)
    for num, op, flg in ops:
        if op > 0:
            if vals[num] + op > SEMVMX:
                raise LinuxError(ERANGE)
            vals[num] += op
        elif op < 0:
            if vals[num] < -op:
                break
            vals[num] += op
        elif vals[num] != 0:
            break
    else:
        sem.vals = vals
        for num, op, flg in ops:
            sem.pids[num] = p.pid
            if flg & SEM_UNDO and op:
                undo = _undo(p)
                undo[(sem.id, num)] = undo.get((sem.id, num), 0) - op
        sem.otime = int(time.time())
        p.sched.until = None
        _changed(p, "sem", sem)
        return 0
    if any(flg & IPC_NOWAIT for _, _, flg in ops):
        raise LinuxError(EAGAIN)
    deadline = _timeout(p, timeout)
    p.kernel.sched.wait(p, futex=_wait_key("sem", sem), deadline=deadline, restart=True)


def _undo(p) -> dict:
    proc = p.proc
    if getattr(proc, "semundo", None) is None:
        proc.semundo = {}
    return proc.semundo


def sem_exit(p) -> None:
    """The process ends: its SEM_UNDO adjustments are applied."""
    undo = getattr(p.proc, "semundo", None)
    if not undo:
        return
    space = ns(p)
    for (semid, num), adj in undo.items():
        sem = space.objects["sem"].get(semid)
        if sem is not None and not sem.removed:
            sem.vals[num] = max(0, min(SEMVMX, sem.vals[num] + adj))
            _changed(p, "sem", sem)
    p.proc.semundo = {}


def semctl(p, semid, semnum, cmd, arg):
    cmd = s32(cmd) & ~IPC_64
    space = ns(p)
    if cmd in (IPC_INFO, SEM_INFO):
        if arg:
            p.mm.write(arg, struct.pack("<10i", 32000, 32000, 32000, 32000, SEMMSL, SEMOPM, 32767,
                                        SEMVMX, 0, 0))
        return max((o.id for o in space.objects["sem"].values()), default=0)
    sem = space.find("sem", semid)
    n = len(sem.vals)
    semnum = s32(semnum)
    if cmd in (GETVAL, GETPID, GETNCNT, GETZCNT, SETVAL) and not 0 <= semnum < n:
        raise LinuxError(EINVAL)
    if cmd == GETVAL:
        sem.check(p, 4)
        return sem.vals[semnum]
    if cmd == GETPID:
        sem.check(p, 4)
        return sem.pids[semnum]
    if cmd in (GETNCNT, GETZCNT):
        sem.check(p, 4)
        return sum(1 for t in p.kernel.sched.futexes.get(_wait_key("sem", sem), []))
    if cmd == GETALL:
        sem.check(p, 4)
        p.mm.write(arg, struct.pack(f"<{n}H", *sem.vals))
        return 0
    if cmd == SETVAL:
        sem.check(p, 2)
        v = s32(arg)
        if not 0 <= v <= SEMVMX:
            raise LinuxError(ERANGE)
        sem.vals[semnum], sem.pids[semnum] = v, p.pid
        _clear_undo(p, sem, semnum)
        _changed(p, "sem", sem)
        return 0
    if cmd == SETALL:
        sem.check(p, 2)
        vals = list(struct.unpack(f"<{n}H", p.mm.read(arg, 2 * n)))
        if any(v > SEMVMX for v in vals):
            raise LinuxError(ERANGE)
        sem.vals = vals
        for i in range(n):
            _clear_undo(p, sem, i)
        _changed(p, "sem", sem)
        return 0
    if cmd in (IPC_STAT, SEM_STAT):
        sem.check(p, 4)
        p.mm.write(arg, sem.perm() + struct.pack("<q8xq8xQ16x", sem.otime, sem.ctime, n))
        return sem.id if cmd == SEM_STAT else 0
    if cmd == IPC_SET:
        sem.owner(p)
        _key, uid, gid, _cu, _cg, mode, _seq = _PERM.unpack(p.mm.read(arg, _PERM.size))
        sem.uid, sem.gid, sem.mode, sem.ctime = uid, gid, mode & 0o777, int(time.time())
        return 0
    if cmd == IPC_RMID:
        sem.owner(p)
        sem.removed = True
        space.remove("sem", sem)
        _gone(p, "sem", sem)
        return 0
    raise LinuxError(EINVAL)


def _clear_undo(p, sem, num) -> None:
    for proc in p.kernel.procs.live():
        undo = getattr(proc, "semundo", None)
        if undo:
            undo.pop((sem.id, num), None)


def _gone(p, kind, o) -> None:
    """The object was removed: its waiters end with EIDRM."""
    sched = p.kernel.sched
    for t in list(sched.futexes.get(_wait_key(kind, o), [])):
        t.sched.restart = False
        sched.interrupt(t, -EIDRM)


# ---- message queues --------------------------------------------------------------------
def msgget(p, key, flags):
    key, flags = s32(key), s32(flags)
    return ns(p).get(p, "msg", key, flags, lambda i: Queue(key, i, p, flags)).id


def msgsnd(p, msqid, msgp, msgsz, flags):
    flags = s32(flags)
    q = ns(p).find("msg", msqid)
    if msgsz > MSGMAX or s32(msgsz) < 0:
        raise LinuxError(EINVAL)
    mtype = struct.unpack("<q", p.mm.read(msgp, 8))[0]
    if mtype < 1:
        raise LinuxError(EINVAL)
    q.check(p, 2)
    text = p.mm.read(msgp + 8, msgsz) if msgsz else b""
    if q.cbytes + msgsz > q.qbytes or len(q.msgs) >= q.qbytes:
        if flags & IPC_NOWAIT:
            raise LinuxError(EAGAIN)
        p.kernel.sched.wait(p, futex=_wait_key("msg", q), restart=True)
    q.msgs.append((mtype, text))
    q.cbytes += msgsz
    q.stime, q.lspid = int(time.time()), p.pid
    _changed(p, "msg", q)
    return 0


def msgrcv(p, msqid, msgp, msgsz, msgtyp, flags):
    flags, msgtyp = s32(flags), msgtyp - (1 << 64) if msgtyp >> 63 else msgtyp
    q = ns(p).find("msg", msqid)
    if s32(msgsz) < 0:
        raise LinuxError(EINVAL)
    q.check(p, 4)
    pick = None
    if msgtyp == 0:
        pick = 0 if q.msgs else None
    elif msgtyp > 0:
        pick = next((i for i, (t, _) in enumerate(q.msgs)
                     if (t != msgtyp if flags & MSG_EXCEPT else t == msgtyp)), None)
    else:
        best = [(t, i) for i, (t, _) in enumerate(q.msgs) if t <= -msgtyp]
        pick = min(best)[1] if best else None
    if pick is None:
        if flags & IPC_NOWAIT:
            raise LinuxError(ENOMSG)
        p.kernel.sched.wait(p, futex=_wait_key("msg", q), restart=True)
    mtype, text = q.msgs[pick]
    size = len(text)
    if len(text) > msgsz:
        if not flags & MSG_NOERROR:
            raise LinuxError(E2BIG)
        text = text[:msgsz]
    p.mm.write(msgp, struct.pack("<q", mtype) + text)
    del q.msgs[pick]
    q.cbytes -= size
    q.rtime, q.lrpid = int(time.time()), p.pid
    _changed(p, "msg", q)
    return len(text)


def msgctl(p, msqid, cmd, buf):
    cmd = s32(cmd) & ~IPC_64
    space = ns(p)
    if cmd in (IPC_INFO, MSG_INFO):
        if buf:
            p.mm.write(buf, struct.pack("<8iH", 32000, 16384, MSGMAX, MSGMNB, MSGMNI, 16384, 2048, 32000, 0))
        return max((o.id for o in space.objects["msg"].values()), default=0)
    q = space.find("msg", msqid)
    if cmd in (IPC_STAT, MSG_STAT):
        q.check(p, 4)
        p.mm.write(buf, q.perm() + struct.pack("<qqqQQQii16x", q.stime, q.rtime, q.ctime, q.cbytes,
                                               len(q.msgs), q.qbytes, q.lspid, q.lrpid))
        return q.id if cmd == MSG_STAT else 0
    if cmd == IPC_SET:
        q.owner(p)
        raw = p.mm.read(buf, _PERM.size + 48)
        _key, uid, gid, _cu, _cg, mode, _seq = _PERM.unpack_from(raw)
        qbytes = struct.unpack_from("<Q", raw, _PERM.size + 40)[0]
        if qbytes > MSGMNB and p.euid != 0:
            raise LinuxError(EPERM)
        q.uid, q.gid, q.mode, q.qbytes = uid, gid, mode & 0o777, qbytes
        q.ctime = int(time.time())
        return 0
    if cmd == IPC_RMID:
        q.owner(p)
        q.removed = True
        space.remove("msg", q)
        _gone(p, "msg", q)
        return 0
    raise LinuxError(EINVAL)
