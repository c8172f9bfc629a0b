"""Linux x86-64 ABI constants and structure layouts, under their Linux names.

One source of truth for flag values and the binary layout of every structure a
syscall handler reads from or writes to guest memory.  Values are the guest's
(x86-64 Linux), independent of the host Python's `os` constants.
"""
import struct

# ---- fcntl.h / open ----------------------------------------------------------
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 0o3, 0o0, 0o1, 0o2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC = 0o100, 0o200, 0o400, 0o1000
O_APPEND, O_NONBLOCK, O_DSYNC, O_DIRECT = 0o2000, 0o4000, 0o10000, 0o40000
O_LARGEFILE, O_DIRECTORY, O_NOFOLLOW, O_NOATIME = 0o100000, 0o200000, 0o400000, 0o1000000
O_CLOEXEC, O_SYNC, O_PATH, O_TMPFILE = 0o2000000, 0o4010000, 0o10000000, 0o20200000
# openat2's open_how.resolve (include/uapi/linux/openat2.h)
RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW, AT_EACCESS, AT_REMOVEDIR = 0x100, 0x200, 0x200
AT_SYMLINK_FOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH = 0x400, 0x800, 0x1000

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_SETOWN, F_GETOWN = 8, 9
F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ = 1030, 1031, 1032
FD_CLOEXEC = 1

SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4

R_OK, W_OK, X_OK, F_OK = 4, 2, 1, 0

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2

# ---- stat.h -------------------------------------------------------------------
S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK = 0o020000, 0o060000, 0o010000, 0o140000
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12

# struct stat (arch/x86/include/uapi/asm/stat.h), 144 bytes
STAT = struct.Struct("<QQQIIIIQqqqqqqqqq24x")
# struct statx (include/uapi/linux/stat.h), 256 bytes
STATX = struct.Struct("<IIQIIIHHQQQQqIiqIiqIiqIiIIII112x")
STATX_BASIC_STATS = 0x7FF
STATX_BTIME = 0x800
# struct linux_dirent64: d_ino, d_off, d_reclen, d_type, then the name
DIRENT64 = struct.Struct("<QqHB")

# ---- mman.h -------------------------------------------------------------------
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
PROT_GROWSDOWN, PROT_GROWSUP = 0x01000000, 0x02000000
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_TYPE = 0x01, 0x02, 0x03, 0x0F
MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_DENYWRITE = 0x10, 0x20, 0x100, 0x800
MAP_EXECUTABLE, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE = 0x1000, 0x2000, 0x4000, 0x8000
MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB, MAP_FIXED_NOREPLACE = 0x10000, 0x20000, 0x40000, 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED = 0, 1, 2, 3, 4
MADV_FREE = 8
TASK_SIZE = 0x7FFFFFFFF000

# ---- arch_prctl ---------------------------------------------------------------
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012

# ---- time ---------------------------------------------------------------------
TIMESPEC = struct.Struct("<qq")
TIMEVAL = struct.Struct("<qq")
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID = 0, 1, 2
CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE = 3, 4, 5
CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_TAI = 6, 7, 11
TIMER_ABSTIME = 1
TMS = struct.Struct("<qqqq")
RUSAGE = struct.Struct("<qqqq14q")
RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD = 0, -1, 1

# ---- sys ----------------------------------------------------------------------
UTSNAME_FIELD = 65
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")
RLIMIT = struct.Struct("<QQ")
RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE = 0, 1, 2, 3, 4
RLIMIT_RSS, RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_MEMLOCK, RLIMIT_AS = 5, 6, 7, 8, 9
RLIM_NLIMITS = 16
GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE = 1, 2, 4

# ---- signals ------------------------------------------------------------------
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM = 9, 10, 11, 12, 13, 14, 15
SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU = 16, 17, 18, 19, 20, 21, 22
SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS = (
    23, 24, 25, 26, 27, 28, 29, 30, 31)
NSIG = 64
SIGNAL_NAMES = {v: k for k, v in list(globals().items())
                if k.startswith("SIG") and isinstance(v, int) and not k.startswith("SIGNAL")}
SIG_DFL, SIG_IGN = 0, 1
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_ONSTACK = 1, 2, 4, 0x08000000
SA_RESTART, SA_NODEFER, SA_RESETHAND, SA_RESTORER = 0x10000000, 0x40000000, 0x80000000, 0x04000000
SIGACTION = struct.Struct("<QQQQ")        # kernel struct sigaction: handler, flags, restorer, mask
STACK_T = struct.Struct("<Qi4xQ")         # ss_sp, ss_flags, ss_size
SS_ONSTACK, SS_DISABLE = 1, 2
MINSIGSTKSZ = 2048
# Signals whose default action is to ignore; stop/continue are treated as ignored here.
# Signals whose default action dumps core (signal(7)).
CORE_SIGNALS = frozenset((SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU,
                          SIGXFSZ, SIGSYS))
SIG_DEFAULT_IGNORE = {SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}

# ---- ioctl (asm-generic/ioctls.h) -----------------------------------------------
TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCXONC, TCFLSH, TIOCGSID = 0x540A, 0x540B, 0x5429
TIOCGPGRP, TIOCSPGRP, TIOCGWINSZ, TIOCSWINSZ = 0x540F, 0x5410, 0x5413, 0x5414
FIONREAD, FIONBIO, FIOCLEX, FIONCLEX = 0x541B, 0x5421, 0x5451, 0x5450
WINSIZE = struct.Struct("<HHHH")
TERMIOS_SIZE = 36                        # struct termios (kernel, not glibc's)

# ---- misc -----------------------------------------------------------------------
IOVEC = struct.Struct("<QQ")
IOV_MAX = 1024
PATH_MAX = 4096

# Socket ioctls that read an interface's settings (struct ifreq, 40 bytes):
# SIOCGIFNAME, FLAGS, ADDR, DSTADDR, BRDADDR, NETMASK, METRIC, MTU, HWADDR, INDEX,
# TXQLEN.  Those that change them (SIOCSIF*) need CAP_NET_ADMIN.
SIOCGIF = frozenset((0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891B, 0x891D, 0x8921,
                     0x8927, 0x8933, 0x8942))
SIOCSIF = frozenset((0x8914, 0x8916, 0x8918, 0x891A, 0x891C, 0x891E, 0x8922, 0x8923, 0x8924,
                     0x8934, 0x8943))
IFREQ_SIZE = 40
