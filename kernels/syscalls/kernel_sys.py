"""Identity and information calls (Linux kernel/sys.c): getpid and friends,
uname, sysinfo, umask, times, getrusage, resource limits."""
from __future__ import annotations

import os
import time

from ..abi import linux as L
from ..abi.linux_errno import EINVAL, EPERM, ESRCH
from .. import rusage
from ..errors import LinuxError
from ..process import NOFILE, NR_OPEN
from .util import s32

_DEFAULT_RLIMITS = {
    L.RLIMIT_STACK: (8 << 20, L.RLIM_INFINITY),
    L.RLIMIT_NOFILE: NOFILE,                     # inherited, as a process from the same shell
    L.RLIMIT_CORE: (0, L.RLIM_INFINITY),
}


def getpid(p):
    return p.pid


def getppid(p):
    return p.ppid


def gettid(p):
    return p.tid


def getuid(p):
    return p.uid


def geteuid(p):
    return p.euid


def getgid(p):
    return p.gid


def getegid(p):
    return p.egid


def getgroups(p, size, list_):
    groups = os.getgroups()
    size = s32(size)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise LinuxError(EINVAL)
    p.mm.write(list_, b"".join(g.to_bytes(4, "little") for g in groups))
    return len(groups)


def getresuid(p, ruid, euid, suid):
    for addr, v in ((ruid, p.uid), (euid, p.euid), (suid, getattr(p.proc, "suid", p.euid))):
        p.mm.write(addr, v.to_bytes(4, "little"))
    return 0


def getresgid(p, rgid, egid, sgid):
    for addr, v in ((rgid, p.gid), (egid, p.egid), (sgid, getattr(p.proc, "sgid", p.egid))):
        p.mm.write(addr, v.to_bytes(4, "little"))
    return 0


def uname(p, buf):
    u = os.uname()
    fields = [u.sysname, u.nodename, u.release, u.version, u.machine, "(none)"]
    raw = b"".join(os.fsencode(f)[:L.UTSNAME_FIELD - 1].ljust(L.UTSNAME_FIELD, b"\0") for f in fields)
    p.mm.write(buf, raw)
    return 0


def sysinfo(p, info):
    """The emulated machine's figures, as /proc/meminfo and /proc/loadavg
    give them (kernels/procfs_system.py): never the host's."""
    from ..procfs_system import load_of, memory
    mem = memory(p)
    loads, _, _ = load_of(p)
    uptime = int(time.clock_gettime(time.CLOCK_BOOTTIME))
    nprocs = len(p.kernel.procs.live()) if p.kernel is not None else 1
    raw = L.SYSINFO.pack(uptime, *(int(x * 65536) for x in loads), mem["MemTotal"], mem["MemFree"],
                         mem["Shmem"], mem["Buffers"], mem["SwapTotal"], mem["SwapFree"],
                         nprocs, 0, 0, 0, 1024)
    p.mm.write(info, raw)
    return 0


def umask(p, mask):
    old = p.umask
    p.umask = mask & 0o777
    return old


def times(p, buf):
    hz = 100
    ticks = int((time.monotonic()) * hz) & 0x7FFFFFFFFFFFFFFF
    if buf:
        own, kids = rusage.of_process(p.proc), p.proc.cusage
        p.mm.write(buf, L.TMS.pack(own.ticks(), 0, kids.ticks(), 0))
    return ticks


def getrusage(p, who, usage):
    """This process's, its reaped children's, or this thread's usage
    (kernels/rusage.py: measured per process, not the host's)."""
    who = s32(who)
    if who == L.RUSAGE_SELF:
        u = rusage.of_process(p.proc)
    elif who == L.RUSAGE_CHILDREN:
        u = p.proc.cusage
    elif who == L.RUSAGE_THREAD:
        u = rusage.of_thread(p)
    else:
        raise LinuxError(EINVAL)
    p.mm.write(usage, u.pack())
    return 0


def rlimit(p, resource_):
    """The (soft, hard) limit `resource_` of `p`."""
    if resource_ in p.rlimits:
        return p.rlimits[resource_]
    if resource_ in _DEFAULT_RLIMITS:
        return _DEFAULT_RLIMITS[resource_]
    return (L.RLIM_INFINITY, L.RLIM_INFINITY)


def prlimit64(p, pid, resource_, new_limit, old_limit):
    pid, resource_ = s32(pid), s32(resource_)
    if resource_ < 0 or resource_ >= L.RLIM_NLIMITS:
        raise LinuxError(EINVAL)
    if pid < 0:
        raise LinuxError(ESRCH)
    if pid not in (0, p.pid):                    # another process: the same user's (or root)
        target = p.kernel.procs.get(pid) if p.kernel is not None else None
        if target is None or target.zombie:
            raise LinuxError(ESRCH)
        if p.euid != 0 and p.euid not in (target.uid, target.euid):
            raise LinuxError(EPERM)
    else:
        target = p.proc
    cur = rlimit(target, resource_)
    new = L.RLIMIT.unpack(p.mm.read(new_limit, 16)) if new_limit else None
    if new:
        if new[0] > new[1]:
            raise LinuxError(EINVAL)
        if new[1] > cur[1] and p.euid != 0:
            raise LinuxError(EPERM)
    if old_limit:
        p.mm.write(old_limit, L.RLIMIT.pack(*cur))
    if new:
        if resource_ == L.RLIMIT_NOFILE:
            if new[1] > NR_OPEN:
                raise LinuxError(EPERM)              # above fs.nr_open: Linux refuses
            target.fds.limit = new[0]                # enforced: EMFILE, dup2's EBADF
        target.rlimits[resource_] = new
    return 0


def getrlimit(p, resource_, rlim):
    return prlimit64(p, 0, resource_, 0, rlim)


def setrlimit(p, resource_, rlim):
    return prlimit64(p, 0, resource_, rlim, 0)


PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_SET_NAME, PR_GET_NAME = 15, 16


PER_QUERY = 0xFFFFFFFF


def personality(p, persona):
    """The process's execution domain: PER_LINUX and its flags (kept across
    fork and exec, as Linux keeps them; azemu's layout ignores
    ADDR_NO_RANDOMIZE: it does not randomize)."""
    old = getattr(p.proc, "persona", 0)
    persona &= 0xFFFFFFFF
    if persona != PER_QUERY:
        p.proc.persona = persona                  # Linux takes any value
    return old


def prctl(p, option, arg2, arg3, arg4, arg5):
    option = s32(option)
    if option == PR_SET_NAME:                 # at most 15 bytes are taken, as Linux
        try:
            p.comm = p.mm.read_cstr(arg2, 15)
        except ValueError:
            p.comm = p.mm.read(arg2, 15)
        return 0
    if option == PR_GET_NAME:
        p.mm.write(arg2, p.comm.ljust(16, b"\0"))
        return 0
    if option == PR_GET_DUMPABLE:
        return p.dumpable
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise LinuxError(EINVAL)
        p.dumpable = arg2
        return 0
    if option == PR_SET_PDEATHSIG:
        if arg2 > L.NSIG:                     # an unsigned long in Linux
            raise LinuxError(EINVAL)
        p.pdeathsig = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        p.mm.write(arg2, p.pdeathsig.to_bytes(4, "little"))
        return 0
    raise LinuxError(EINVAL)
