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
from . import (arch_process, drivers_random, fs_attr, fs_copy, fs_fcntl, fs_namei, fs_objects,
               fs_open, fs_read_write, fs_readdir, fs_select, fs_stat, fs_xattr, ipc_mqueue,
               ipc_sysv, kernel_cred, kernel_exit, kernel_fork, kernel_prio, kernel_sched,
               kernel_signal, kernel_sigwait, kernel_sys, kernel_task, kernel_time, kernel_timer,
               mm_mmap, mm_policy, net_socket, proc_exec, proc_fork, proc_pidfd, proc_vm,
               proc_wait)

FULL, PARTIAL, ERROR, MISSING = "full", "partial", "error", "missing"

_FAMILY_OF_MODULE = {
    "fs_read_write": "fs", "fs_open": "fs", "fs_stat": "fs", "fs_readdir": "fs",
    "fs_namei": "fs", "fs_fcntl": "fs", "mm_mmap": "mm", "arch_process": "task",
    "kernel_task": "task", "kernel_cred": "task", "kernel_exit": "task", "kernel_sys": "info", "kernel_fork": "task",
    "kernel_time": "time", "kernel_sched": "sched", "kernel_signal": "signal",
    "drivers_random": "dev", "net_socket": "net", "fs_select": "fs",
    "proc_fork": "task", "proc_exec": "task", "proc_wait": "task", "proc_pidfd": "task",
    "proc_vm": "mm",
    "fs_attr": "fs", "fs_copy": "fs", "fs_objects": "fs", "kernel_prio": "sched",
    "mm_policy": "mm", "kernel_sigwait": "signal", "kernel_timer": "time", "ipc_sysv": "ipc", "ipc_mqueue": "ipc",
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
    Partial("preadv2", fs_read_write.preadv2, "RWF_NOWAIT: EOPNOTSUPP"),
    Supported("pwritev2", fs_read_write.pwritev2),
    Supported("lseek", fs_read_write.lseek),
    Partial("sendfile", fs_read_write.sendfile, "copies through a buffer, at most 1 MiB a call"),
    Supported("fadvise64", fs_read_write.fadvise64, "advice is accepted and ignored"),
    # fs/open.c
    Supported("open", fs_open.open),
    Supported("openat", fs_open.openat),
    Supported("openat2", fs_open.openat2),
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
    Supported("utime", fs_attr.utime),
    Supported("utimes", fs_attr.utimes),
    Supported("futimesat", fs_attr.futimesat),
    Partial("chown", fs_attr.chown, "as the host user azemu runs as (EPERM where it may not)"),
    Partial("lchown", fs_attr.lchown, "as chown"),
    Partial("fchown", fs_attr.fchown, "as chown"),
    Partial("fchownat", fs_attr.fchownat, "as chown"),
    Partial("mknod", fs_attr.mknod, "regular files and FIFOs; device nodes: EPERM"),
    Partial("mknodat", fs_attr.mknodat, "as mknod"),
    # fs/splice.c, fs/sync.c, mm/readahead.c, fs/open.c fallocate
    Supported("splice", fs_copy.splice),
    Supported("tee", fs_copy.tee),
    Supported("vmsplice", fs_copy.vmsplice, "copies (SPLICE_F_GIFT is a hint)"),
    Supported("copy_file_range", fs_copy.copy_file_range),
    Supported("fallocate", fs_copy.fallocate),
    Supported("sync", fs_copy.sync),
    Supported("syncfs", fs_copy.syncfs),
    Supported("sync_file_range", fs_copy.sync_file_range),
    Supported("readahead", fs_copy.readahead),
    # fs/eventfd.c, fs/timerfd.c, fs/notify/inotify, mm/memfd.c: host objects
    Supported("eventfd", fs_objects.eventfd),
    Supported("eventfd2", fs_objects.eventfd2),
    Supported("timerfd_create", fs_objects.timerfd_create),
    Supported("timerfd_settime", fs_objects.timerfd_settime),
    Supported("timerfd_gettime", fs_objects.timerfd_gettime),
    Supported("inotify_init", fs_objects.inotify_init),
    Supported("inotify_init1", fs_objects.inotify_init1),
    Supported("inotify_add_watch", fs_objects.inotify_add_watch),
    Supported("inotify_rm_watch", fs_objects.inotify_rm_watch),
    Partial("memfd_create", fs_objects.memfd_create, "no file seals (F_ADD_SEALS)"),
    # fs/stat.c
    Supported("stat", fs_stat.stat),
    Supported("fstat", fs_stat.fstat),
    Supported("lstat", fs_stat.lstat),
    Supported("newfstatat", fs_stat.newfstatat),
    Supported("statx", fs_stat.statx),
    Supported("statfs", fs_stat.statfs),
    Supported("fstatfs", fs_stat.fstatfs),
    Supported("readlink", fs_stat.readlink),
    Supported("readlinkat", fs_stat.readlinkat),
    # fs/readdir.c
    Supported("getdents64", fs_readdir.getdents64),
    Supported("getdents", fs_readdir.getdents),
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
    Partial("fcntl", fs_fcntl.fcntl, "no SIGIO: F_SETOWN(_EX) and F_NOTIFY are accepted, no signal is sent"),
    Supported("flock", fs_fcntl.flock),
    Supported("dup", fs_fcntl.dup),
    Supported("dup2", fs_fcntl.dup2),
    Supported("dup3", fs_fcntl.dup3),
    Supported("pipe", fs_fcntl.pipe),
    Supported("pipe2", fs_fcntl.pipe2),
    Partial("ioctl", fs_fcntl.ioctl, "terminals (TCGETS/TCSETS*, TIOCGWINSZ/TIOCSWINSZ, TCFLSH, "
            "TCXONC; job control: TIOCGPGRP/TIOCSPGRP/TIOCGSID, kernels/tty.py), FIONREAD, FIONBIO, "
            "FIOCLEX; ENOTTY otherwise"),
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
    Supported("mlock2", mm_policy.mlock2),
    Supported("mlockall", mm_policy.mlockall, "frames are never swapped out"),
    Supported("munlockall", mm_policy.munlockall),
    Supported("membarrier", mm_policy.membarrier, "an instance's cores never run at once"),
    *(Partial(n, getattr(mm_policy, n), "one NUMA node") for n in (
        "mbind", "set_mempolicy", "get_mempolicy", "migrate_pages", "move_pages",
        "set_mempolicy_home_node")),
    Partial("pkey_alloc", mm_policy.pkey_alloc, "no protection keys: ENOSPC"),
    Partial("pkey_free", mm_policy.pkey_free, "no protection keys"),
    Partial("pkey_mprotect", mm_policy.pkey_mprotect, "key -1 only (mprotect)"),
    # arch/x86/kernel/process_64.c
    Supported("arch_prctl", arch_process.arch_prctl),
    # kernel/fork.c, kernel/futex, kernel/rseq.c
    Supported("set_tid_address", kernel_task.set_tid_address),
    Supported("set_robust_list", kernel_task.set_robust_list),
    Supported("get_robust_list", kernel_task.get_robust_list),
    Supported("rseq", kernel_task.rseq),
    Partial("futex", kernel_fork.futex, "WAIT, WAKE, the BITSET pair, REQUEUE, CMP_REQUEUE, WAKE_OP; no PI futexes"),
    Partial("clone", kernel_fork.clone, "threads, and processes (proc_fork; on the unikernel "
            "a process is an instance: kernels/instances.py): no namespaces, no ptrace"),
    Partial("clone3", proc_fork.clone3, "as clone; no set_tid, no cgroup"),
    Supported("pidfd_open", proc_pidfd.pidfd_open),
    Supported("process_vm_readv", proc_vm.process_vm_readv),
    Supported("process_vm_writev", proc_vm.process_vm_writev),
    Partial("kcmp", proc_vm.kcmp, "KCMP_EPOLL_TFD: EOPNOTSUPP"),
    Partial("pidfd_send_signal", proc_pidfd.pidfd_send_signal, "flags 0 (no PIDFD_SIGNAL_*)"),
    Supported("pidfd_getfd", proc_pidfd.pidfd_getfd),
    Supported("fork", proc_fork.fork, "copy-on-write (on the unikernel: a clone of the instance)"),
    Supported("vfork", proc_fork.vfork, "the parent waits until the child execs or ends"),
    Partial("execve", proc_exec.execve, "static, static-pie, dynamic ELF and #! scripts "
            "(on the unikernel the instance boots the new image)"),
    Partial("execveat", proc_exec.execveat, "as execve"),
    Supported("wait4", proc_wait.wait4),
    Supported("waitid", proc_wait.waitid),
    Supported("setpgid", proc_wait.setpgid),
    Supported("setsid", proc_wait.setsid),
    # fs/xattr.c: extended attributes of the host file system, user. namespace changeable
    Supported("getxattr", fs_xattr.getxattr),
    Supported("lgetxattr", fs_xattr.lgetxattr),
    Supported("fgetxattr", fs_xattr.fgetxattr),
    Supported("setxattr", fs_xattr.setxattr),
    Supported("lsetxattr", fs_xattr.lsetxattr),
    Supported("fsetxattr", fs_xattr.fsetxattr),
    Supported("listxattr", fs_xattr.listxattr),
    Supported("llistxattr", fs_xattr.llistxattr),
    Supported("flistxattr", fs_xattr.flistxattr),
    Supported("removexattr", fs_xattr.removexattr),
    Supported("lremovexattr", fs_xattr.lremovexattr),
    Supported("fremovexattr", fs_xattr.fremovexattr),
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
    Supported("sendmmsg", net_socket.sendmmsg),
    Partial("recvmmsg", net_socket.recvmmsg, "after the first message, only those already there "
            "(as MSG_WAITFORONE); the timeout is not used"),
    # fs/select.c, fs/eventpoll.c
    Supported("poll", fs_select.poll),
    Supported("ppoll", fs_select.ppoll),
    Supported("select", fs_select.select),
    Supported("pselect6", fs_select.pselect6),
    Supported("epoll_create", fs_select.epoll_create),
    Supported("epoll_create1", fs_select.epoll_create1),
    Supported("epoll_ctl", fs_select.epoll_ctl),
    Supported("epoll_wait", fs_select.epoll_wait),
    Supported("epoll_pwait", fs_select.epoll_pwait),
    Supported("epoll_pwait2", fs_select.epoll_pwait2),
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
    Supported("getgroups", kernel_cred.getgroups),
    Supported("setgroups", kernel_cred.setgroups, "the guest's groups; the host process keeps azemu's"),
    Partial("capget", kernel_cred.capget, "root holds every capability, others none"),
    Partial("capset", kernel_cred.capset, "kept and reported; azemu's checks look at the effective uid"),
    Supported("personality", kernel_sys.personality),
    Partial("getpriority", kernel_prio.getpriority, "kept and reported: azemu's scheduler gives "
            "every thread the same quantum"),
    Partial("setpriority", kernel_prio.setpriority, "as getpriority"),
    Partial("ioprio_get", kernel_prio.ioprio_get, "as getpriority"),
    Partial("ioprio_set", kernel_prio.ioprio_set, "as getpriority"),
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
    *(Partial(n, getattr(kernel_prio, n), "policies and priorities are kept and reported: "
              "azemu's scheduler gives every thread the same quantum")
      for n in ("sched_setscheduler", "sched_getscheduler", "sched_setparam", "sched_getparam",
                "sched_setattr", "sched_getattr", "sched_rr_get_interval")),
    Supported("sched_get_priority_max", kernel_prio.sched_get_priority_max),
    Supported("sched_get_priority_min", kernel_prio.sched_get_priority_min),
    # kernel/signal.c
    Supported("rt_sigaction", kernel_signal.rt_sigaction),
    Supported("rt_sigprocmask", kernel_signal.rt_sigprocmask),
    Supported("rt_sigreturn", kernel_signal.rt_sigreturn),
    Supported("rt_sigpending", kernel_signal.rt_sigpending),
    Supported("rt_sigsuspend", kernel_signal.rt_sigsuspend),
    Supported("pause", kernel_signal.pause),
    Supported("rt_sigtimedwait", kernel_sigwait.rt_sigtimedwait),
    Supported("rt_sigqueueinfo", kernel_sigwait.rt_sigqueueinfo),
    Supported("rt_tgsigqueueinfo", kernel_sigwait.rt_tgsigqueueinfo),
    Supported("signalfd", kernel_sigwait.signalfd),
    Supported("signalfd4", kernel_sigwait.signalfd4),
    # ipc/: System V IPC between the instance's processes
    *(Supported(n, getattr(ipc_sysv, n)) for n in (
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl")),
    # ipc/mqueue.c: POSIX message queues
    *(Supported(n, getattr(ipc_mqueue, n)) for n in (
        "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_getsetattr")),
    Partial("mq_notify", ipc_mqueue.mq_notify, "SIGEV_SIGNAL and SIGEV_NONE (SIGEV_THREAD: ENOSYS)"),
    # kernel/time/itimer.c, posix-timers.c
    Supported("getitimer", kernel_timer.getitimer),
    Supported("setitimer", kernel_timer.setitimer),
    Supported("alarm", kernel_timer.alarm),
    Supported("timer_create", kernel_timer.timer_create),
    Supported("timer_settime", kernel_timer.timer_settime),
    Supported("timer_gettime", kernel_timer.timer_gettime),
    Supported("timer_getoverrun", kernel_timer.timer_getoverrun),
    Supported("timer_delete", kernel_timer.timer_delete),
    Supported("sigaltstack", kernel_signal.sigaltstack),
    Partial("kill", kernel_signal.kill, "to processes of the instance: one, a group, all"),
    Partial("tgkill", kernel_signal.tgkill, "to the process itself only"),
    Partial("tkill", kernel_signal.tkill, "to the process itself only"),
    # kernel/exit.c
    Supported("exit", kernel_fork.exit),
    Supported("exit_group", kernel_exit.exit_group),
    # drivers/char/random.c
    Supported("getrandom", drivers_random.getrandom),
] + [
    # What a guest has no business doing: answered as Linux answers an
    # unprivileged container (EPERM), or as a kernel built without the
    # feature (ENOSYS), with the reason.
    *(Error(n, E.EPERM, "no mounts: the guest's file system is what --root gives it")
      for n in ("mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen",
                "fsconfig", "fsmount", "fspick", "mount_setattr")),
    *(Error(n, E.EPERM, "the host's clock is not the guest's to set")
      for n in ("settimeofday", "clock_settime", "adjtimex", "clock_adjtime")),
    *(Error(n, E.EPERM, "no kernel modules") for n in ("init_module", "finit_module", "delete_module")),
    *(Error(n, E.ENOSYS, "removed from Linux (2.6): no kernel modules")
      for n in ("create_module", "get_kernel_syms", "query_module")),
    *(Error(n, E.EPERM, "the host's machine, not the guest's")
      for n in ("reboot", "kexec_load", "kexec_file_load", "swapon", "swapoff", "acct",
                "sethostname", "setdomainname", "iopl", "ioperm", "vhangup", "syslog",
                "quotactl", "quotactl_fd", "lookup_dcookie")),
    *(Error(n, E.EPERM, "no namespaces: the instance is the guest's only one")
      for n in ("unshare", "setns", "chroot")),
    *(Error(n, E.EPERM, "no kernel programs or fault handlers in user space")
      for n in ("bpf", "userfaultfd", "fanotify_init", "fanotify_mark")),
    Error("perf_event_open", E.EACCES, "no performance counters (as perf_event_paranoid 3)"),
    Error("ptrace", E.EPERM, "no tracing from inside the guest: azemu's --strace traces it"),
    Error("name_to_handle_at", E.EOPNOTSUPP, "no file handles: paths are walked inside --root"),
    Error("open_by_handle_at", E.EPERM, "no file handles: paths are walked inside --root"),
    *(Error(n, E.ENOSYS, "not in Linux either (reserved numbers)")
      for n in ("nfsservctl", "getpmsg", "putpmsg", "afs_syscall", "tuxcall", "security",
                "vserver", "epoll_ctl_old", "epoll_wait_old")),
    *(Error(n, E.ENOSYS, "obsolete, and not in kernels built without it")
      for n in ("uselib", "ustat", "sysfs", "_sysctl", "remap_file_pages")),
    Error("modify_ldt", E.ENOSYS, "no LDT: 64-bit code only (a kernel without MODIFY_LDT_SYSCALL)"),
    *(Error(n, E.ENOSYS, "32-bit TLS descriptors: 64-bit code sets its thread pointer with arch_prctl")
      for n in ("set_thread_area", "get_thread_area")),
    Error("restart_syscall", E.EINTR, "azemu restarts interrupted calls itself"),
    *(Error(n, E.ENOSYS, "no kernel keyrings") for n in ("add_key", "request_key", "keyctl")),
    *(Error(n, E.ENOSYS, "Linux AIO is not offered (glibc's POSIX AIO uses threads)")
      for n in ("io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel", "io_pgetevents")),
    *(Error(n, E.ENOSYS, "io_uring is not offered (as in many container runtimes)")
      for n in ("io_uring_setup", "io_uring_enter", "io_uring_register")),
    Error("seccomp", E.ENOSYS, "no seccomp filters (a kernel built without SECCOMP)"),
    *(Error(n, E.EOPNOTSUPP, "no Landlock (a kernel with it disabled)")
      for n in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self")),
    Error("memfd_secret", E.ENOSYS, "no secret memory (a kernel built without it)"),
    Error("process_mrelease", E.ENOSYS, "no OOM reaper of the guest's"),
    Error("process_madvise", E.ENOSYS, "advice to another process's memory is not offered"),
]

BY_NUMBER = {s.nr: s for s in TABLE}
assert len(BY_NUMBER) == len(TABLE), "a syscall is declared twice"


def name_of(nr: int) -> str:
    return SYSCALL_NAMES.get(nr, f"syscall_{nr}")


# What is not there yet, and why it matters little (ENOSYS to the guest).
MISSING_NOTES = {
    "futex_waitv": "not yet: glibc and musl do not use it",
}


def all_entries() -> list[Syscall]:
    """Every known syscall number, declared or not (undeclared ones as MISSING)."""
    out = []
    for nr in sorted(SYSCALL_NAMES):
        name = SYSCALL_NAMES[nr]
        out.append(BY_NUMBER.get(nr) or Syscall(nr, name, None, MISSING, "not implemented: -ENOSYS"
                                                + (f" ({MISSING_NOTES[name]})" if name in MISSING_NOTES
                                                   else ""), E.ENOSYS))
    return out
