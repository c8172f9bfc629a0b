"""The names of flags and constants, as the trace prints them (strace's
xlat tables): `O_RDONLY|O_CLOEXEC`, `PROT_READ|PROT_WRITE`, `AT_FDCWD`,
`SIGCHLD`.  Values are x86-64 Linux's (include/uapi).

A table is a list of (value, name); `flags()` prints a bit set from one,
`enum()` a single value.  Which argument takes which table is declared in
kernels/syscalls/signatures.py, next to the syscall table.
"""
from __future__ import annotations

from ..abi import linux as L


def _pairs(**names) -> list[tuple[int, str]]:
    return [(v, k) for k, v in names.items()]


def flags(table, value: int, zero: str = "0") -> str:
    """`A|B|0x40` for the bits of `value` named in `table` (largest first)."""
    if value == 0:
        return zero
    out = []
    for v, name in table:
        if v and value & v == v:
            out.append(name)
            value &= ~v
    if value:
        out.append(f"{value:#x}")
    return "|".join(out)


def enum(table, value: int, fallback=None) -> str:
    for v, name in table:
        if v == value:
            return name
    return fallback(value) if fallback else str(value)


# ---- open(2) -------------------------------------------------------------------
ACCMODE = [(L.O_RDONLY, "O_RDONLY"), (L.O_WRONLY, "O_WRONLY"), (L.O_RDWR, "O_RDWR")]
OPEN = _pairs(                                  # in strace's order
    O_CREAT=L.O_CREAT, O_EXCL=L.O_EXCL, O_NOCTTY=L.O_NOCTTY, O_TRUNC=L.O_TRUNC,
    O_APPEND=L.O_APPEND, O_NONBLOCK=L.O_NONBLOCK, O_SYNC=L.O_SYNC, O_DSYNC=L.O_DSYNC,
    O_DIRECT=L.O_DIRECT, O_LARGEFILE=L.O_LARGEFILE, O_NOFOLLOW=L.O_NOFOLLOW,
    O_NOATIME=L.O_NOATIME, O_CLOEXEC=L.O_CLOEXEC, O_PATH=L.O_PATH, O_TMPFILE=L.O_TMPFILE,
    O_DIRECTORY=L.O_DIRECTORY)


def open_flags(value: int) -> str:
    value &= 0xFFFFFFFF
    acc = enum(ACCMODE, value & L.O_ACCMODE, lambda v: f"{v:#o}")
    rest = flags(OPEN, value & ~L.O_ACCMODE, "")
    return acc + ("|" + rest if rest else "")


AT = _pairs(AT_SYMLINK_NOFOLLOW=0x100, AT_REMOVEDIR=0x200, AT_SYMLINK_FOLLOW=0x400,
            AT_NO_AUTOMOUNT=0x800, AT_EMPTY_PATH=0x1000, AT_STATX_FORCE_SYNC=0x2000,
            AT_STATX_DONT_SYNC=0x4000, AT_RECURSIVE=0x8000)
def statx_flags(value: int) -> str:
    """statx's flags: its sync type (AT_STATX_SYNC_AS_STAT is 0) and the AT_ bits."""
    value &= 0xFFFFFFFF
    sync = "AT_STATX_SYNC_AS_STAT" if not value & 0x6000 else ""
    rest = flags(AT, value, "")
    return "|".join(x for x in (sync, rest) if x) or "0"


ACCESS_AT = _pairs(AT_EACCESS=0x200, AT_SYMLINK_NOFOLLOW=0x100, AT_EMPTY_PATH=0x1000)
ACCESS_MODE = _pairs(R_OK=4, W_OK=2, X_OK=1)
ZERO_NAMES = {"ACCESS_MODE": "F_OK", "PROT": "PROT_NONE"}        # what 0 is called
FD_FLAGS = _pairs(FD_CLOEXEC=1)
RENAME = _pairs(RENAME_NOREPLACE=1, RENAME_EXCHANGE=2, RENAME_WHITEOUT=4)
STATX_MASK = _pairs(STATX_ALL=0xFFF, STATX_BASIC_STATS=0x7FF, STATX_TYPE=1, STATX_MODE=2,
                    STATX_NLINK=4, STATX_UID=8, STATX_GID=0x10, STATX_ATIME=0x20,
                    STATX_MTIME=0x40, STATX_CTIME=0x80, STATX_INO=0x100, STATX_SIZE=0x200,
                    STATX_BLOCKS=0x400, STATX_BTIME=0x800, STATX_MNT_ID=0x1000)
WHENCE = _pairs(SEEK_SET=0, SEEK_CUR=1, SEEK_END=2, SEEK_DATA=3, SEEK_HOLE=4)
FCNTL = _pairs(F_DUPFD=0, F_GETFD=1, F_SETFD=2, F_GETFL=3, F_SETFL=4, F_GETLK=5, F_SETLK=6,
               F_SETLKW=7, F_SETOWN=8, F_GETOWN=9, F_SETSIG=10, F_GETSIG=11, F_SETOWN_EX=15,
               F_GETOWN_EX=16, F_OFD_GETLK=36, F_OFD_SETLK=37, F_OFD_SETLKW=38,
               F_SETLEASE=1024, F_GETLEASE=1025, F_NOTIFY=1026, F_DUPFD_CLOEXEC=1030,
               F_SETPIPE_SZ=1031, F_GETPIPE_SZ=1032, F_ADD_SEALS=1033, F_GET_SEALS=1034)
PIDFD = _pairs(PIDFD_NONBLOCK=L.O_NONBLOCK)
MQ_FLAGS = _pairs(O_NONBLOCK=L.O_NONBLOCK)
IPC_CMD = _pairs(IPC_RMID=0, IPC_SET=1, IPC_STAT=2, IPC_INFO=3, SHM_LOCK=11, SHM_UNLOCK=12,
                 SHM_STAT=13, SHM_INFO=14, GETPID=11, GETVAL=12, GETALL=13, GETNCNT=14,
                 GETZCNT=15, SETVAL=16, SETALL=17)
SHM_AT = _pairs(SHM_RDONLY=0o10000, SHM_RND=0o20000, SHM_REMAP=0o40000, SHM_EXEC=0o100000)
FLOCK = _pairs(LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8)
PIPE = _pairs(O_CLOEXEC=L.O_CLOEXEC, O_NONBLOCK=L.O_NONBLOCK, O_DIRECT=L.O_DIRECT)
IOCTL = _pairs(TCGETS=0x5401, TCSETS=0x5402, TCSETSW=0x5403, TCSETSF=0x5404, TCSBRK=0x5409,
               TCXONC=0x540A, TCFLSH=0x540B, TIOCSCTTY=0x540E, TIOCGPGRP=0x540F,
               TIOCSPGRP=0x5410, TIOCGWINSZ=0x5413, TIOCSWINSZ=0x5414, FIONREAD=0x541B,
               TIOCNOTTY=0x5422, FIONBIO=0x5421, TIOCGSID=0x5429, TIOCGPTN=0x80045430,
               TIOCSPTLCK=0x40045431, FIONCLEX=0x5450, FIOCLEX=0x5451, FIOASYNC=0x5452,
               SIOCGIFCONF=0x8912, SIOCGIFFLAGS=0x8913, SIOCGIFINDEX=0x8933)

# ---- mm ------------------------------------------------------------------------
PROT = _pairs(PROT_READ=1, PROT_WRITE=2, PROT_EXEC=4, PROT_SEM=8,
              PROT_GROWSDOWN=L.PROT_GROWSDOWN, PROT_GROWSUP=L.PROT_GROWSUP)
MAP_TYPE = _pairs(MAP_SHARED=1, MAP_PRIVATE=2, MAP_SHARED_VALIDATE=3)
MAP = _pairs(MAP_FIXED=0x10, MAP_ANONYMOUS=0x20, MAP_32BIT=0x40, MAP_GROWSDOWN=0x100,
             MAP_DENYWRITE=0x800, MAP_EXECUTABLE=0x1000, MAP_LOCKED=0x2000,
             MAP_NORESERVE=0x4000, MAP_POPULATE=0x8000, MAP_NONBLOCK=0x10000,
             MAP_STACK=0x20000, MAP_HUGETLB=0x40000, MAP_SYNC=0x80000,
             MAP_FIXED_NOREPLACE=0x100000)


def map_flags(value: int) -> str:
    value &= 0xFFFFFFFF
    kind = enum(MAP_TYPE, value & 0xF, lambda v: f"{v:#x}")
    rest = flags(MAP, value & ~0xF, "")
    return kind + ("|" + rest if rest else "")


MREMAP = _pairs(MREMAP_MAYMOVE=1, MREMAP_FIXED=2, MREMAP_DONTUNMAP=4)
MADV = _pairs(MADV_NORMAL=0, MADV_RANDOM=1, MADV_SEQUENTIAL=2, MADV_WILLNEED=3,
              MADV_DONTNEED=4, MADV_FREE=8, MADV_REMOVE=9, MADV_DONTFORK=10, MADV_DOFORK=11,
              MADV_MERGEABLE=12, MADV_UNMERGEABLE=13, MADV_HUGEPAGE=14, MADV_NOHUGEPAGE=15,
              MADV_DONTDUMP=16, MADV_DODUMP=17, MADV_WIPEONFORK=18, MADV_KEEPONFORK=19,
              MADV_COLD=20, MADV_PAGEOUT=21)
MSYNC = _pairs(MS_ASYNC=1, MS_INVALIDATE=2, MS_SYNC=4)
MLOCK = _pairs(MCL_CURRENT=1, MCL_FUTURE=2, MCL_ONFAULT=4)

# ---- tasks ---------------------------------------------------------------------
ARCH_PRCTL = _pairs(ARCH_SET_GS=0x1001, ARCH_SET_FS=0x1002, ARCH_GET_FS=0x1003,
                    ARCH_GET_GS=0x1004, ARCH_GET_CPUID=0x1011, ARCH_SET_CPUID=0x1012)
CLONE = _pairs(CLONE_VM=0x100, CLONE_FS=0x200, CLONE_FILES=0x400, CLONE_SIGHAND=0x800,
               CLONE_PIDFD=0x1000, CLONE_PTRACE=0x2000, CLONE_VFORK=0x4000,
               CLONE_PARENT=0x8000, CLONE_THREAD=0x10000, CLONE_NEWNS=0x20000,
               CLONE_SYSVSEM=0x40000, CLONE_SETTLS=0x80000, CLONE_PARENT_SETTID=0x100000,
               CLONE_CHILD_CLEARTID=0x200000, CLONE_DETACHED=0x400000, CLONE_UNTRACED=0x800000,
               CLONE_CHILD_SETTID=0x1000000, CLONE_NEWCGROUP=0x2000000,
               CLONE_NEWUTS=0x4000000, CLONE_NEWIPC=0x8000000, CLONE_NEWUSER=0x10000000,
               CLONE_NEWPID=0x20000000, CLONE_NEWNET=0x40000000, CLONE_IO=0x80000000)
FUTEX_OP = _pairs(FUTEX_WAIT=0, FUTEX_WAKE=1, FUTEX_FD=2, FUTEX_REQUEUE=3, FUTEX_CMP_REQUEUE=4,
                  FUTEX_WAKE_OP=5, FUTEX_LOCK_PI=6, FUTEX_UNLOCK_PI=7, FUTEX_TRYLOCK_PI=8,
                  FUTEX_WAIT_BITSET=9, FUTEX_WAKE_BITSET=10, FUTEX_WAIT_REQUEUE_PI=11,
                  FUTEX_CMP_REQUEUE_PI=12, FUTEX_LOCK_PI2=13)


def futex_op(value: int) -> str:
    value &= 0xFFFFFFFF
    name = enum(FUTEX_OP, value & 0x7F, lambda v: f"{v:#x}")
    if value & 128:
        name += "_PRIVATE"
    if value & 256:
        name += "|FUTEX_CLOCK_REALTIME"
    return name


WAIT = _pairs(WNOHANG=1, WUNTRACED=2, WEXITED=4, WCONTINUED=8, WNOWAIT=0x1000000,
              __WNOTHREAD=0x20000000, __WALL=0x40000000, __WCLONE=0x80000000)
IDTYPE = _pairs(P_ALL=0, P_PID=1, P_PGID=2, P_PIDFD=3)
RLIMIT = _pairs(RLIMIT_CPU=0, RLIMIT_FSIZE=1, RLIMIT_DATA=2, RLIMIT_STACK=3, RLIMIT_CORE=4,
                RLIMIT_RSS=5, RLIMIT_NPROC=6, RLIMIT_NOFILE=7, RLIMIT_MEMLOCK=8, RLIMIT_AS=9,
                RLIMIT_LOCKS=10, RLIMIT_SIGPENDING=11, RLIMIT_MSGQUEUE=12, RLIMIT_NICE=13,
                RLIMIT_RTPRIO=14, RLIMIT_RTTIME=15)
RUSAGE_WHO = _pairs(RUSAGE_SELF=0, RUSAGE_CHILDREN=-1, RUSAGE_THREAD=1)
PRCTL = _pairs(PR_SET_PDEATHSIG=1, PR_GET_PDEATHSIG=2, PR_GET_DUMPABLE=3, PR_SET_DUMPABLE=4,
               PR_SET_NAME=15, PR_GET_NAME=16, PR_SET_NO_NEW_PRIVS=38, PR_GET_NO_NEW_PRIVS=39,
               PR_SET_VMA=0x53564d41)
GRND = _pairs(GRND_NONBLOCK=1, GRND_RANDOM=2, GRND_INSECURE=4)
CLOCK = _pairs(CLOCK_REALTIME=0, CLOCK_MONOTONIC=1, CLOCK_PROCESS_CPUTIME_ID=2,
               CLOCK_THREAD_CPUTIME_ID=3, CLOCK_MONOTONIC_RAW=4, CLOCK_REALTIME_COARSE=5,
               CLOCK_MONOTONIC_COARSE=6, CLOCK_BOOTTIME=7, CLOCK_REALTIME_ALARM=8,
               CLOCK_BOOTTIME_ALARM=9, CLOCK_TAI=11)
TIMER = _pairs(TIMER_ABSTIME=1)
ITIMER = _pairs(ITIMER_REAL=0, ITIMER_VIRTUAL=1, ITIMER_PROF=2)
SCHED_POLICY = _pairs(SCHED_OTHER=0, SCHED_FIFO=1, SCHED_RR=2, SCHED_BATCH=3, SCHED_IDLE=5,
                      SCHED_DEADLINE=6)

# ---- signals -------------------------------------------------------------------
SIGNALS = sorted(L.SIGNAL_NAMES.items())


def signal_name(value: int) -> str:
    value &= 0xFFFFFFFF
    if value in L.SIGNAL_NAMES:
        return L.SIGNAL_NAMES[value]
    if 32 <= value <= 64:
        return "SIGRTMIN" if value == 32 else f"SIGRT_{value - 32}"
    return str(value)


SIGPROCMASK_HOW = _pairs(SIG_BLOCK=0, SIG_UNBLOCK=1, SIG_SETMASK=2)
SA = _pairs(SA_RESTORER=0x04000000, SA_ONSTACK=0x08000000, SA_RESTART=0x10000000,
            SA_NODEFER=0x40000000, SA_RESETHAND=0x80000000, SA_SIGINFO=4, SA_NOCLDSTOP=1,
            SA_NOCLDWAIT=2)                       # in strace's order
SS = _pairs(SS_ONSTACK=1, SS_DISABLE=2, SS_AUTODISARM=1 << 31)

# ---- sockets -------------------------------------------------------------------
AF = _pairs(AF_UNSPEC=0, AF_UNIX=1, AF_INET=2, AF_INET6=10, AF_NETLINK=16, AF_PACKET=17)
SOCK_TYPE = _pairs(SOCK_STREAM=1, SOCK_DGRAM=2, SOCK_RAW=3, SOCK_RDM=4, SOCK_SEQPACKET=5)
SOCK_FLAGS = _pairs(SOCK_NONBLOCK=0o4000, SOCK_CLOEXEC=0o2000000)


def socket_type(value: int) -> str:
    value &= 0xFFFFFFFF
    kind = enum(SOCK_TYPE, value & 0xF, lambda v: f"{v:#x}")
    rest = flags(SOCK_FLAGS, value & ~0xF, "")
    return kind + ("|" + rest if rest else "")


IPPROTO = _pairs(IPPROTO_IP=0, IPPROTO_ICMP=1, IPPROTO_TCP=6, IPPROTO_UDP=17,
                 IPPROTO_IPV6=41, IPPROTO_RAW=255)
SOL = _pairs(SOL_SOCKET=1, SOL_IP=0, SOL_TCP=6, SOL_UDP=17, SOL_IPV6=41)
SO = _pairs(SO_DEBUG=1, SO_REUSEADDR=2, SO_TYPE=3, SO_ERROR=4, SO_DONTROUTE=5,
            SO_BROADCAST=6, SO_SNDBUF=7, SO_RCVBUF=8, SO_KEEPALIVE=9, SO_OOBINLINE=10,
            SO_LINGER=13, SO_REUSEPORT=15, SO_PASSCRED=16, SO_PEERCRED=17, SO_RCVLOWAT=18,
            SO_SNDLOWAT=19, SO_RCVTIMEO_OLD=20, SO_SNDTIMEO_OLD=21, SO_ACCEPTCONN=30,
            SO_PROTOCOL=38, SO_DOMAIN=39)
MSG = _pairs(MSG_OOB=1, MSG_PEEK=2, MSG_DONTROUTE=4, MSG_CTRUNC=8, MSG_TRUNC=0x20,
             MSG_DONTWAIT=0x40, MSG_EOR=0x80, MSG_WAITALL=0x100, MSG_NOSIGNAL=0x4000,
             MSG_MORE=0x8000, MSG_WAITFORONE=0x10000, MSG_CMSG_CLOEXEC=0x40000000)
SHUT = _pairs(SHUT_RD=0, SHUT_WR=1, SHUT_RDWR=2)
POLL = _pairs(POLLIN=1, POLLPRI=2, POLLOUT=4, POLLERR=8, POLLHUP=0x10, POLLNVAL=0x20,
              POLLRDNORM=0x40, POLLRDBAND=0x80, POLLWRNORM=0x100, POLLWRBAND=0x200,
              POLLMSG=0x400, POLLRDHUP=0x2000)
EPOLL_CTL = _pairs(EPOLL_CTL_ADD=1, EPOLL_CTL_DEL=2, EPOLL_CTL_MOD=3)
EPOLL_EVENTS = _pairs(EPOLLIN=1, EPOLLPRI=2, EPOLLOUT=4, EPOLLERR=8, EPOLLHUP=0x10,
                      EPOLLRDNORM=0x40, EPOLLRDBAND=0x80, EPOLLWRNORM=0x100,
                      EPOLLWRBAND=0x200, EPOLLMSG=0x400, EPOLLRDHUP=0x2000,
                      EPOLLEXCLUSIVE=1 << 28, EPOLLWAKEUP=1 << 29, EPOLLONESHOT=1 << 30,
                      EPOLLET=1 << 31)
CLOEXEC = _pairs(O_CLOEXEC=L.O_CLOEXEC)
EFD = _pairs(EFD_SEMAPHORE=1, EFD_NONBLOCK=L.O_NONBLOCK, EFD_CLOEXEC=L.O_CLOEXEC)

# ---- file types, for st_mode ---------------------------------------------------
S_IFMT = _pairs(S_IFREG=L.S_IFREG, S_IFDIR=L.S_IFDIR, S_IFLNK=L.S_IFLNK, S_IFCHR=L.S_IFCHR,
                S_IFBLK=L.S_IFBLK, S_IFIFO=L.S_IFIFO, S_IFSOCK=L.S_IFSOCK)


def st_mode(mode: int) -> str:
    """strace's st_mode: S_IFDIR|S_ISVTX|0777."""
    kind = enum(S_IFMT, mode & L.S_IFMT, lambda v: f"0{v:o}" if v else "")
    special = [name for bit, name in ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX"))
               if mode & bit]
    perm = mode & 0o777
    perm = (f"0{perm:o}" if perm else "0").rjust(3, "0")       # C's %#03o
    return "|".join([k for k in (kind,) if k] + special + [perm])


def ipc_flags(value: int) -> str:
    """IPC_CREAT|IPC_EXCL|0600: shmget's, semget's and msgget's flags."""
    value &= 0xFFFFFFFF
    parts = [name for bit, name in ((0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL"),
                                    (0o4000, "IPC_NOWAIT")) if value & bit]
    rest = value & ~0o7777
    if rest:
        parts.append(f"{rest:#x}")
    if value & 0o777 or not parts:
        parts.append(f"0{value & 0o777:o}" if value & 0o777 else "0")
    return "|".join(parts)


def ipc_key(value: int) -> str:
    value &= 0xFFFFFFFF
    return "IPC_PRIVATE" if value == 0 else f"{value:#x}"


# ---- capabilities (include/uapi/linux/capability.h), bit by bit ------------------
CAPS = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
        "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
        "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
        "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
        "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
        "CHECKPOINT_RESTORE").split()
CAP_VERSIONS = _pairs(_LINUX_CAPABILITY_VERSION_1=0x19980330, _LINUX_CAPABILITY_VERSION_2=0x20071026,
                      _LINUX_CAPABILITY_VERSION_3=0x20080522)


def caps(bits: int) -> str:
    """strace's capability set: 1<<CAP_CHOWN|1<<CAP_KILL..."""
    out = [f"1<<CAP_{name}" for i, name in enumerate(CAPS) if bits >> i & 1]
    rest = bits & ~((1 << len(CAPS)) - 1)
    if rest:
        out.append(f"{rest:#x}")
    return "|".join(out) or "0"
