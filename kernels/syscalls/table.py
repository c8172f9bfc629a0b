"""The syscall table: every x86-64 syscall azemu knows, declared once.

Each entry names the Linux syscall, its handler, how far it is supported and a
note — in the manner of gVisor's linux64.go.  The dispatcher, `azemu syscalls`
and the documentation are all generated from this list; a syscall not listed
here is answered -ENOSYS and reported once, by name.

Handlers have one shape: `handler(process, *args)` with the raw 64-bit
register values; they return the result or raise `LinuxError`.
"""
from __future__ import annotations

from ..abi import linux_errno as E
from ..abi.syscall_numbers import SYSCALL_NAMES, SYSCALL_NUMBERS
from . import (arch_process, drivers_random, kernel_cred, kernel_fork, fs_fcntl, fs_namei, fs_open, fs_read_write,
               fs_readdir, fs_select, fs_stat, kernel_exit, kernel_sched, kernel_signal,
               kernel_sys, kernel_task, kernel_time, mm_mmap, net_socket, proc_exec, proc_fork,
               proc_pidfd, proc_wait)

FULL, PARTIAL, ERROR, MISSING = "full", "partial", "error", "missing"

_FAMILY_OF_MODULE = {
    "fs_read_write": "fs", "fs_open": "fs", "fs_stat": "fs", "fs_readdir": "fs",
    "fs_namei": "fs", "fs_fcntl": "fs", "mm_mmap": "mm", "arch_process": "task",
    "kernel_task": "task", "kernel_cred": "task", "kernel_exit": "task", "kernel_sys": "info", "kernel_fork": "task",
    "kernel_time": "time", "kernel_sched": "sched", "kernel_signal": "signal",
    "drivers_random": "dev", "net_socket": "net", "fs_select": "fs",
    "proc_fork": "task", "proc_exec": "task", "proc_wait": "task", "proc_pidfd": "task",
}
_FAMILY_OF_ERROR = {}


class Syscall:
    """One entry of the table (declared with Supported, Partial or Error)."""
    __slots__ = ("nr", "name", "handler", "support", "note", "errno")

    def __init__(self, nr: int, name: str, handler, support: str, note: str = "", errno: int = 0):
        self.nr, self.name, self.handler = nr, name, handler
        self.support, self.note, self.errno = support, note, errno

    def __repr__(self):
        return f"Syscall({self.nr}, {self.name!r}, {self.support})"

    @property
    def family(self) -> str:
        """The kernel service the call belongs to, from its handler's module:
        fs, net, mm, task, sched, time, signal, info or dev."""
        if self.handler is None:
            return _FAMILY_OF_ERROR.get(self.name, "other")
        mod = self.handler.__module__.rsplit(".", 1)[-1]
        return _FAMILY_OF_MODULE.get(mod, "other")

    @property
    def offloaded(self) -> bool:
        """Served by the FWK in lwk and unikernel modes (file and network I/O)."""
        return self.family in ("fs", "net")

    @property
    def arity(self) -> int:
        if self.handler is None:
            return 0
        return self.handler.__code__.co_argcount - 1


def Supported(name, handler, note=""):
    return Syscall(SYSCALL_NUMBERS[name], name, handler, FULL, note)


def Partial(name, handler, note):
    return Syscall(SYSCALL_NUMBERS[name], name, handler, PARTIAL, note)


def Error(name, errno, note):
    return Syscall(SYSCALL_NUMBERS[name], name, None, ERROR, note, errno)


TABLE = [
    # fs/read_write.c
    Supported("read", fs_read_write.read),
    Supported("write", fs_read_write.write),
    Supported("readv", fs_read_write.readv),
    Supported("writev", fs_read_write.writev),
    Supported("pread64", fs_read_write.pread64),
    Supported("pwrite64", fs_read_write.pwrite64),
    Supported("preadv", fs_read_write.preadv),
    Supported("pwritev", fs_read_write.pwritev),
    Supported("lseek", fs_read_write.lseek),
    Partial("sendfile", fs_read_write.sendfile, "copies through a buffer, at most 1 MiB a call"),
    Supported("fadvise64", fs_read_write.fadvise64, "advice is accepted and ignored"),
    # fs/open.c
    Supported("open", fs_open.open),
    Supported("openat", fs_open.openat),
    Supported("creat", fs_open.creat),
    Supported("close", fs_open.close),
    Partial("close_range", fs_open.close_range,
            "CLOSE_RANGE_UNSHARE acts on the table in place (shared with CLONE_FILES threads)"),
    Supported("access", fs_open.access),
    Supported("faccessat", fs_open.faccessat),
    Supported("faccessat2", fs_open.faccessat2),
    Supported("chdir", fs_open.chdir),
    Supported("fchdir", fs_open.fchdir),
    Supported("chmod", fs_open.chmod),
    Supported("fchmod", fs_open.fchmod),
    Supported("fchmodat", fs_open.fchmodat),
    Supported("truncate", fs_open.truncate),
    Supported("ftruncate", fs_open.ftruncate),
    Supported("fsync", fs_open.fsync),
    Supported("fdatasync", fs_open.fdatasync),
    Supported("utimensat", fs_open.utimensat),
    # fs/stat.c
    Supported("stat", fs_stat.stat),
    Supported("fstat", fs_stat.fstat),
    Supported("lstat", fs_stat.lstat),
    Supported("newfstatat", fs_stat.newfstatat),
    Partial("statx", fs_stat.statx, "fills the basic fields whatever the mask asks"),
    Supported("statfs", fs_stat.statfs),
    Supported("fstatfs", fs_stat.fstatfs),
    Supported("readlink", fs_stat.readlink),
    Supported("readlinkat", fs_stat.readlinkat),
    # fs/readdir.c
    Supported("getdents64", fs_readdir.getdents64),
    Error("getdents", E.ENOSYS, "the 32-bit-inode variant; libcs use getdents64"),
    # fs/namei.c
    Supported("mkdir", fs_namei.mkdir),
    Supported("mkdirat", fs_namei.mkdirat),
    Supported("rmdir", fs_namei.rmdir),
    Supported("unlink", fs_namei.unlink),
    Supported("unlinkat", fs_namei.unlinkat),
    Supported("rename", fs_namei.rename),
    Supported("renameat", fs_namei.renameat),
    Partial("renameat2", fs_namei.renameat2, "flags (RENAME_NOREPLACE, RENAME_EXCHANGE) give EINVAL"),
    Supported("link", fs_namei.link),
    Supported("linkat", fs_namei.linkat),
    Supported("symlink", fs_namei.symlink),
    Supported("symlinkat", fs_namei.symlinkat),
    # fs/fcntl.c, fs/file.c, fs/pipe.c, fs/ioctl.c, fs/d_path.c
    Partial("fcntl", fs_fcntl.fcntl, "record locks always succeed (one process)"),
    Supported("dup", fs_fcntl.dup),
    Supported("dup2", fs_fcntl.dup2),
    Supported("dup3", fs_fcntl.dup3),
    Supported("pipe", fs_fcntl.pipe),
    Supported("pipe2", fs_fcntl.pipe2),
    Partial("ioctl", fs_fcntl.ioctl, "terminal queries (TCGETS, TIOCGWINSZ, TIOCGPGRP), FIONBIO, FIOCLEX; ENOTTY otherwise"),
    Supported("getcwd", fs_fcntl.getcwd),
    # mm/
    Supported("brk", mm_mmap.brk),
    Partial("mmap", mm_mmap.mmap, "demand-paged; MAP_SHARED file mappings are written back on msync, munmap and exit, not kept coherent with the file"),
    Supported("munmap", mm_mmap.munmap),
    Supported("mprotect", mm_mmap.mprotect),
    Supported("mremap", mm_mmap.mremap),
    Supported("madvise", mm_mmap.madvise),
    Supported("msync", mm_mmap.msync),
    Supported("mincore", mm_mmap.mincore),
    Supported("mlock", mm_mmap.mlock),
    Supported("munlock", mm_mmap.munlock),
    # arch/x86/kernel/process_64.c
    Supported("arch_prctl", arch_process.arch_prctl),
    # kernel/fork.c, kernel/futex, kernel/rseq.c
    Supported("set_tid_address", kernel_task.set_tid_address),
    Supported("set_robust_list", kernel_task.set_robust_list),
    Supported("get_robust_list", kernel_task.get_robust_list),
    Supported("rseq", kernel_task.rseq),
    Partial("futex", kernel_fork.futex, "WAIT, WAKE, the BITSET pair, REQUEUE, CMP_REQUEUE, WAKE_OP; no PI futexes"),
    Partial("clone", kernel_fork.clone, "threads, and processes (proc_fork): no namespaces, "
            "no ptrace; none in a libOS image"),
    Partial("clone3", proc_fork.clone3, "as clone; no set_tid, no cgroup"),
    Supported("pidfd_open", proc_pidfd.pidfd_open),
    Partial("pidfd_send_signal", proc_pidfd.pidfd_send_signal, "flags 0 (no PIDFD_SIGNAL_*)"),
    Supported("pidfd_getfd", proc_pidfd.pidfd_getfd),
    Partial("fork", proc_fork.fork, "copy-on-write; not in a libOS image"),
    Partial("vfork", proc_fork.vfork, "the parent waits until the child execs or ends; not in a libOS image"),
    Partial("execve", proc_exec.execve, "static, static-pie, dynamic ELF and #! scripts; not in a libOS image"),
    Partial("execveat", proc_exec.execveat, "as execve"),
    Supported("wait4", proc_wait.wait4),
    Supported("waitid", proc_wait.waitid),
    Supported("setpgid", proc_wait.setpgid),
    Supported("setsid", proc_wait.setsid),
    # fs/xattr.c: no extended attributes are offered
    Error("getxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("lgetxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("fgetxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("listxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("llistxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("flistxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("setxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("lsetxattr", E.EOPNOTSUPP, "no extended attributes"),
    Error("fsetxattr", E.EOPNOTSUPP, "no extended attributes"),
    # net/socket.c: host sockets through the FWK
    Supported("socket", net_socket.socket),
    Supported("socketpair", net_socket.socketpair),
    Partial("bind", net_socket.bind, "AF_UNIX path names are refused under --root"),
    Partial("connect", net_socket.connect, "AF_UNIX path names are refused under --root"),
    Supported("listen", net_socket.listen),
    Supported("accept", net_socket.accept),
    Supported("accept4", net_socket.accept4),
    Supported("sendto", net_socket.sendto),
    Supported("recvfrom", net_socket.recvfrom),
    Partial("sendmsg", net_socket.sendmsg, "control messages pass through: SCM_RIGHTS fds are not translated"),
    Partial("recvmsg", net_socket.recvmsg, "control messages pass through: SCM_RIGHTS fds are not translated"),
    Supported("shutdown", net_socket.shutdown),
    Supported("getsockname", net_socket.getsockname),
    Supported("getpeername", net_socket.getpeername),
    Supported("setsockopt", net_socket.setsockopt),
    Supported("getsockopt", net_socket.getsockopt),
    # fs/select.c, fs/eventpoll.c
    Supported("poll", fs_select.poll),
    Partial("ppoll", fs_select.ppoll, "the signal mask argument is ignored"),
    Supported("select", fs_select.select),
    Partial("pselect6", fs_select.pselect6, "the signal mask argument is ignored"),
    Supported("epoll_create", fs_select.epoll_create),
    Supported("epoll_create1", fs_select.epoll_create1),
    Supported("epoll_ctl", fs_select.epoll_ctl),
    Supported("epoll_wait", fs_select.epoll_wait),
    Partial("epoll_pwait", fs_select.epoll_pwait, "the signal mask argument is ignored"),
    # kernel/sys.c
    Supported("getpid", kernel_sys.getpid),
    Supported("getppid", kernel_sys.getppid),
    Supported("gettid", kernel_sys.gettid),
    Supported("getuid", kernel_sys.getuid),
    Supported("geteuid", kernel_sys.geteuid),
    Supported("getgid", kernel_sys.getgid),
    Supported("getegid", kernel_sys.getegid),
    Supported("getpgrp", proc_wait.getpgrp),
    Supported("getpgid", proc_wait.getpgid),
    Supported("getsid", proc_wait.getsid),
    Supported("getgroups", kernel_sys.getgroups),
    Supported("getresuid", kernel_sys.getresuid),
    Partial("setuid", kernel_cred.setuid, "the guest's ids only: the host process keeps azemu's"),
    Partial("setgid", kernel_cred.setgid, "the guest's ids only: the host process keeps azemu's"),
    Partial("setreuid", kernel_cred.setreuid, "the guest's ids only"),
    Partial("setregid", kernel_cred.setregid, "the guest's ids only"),
    Partial("setresuid", kernel_cred.setresuid, "the guest's ids only"),
    Partial("setresgid", kernel_cred.setresgid, "the guest's ids only"),
    Partial("setfsuid", kernel_cred.setfsuid, "returns the effective id; changes nothing"),
    Partial("setfsgid", kernel_cred.setfsgid, "returns the effective id; changes nothing"),
    Supported("getresgid", kernel_sys.getresgid),
    Supported("uname", kernel_sys.uname),
    Supported("sysinfo", kernel_sys.sysinfo),
    Supported("umask", kernel_sys.umask),
    Supported("times", kernel_sys.times),
    Partial("getrusage", kernel_sys.getrusage, "measured per process (kernels/rusage.py); "
            "ru_stime is 0: azemu's kernel time is in ru_utime"),
    Supported("prlimit64", kernel_sys.prlimit64),
    Supported("getrlimit", kernel_sys.getrlimit),
    Partial("prctl", kernel_sys.prctl, "PR_SET_NAME/GET_NAME, DUMPABLE, PDEATHSIG; EINVAL otherwise"),
    Partial("setrlimit", kernel_sys.setrlimit, "limits are recorded, not enforced"),
    # kernel/time/
    Supported("clock_gettime", kernel_time.clock_gettime),
    Supported("clock_getres", kernel_time.clock_getres),
    Supported("gettimeofday", kernel_time.gettimeofday),
    Supported("time", kernel_time.time_),
    Supported("nanosleep", kernel_time.nanosleep),
    Supported("clock_nanosleep", kernel_time.clock_nanosleep),
    # kernel/sched/core.c
    Supported("sched_yield", kernel_sched.sched_yield),
    Supported("sched_getaffinity", kernel_sched.sched_getaffinity),
    Supported("sched_setaffinity", kernel_sched.sched_setaffinity),
    Supported("getcpu", kernel_sched.getcpu),
    # kernel/signal.c
    Supported("rt_sigaction", kernel_signal.rt_sigaction),
    Supported("rt_sigprocmask", kernel_signal.rt_sigprocmask),
    Supported("rt_sigreturn", kernel_signal.rt_sigreturn),
    Supported("rt_sigpending", kernel_signal.rt_sigpending),
    Supported("rt_sigsuspend", kernel_signal.rt_sigsuspend),
    Supported("pause", kernel_signal.pause),
    Supported("sigaltstack", kernel_signal.sigaltstack),
    Partial("kill", kernel_signal.kill, "to processes of the instance: one, a group, all"),
    Partial("tgkill", kernel_signal.tgkill, "to the process itself only"),
    Partial("tkill", kernel_signal.tkill, "to the process itself only"),
    # kernel/exit.c
    Supported("exit", kernel_fork.exit),
    Supported("exit_group", kernel_exit.exit_group),
    # drivers/char/random.c
    Supported("getrandom", drivers_random.getrandom),
]

BY_NUMBER = {s.nr: s for s in TABLE}
assert len(BY_NUMBER) == len(TABLE), "a syscall is declared twice"


def name_of(nr: int) -> str:
    return SYSCALL_NAMES.get(nr, f"syscall_{nr}")


def all_entries() -> list[Syscall]:
    """Every known syscall number, declared or not (undeclared ones as MISSING)."""
    out = []
    for nr in sorted(SYSCALL_NAMES):
        out.append(BY_NUMBER.get(nr) or Syscall(nr, SYSCALL_NAMES[nr], None, MISSING,
                                                "not implemented: -ENOSYS", E.ENOSYS))
    return out
