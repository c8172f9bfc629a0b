"""What each syscall's arguments and result look like in a trace, declared
once, next to the syscall table (kernels/syscalls/table.py), in the manner of
strace's own syscall descriptions.

A signature is a string: the arguments, comma-separated, then optionally
`-> RESULT`.  Each argument is a kind, with a parameter after a colon:

    int uint long hex ptr size off mode   numbers: signed 32-bit, unsigned,
                                          signed 64-bit, hex, NULL-or-hex,
                                          unsigned decimal, signed offset,
                                          octal permissions
    fd atfd                               a descriptor (AT_FDCWD for atfd)
    path str                              a NUL-terminated string (a path is
                                          never cut at -s)
    buf:N                                 bytes given, their count in arg N
    flags:T enum:T                        a bit set / one value of table T
                                          (kernels/syscalls/trace_names.py)
    fn:F                                  a value printed by trace_names.F
    sig sigset:N                          a signal; a signal set of N bytes
    argv envp                             execve's vectors
    iov:N                                 an iovec array of N entries, given
    iovaddr:N                             the same, of another process: addresses
    S                                     a struct given (timespec, rlimit,
                                          sigaction, sockaddr:N, pollfd:N,
                                          stack, itimerval, timeval, clone_args,
                                          epoll_event, msghdr)
    omode:N                               a mode, printed only when arg N has
                                          O_CREAT or O_TMPFILE (open's)
    fcntl:N                               fcntl's argument, by the command in N
    clone skip                            clone's arguments, named as strace
                                          names them; an argument not printed
    sigframe                              rt_sigreturn's: the mask it restores
    futexargs                             futex's arguments after op, as the op uses them
    ifflag:N/M                            a pointer printed only when arg N has bit M
    ioctl:N                               ioctl's argument, by the request in N

A kind written `<KIND` is filled by the call and printed after it (what a
read read, what a stat found): `<buf:ret` is as many bytes as the call
returned, `<iov:ret` the same spread over an iovec array, `<fds` the two
descriptors of pipe, `<intptr` an int written (wait4's status, socketpair),
`<ints:ret` as many ints as the call returned (getgroups), `<stat`, `<statx`, `<utsname`, `<sigset:N`, `<dirents`, `<sockaddr:N` (N:
the address of its length), ...  Results: `int` (the default), `hex`, `oct`,
`fcntl` (F_GETFD's and F_GETFL's flags named), `poll` (the ready fds), `none` (the call does not
return: `= ?`).

Undeclared calls print their arguments by the handler's parameter names
(kernels/syscalls/strace.py).
"""
from __future__ import annotations

SIGNATURES = {
    # fs/read_write.c
    "read": "fd, <buf:ret, size", "write": "fd, buf:2, size",
    "pread64": "fd, <buf:ret, size, off", "pwrite64": "fd, buf:2, size, off",
    "readv": "fd, <iov:ret, int", "writev": "fd, iov:2, int",
    "preadv": "fd, <iov:ret, int, off", "pwritev": "fd, iov:2, int, off",
    "preadv2": "fd, <iov:ret, int, off, hex", "pwritev2": "fd, iov:2, int, off, hex",
    "lseek": "fd, off, enum:WHENCE",
    "sendfile": "fd, fd, ptr, size", "fadvise64": "fd, off, size, int",
    # fs/open.c
    "open": "path, fn:open_flags, omode:1",
    "openat": "atfd, path, fn:open_flags, omode:2",
    "creat": "path, mode", "close": "fd", "close_range": "uint, uint, hex",
    "access": "path, flags:ACCESS_MODE", "faccessat": "atfd, path, flags:ACCESS_MODE",
    "faccessat2": "atfd, path, flags:ACCESS_MODE, flags:ACCESS_AT",
    "chdir": "path", "fchdir": "fd", "chmod": "path, mode", "fchmod": "fd, mode",
    "fchmodat": "atfd, path, mode", "truncate": "path, off", "ftruncate": "fd, off",
    "fsync": "fd", "fdatasync": "fd", "chown": "path, int, int", "fchown": "fd, int, int",
    "lchown": "path, int, int", "fchownat": "atfd, path, int, int, flags:AT",
    "mknod": "path, mode, hex", "mknodat": "atfd, path, mode, hex",
    "utimensat": "atfd, path, ptr, flags:AT",
    # fs/stat.c
    "stat": "path, <stat", "lstat": "path, <stat", "fstat": "fd, <stat",
    "newfstatat": "atfd, path, <stat, flags:AT",
    "statx": "atfd, path, fn:statx_flags, flags:STATX_MASK, <statx",
    "statfs": "path, ptr", "fstatfs": "fd, ptr",
    "readlink": "path, <buf:ret, size", "readlinkat": "atfd, path, <buf:ret, size",
    # fs/readdir.c, namei.c
    "getdents64": "fd, <dirents, size", "getdents": "fd, <dirents, size",
    "mkdir": "path, mode", "mkdirat": "atfd, path, mode", "rmdir": "path",
    "unlink": "path", "unlinkat": "atfd, path, flags:AT",
    "rename": "path, path", "renameat": "atfd, path, atfd, path",
    "renameat2": "atfd, path, atfd, path, flags:RENAME",
    "link": "path, path", "linkat": "atfd, path, atfd, path, flags:AT",
    "symlink": "path, path", "symlinkat": "path, atfd, path",
    # fs/fcntl.c, file.c, pipe.c, ioctl.c
    "fcntl": "fd, enum:FCNTL, <fcntl:1 -> fcntl", "flock": "fd, flags:FLOCK",
    "dup": "fd", "dup2": "fd, fd", "dup3": "fd, fd, flags:CLOEXEC",
    "pipe": "<fds", "pipe2": "<fds, flags:PIPE",
    "ioctl": "fd, enum:IOCTL, <ioctl:1", "getcwd": "<path, size",
    # mm/
    "brk": "ptr -> hex",
    "mmap": "ptr, size, flags:PROT, fn:map_flags, fd, hex -> hex",
    "munmap": "ptr, size", "mprotect": "ptr, size, flags:PROT",
    "mremap": "ptr, size, size, flags:MREMAP, ifflag:3/2 -> hex",
    "madvise": "ptr, size, enum:MADV", "msync": "ptr, size, flags:MSYNC",
    "mincore": "ptr, size, <mincore:1", "mlock": "ptr, size", "munlock": "ptr, size",
    "mlockall": "flags:MLOCK",
    # arch, kernel/fork.c, futex, rseq
    "arch_prctl": "enum:ARCH_PRCTL, hex",
    "set_tid_address": "ptr", "set_robust_list": "ptr, size",
    "rseq": "ptr, hex, int, hex",
    "futex": "ptr, fn:futex_op, futexargs, skip, skip, skip",
    "clone": "<clone, skip, skip, skip, skip",
    "clone3": "<clone_args, size",
    "fork": "", "vfork": "",
    "execve": "path, argv, envp", "execveat": "atfd, path, argv, envp, flags:AT",
    "wait4": "int, <wstatus, flags:WAIT, ptr", "waitid": "enum:IDTYPE, int, <waitinfo, flags:WAIT, ptr",
    "pidfd_open": "int, flags:PIDFD", "pidfd_send_signal": "fd, sig, ptr, hex",
    "pidfd_getfd": "fd, fd, hex",
    "process_vm_readv": "int, <iov:ret, uint, iovaddr:4, uint, uint",
    "process_vm_writev": "int, iov:2, uint, iovaddr:4, uint, uint",
    "exit": "int -> none", "exit_group": "int -> none",
    "kill": "int, sig", "tkill": "int, sig", "tgkill": "int, int, sig",
    "setpgid": "int, int", "setsid": "", "getpgid": "int", "getsid": "int",
    # net/socket.c
    "socket": "enum:AF, fn:socket_type, enum:IPPROTO", "socketpair": "enum:AF, fn:socket_type, int, <fds",
    "bind": "fd, sockaddr:2, int", "connect": "fd, sockaddr:2, int", "listen": "fd, int",
    "accept": "fd, <sockaddr:2, <intptr", "accept4": "fd, <sockaddr:2, <intptr, flags:SOCK_FLAGS",
    "getsockname": "fd, <sockaddr:2, <intptr", "getpeername": "fd, <sockaddr:2, <intptr",
    "sendto": "fd, buf:2, size, flags:MSG, sockaddr:5, int",
    "recvfrom": "fd, <buf:ret, size, flags:MSG, <sockaddr:5, ptr",
    "sendmsg": "fd, msghdr, flags:MSG", "recvmsg": "fd, <msghdr, flags:MSG",
    "shutdown": "fd, enum:SHUT",
    "setsockopt": "fd, enum:SOL, enum:SO, intptr, int",
    "getsockopt": "fd, enum:SOL, enum:SO, <intptr, ptr",
    # fs/select.c, eventpoll.c
    "poll": "pollfd:1, uint, int -> poll", "ppoll": "pollfd:1, uint, timespec, sigset:4, size -> poll",
    "epoll_create": "int", "epoll_create1": "flags:CLOEXEC",
    "epoll_ctl": "fd, enum:EPOLL_CTL, fd, epoll_event", "epoll_wait": "fd, <epoll_events, int, int",
    "epoll_pwait": "fd, <epoll_events, int, int, <sigset:5, size",
    "epoll_pwait2": "fd, <epoll_events, int, <timespec, <sigset:5, size",
    "eventfd2": "uint, flags:EFD", "eventfd": "uint",
    # kernel/sys.c
    "getpid": "", "getppid": "", "gettid": "", "getuid": "", "geteuid": "", "getgid": "",
    "getegid": "", "getpgrp": "", "umask": "mode -> oct",
    "uname": "<utsname", "sysinfo": "<sysinfo", "times": "<tms",
    "prlimit64": "int, enum:RLIMIT, rlimit, <rlimit",
    "getrlimit": "enum:RLIMIT, <rlimit", "setrlimit": "enum:RLIMIT, rlimit",
    "getrusage": "enum:RUSAGE_WHO, <rusage", "prctl": "enum:PRCTL, hex, hex, hex, hex",
    "setuid": "int", "setgid": "int", "setreuid": "int, int", "setregid": "int, int",
    "setresuid": "int, int, int", "setresgid": "int, int, int",
    "getresuid": "<intptr, <intptr, <intptr", "getresgid": "<intptr, <intptr, <intptr",
    "setfsuid": "int", "setfsgid": "int",
    "getgroups": "int, <ints:ret", "setgroups": "int, ints:0",
    "capget": "capheader, <capdata", "capset": "capheader, capdata",
    # kernel/time
    "clock_gettime": "enum:CLOCK, <timespec", "clock_getres": "enum:CLOCK, <timespec",
    "gettimeofday": "<timeval, ptr", "time": "ptr",
    "nanosleep": "timespec, ptr", "clock_nanosleep": "enum:CLOCK, flags:TIMER, timespec, ptr",
    "getitimer": "enum:ITIMER, ptr", "setitimer": "enum:ITIMER, itimerval, ptr",
    "alarm": "uint",
    # kernel/sched
    "sched_yield": "", "sched_getaffinity": "int, size, <cpuset", "getcpu": "ptr, ptr, ptr",
    "sched_setaffinity": "int, size, ptr",
    # kernel/signal.c
    "rt_sigaction": "sig, sigaction, <sigaction, size",
    "rt_sigprocmask": "enum:SIGPROCMASK_HOW, sigset:3, <sigset:3, size",
    "rt_sigreturn": "sigframe", "rt_sigpending": "<sigset:1, size",
    "rt_sigsuspend": "sigset:1, size", "pause": "",
    "sigaltstack": "stack, <stack",
    "rt_sigtimedwait": "sigset:3, ptr, timespec, size",
    # ipc/: System V and POSIX message queues
    "shmget": "fn:ipc_key, size, fn:ipc_flags", "shmat": "int, ptr, flags:SHM_AT -> hex",
    "shmdt": "ptr", "shmctl": "int, enum:IPC_CMD, ptr",
    "semget": "fn:ipc_key, int, fn:ipc_flags", "semctl": "int, int, enum:IPC_CMD, hex",
    "msgget": "fn:ipc_key, fn:ipc_flags", "msgctl": "int, enum:IPC_CMD, ptr",
    "mq_open": "path, fn:open_flags, omode:1, mqattr:1", "mq_unlink": "path",
    "mq_getsetattr": "fd, mqattr, <mqattr", "mq_timedsend": "fd, buf:2, size, uint, timespec",
    "mq_timedreceive": "fd, <buf:ret, size, <intptr, timespec",
    # drivers/char/random.c
    "getrandom": "<hexbuf:ret, size, flags:GRND",
}
