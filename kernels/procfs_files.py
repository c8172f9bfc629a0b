"""/proc/PID and /proc/PID/task/TID of a guest process (kernels/procfs.py).

Each file is made from the kernel model's state in the format Linux's
fs/proc/ prints (array.c, base.c, task_mmu.c, fd.c): the process's identity,
credentials, signal state, memory layout and counters.  cmdline, environ and
auxv are read from the process's memory where execve laid them out, as Linux
reads them, so a program that rewrites its argv shows the new one.
"""
from __future__ import annotations

import time

from .abi import linux as L
from .abi.linux_errno import ENOENT
from .procfs import HOST, MEM, OPEN, Node, dir_node, file_node, link_node, may_look

CLK_TCK = 100
_LIMITS = (("Max cpu time", "seconds"), ("Max file size", "bytes"), ("Max data size", "bytes"),
           ("Max stack size", "bytes"), ("Max core file size", "bytes"),
           ("Max resident set", "bytes"), ("Max processes", "processes"),
           ("Max open files", "files"), ("Max locked memory", "bytes"),
           ("Max address space", "bytes"), ("Max file locks", "locks"),
           ("Max pending signals", "signals"), ("Max msgqueue size", "bytes"),
           ("Max nice priority", ""), ("Max realtime priority", ""),
           ("Max realtime timeout", "us"))


def process_dir(p, who, path: bytes, thread=None) -> Node:
    """/proc/PID (or, with `thread`, /proc/PID/task/TID) of process `who`."""
    t = thread or who

    def made(name, maker, mode=0o100444, private=False):
        def make():
            if private:
                may_look(p, who)
            return file_node(path + b"/" + name, maker(p, who, t), who, mode)
        return (L.DT_REG, make)

    def link(name, target, to):
        return (L.DT_LNK, lambda: link_node(path + b"/" + name, target(), to(), who))

    cwd = _memo(lambda: cwd_of(p, who))
    e = {b"auxv": made(b"auxv", auxv, 0o100400, True),
         b"cmdline": made(b"cmdline", cmdline),
         b"comm": made(b"comm", comm, 0o100644),
         b"cwd": link(b"cwd", cwd, lambda: Node(HOST, cwd())),
         b"environ": made(b"environ", environ, 0o100400, True),
         b"exe": link(b"exe", lambda: who.exe, lambda: Node(HOST, who.exe)),
         b"fd": (L.DT_DIR, lambda: _fd_dir(p, who, path + b"/fd")),
         b"fdinfo": (L.DT_DIR, lambda: _fdinfo_dir(p, who, path + b"/fdinfo")),
         b"io": made(b"io", io, 0o100400, True),
         b"limits": made(b"limits", limits),
         b"maps": made(b"maps", maps),
         b"mem": (L.DT_REG, lambda: Node(MEM, who, path + b"/mem", 0o100600, who)),
         b"mountinfo": made(b"mountinfo", lambda p, w, t: mounts(p, info=True)),
         b"mounts": made(b"mounts", lambda p, w, t: mounts(p)),
         b"root": link(b"root", lambda: b"/", lambda: Node(HOST, b"/")),
         b"stat": made(b"stat", stat),
         b"statm": made(b"statm", statm),
         b"status": made(b"status", status)}
    if thread is None:
        e[b"task"] = (L.DT_DIR, lambda: dir_node(path + b"/task", {
            b"%d" % x.tid: (L.DT_DIR, lambda x=x: process_dir(p, who, path + b"/task/%d" % x.tid, x))
            for x in _threads(who)}, who))
    if who.zombie:                                  # only its identity is left
        e = {k: v for k, v in e.items() if k in (b"stat", b"status", b"cmdline", b"comm", b"task")}
    return dir_node(path, e, who)


def _memo(f):
    box = []
    return lambda: box[0] if box else box.append(f()) or box[0]


def _threads(who):
    return sorted((x for x in who.tasks), key=lambda x: x.tid)


def _fd_dir(p, who, path) -> Node:
    may_look(p, who)
    e = {b"%d" % fd: (L.DT_LNK, lambda fd=fd, f=f: link_node(
        path + b"/%d" % fd, fd_path(p, f), Node(OPEN, f), who)) for fd, f in sorted(who.fds.files.items())}
    return dir_node(path, e, who, 0o40500)


def _fdinfo_dir(p, who, path) -> Node:
    may_look(p, who)
    fds = who.fds

    def info(fd, f):
        flags = f.flags | (L.O_CLOEXEC if fd in fds.cloexec else 0)
        return f"pos:\t{_pos(p, f)}\nflags:\t0{flags:o}\nmnt_id:\t{_mnt(f)}\nino:\t{_ino(p, f)}\n".encode()
    return dir_node(path, {b"%d" % fd: (L.DT_REG, lambda fd=fd, f=f: file_node(
        path + b"/%d" % fd, info(fd, f), who)) for fd, f in sorted(fds.files.items())}, who, 0o40500)


def fd_path(p, f) -> bytes:
    """The name an open file was reached by, as /proc/PID/fd shows it."""
    if f.model is not None:
        return f.model.path
    from .fwk.channel import FWK_FD_PATH
    out = p.scratch.alloc(4096)
    n = p.io.call(FWK_FD_PATH, f.hfd, out, 4096)
    return p.scratch.get(out, n)


def _pos(p, f) -> int:
    from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
    from .errors import LinuxError
    if f.model is not None and f.model.kind == MEM:
        return f.pos
    try:
        return p.io.call(NR["lseek"], f.hfd, 0, L.SEEK_CUR)
    except LinuxError:
        return 0


def _mnt(f) -> int:
    return 22 if f.model is not None else 27


def _ino(p, f) -> int:
    from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
    from .errors import LinuxError
    if f.model is not None:
        return f.model.ino
    out = p.scratch.alloc(L.STAT.size)
    try:
        p.io.call(NR["fstat"], f.hfd, out)
    except LinuxError:
        return 0
    return L.STAT.unpack(p.scratch.get(out, L.STAT.size))[1]


def cwd_of(p, who) -> bytes:
    from .fwk.channel import FWK_CWD_OF
    may_look(p, who)
    out = p.scratch.alloc(4096)
    n = p.io.call(FWK_CWD_OF, who.pid, out, 4096)
    return p.scratch.get(out, n)


# ---- the files -----------------------------------------------------------------------

def _span(who, which) -> bytes:
    img = who.image
    lo, hi = getattr(img, which, (0, 0)) if img is not None else (0, 0)
    if who.zombie or not hi:
        return b""
    try:
        return who.mm.read(lo, hi - lo)
    except Exception:                               # unmapped by the program since
        return b""


def cmdline(p, who, t) -> bytes:
    data = _span(who, "args")
    if not data:
        return b"" if who.zombie else who.cmdline
    if data.endswith(b"\0"):                        # argv as laid out: up to its last NUL
        return data
    return data.split(b"\0", 1)[0]                  # rewritten (setproctitle): one string


def environ(p, who, t) -> bytes:
    return _span(who, "env")


def auxv(p, who, t) -> bytes:
    return who.image.auxv if who.image is not None else b""


def comm(p, who, t) -> bytes:
    name = getattr(t, "name", None) if t is not who else None
    return (name or who.comm) + b"\n"


def _perms(m) -> str:
    return "".join(("r" if m.prot & L.PROT_READ else "-", "w" if m.prot & L.PROT_WRITE else "-",
                    "x" if m.prot & L.PROT_EXEC else "-", "s" if m.shared else "p"))


def maps(p, who, t) -> bytes:
    lines = []
    for m in who.mm.mappings():
        off = m.pgoff * 4096 if m.pager is not None else 0
        head = f"{m.start:08x}-{m.end:08x} {_perms(m)} {off:08x} 00:00 0"
        lines.append(f"{head:<73}{m.name}".rstrip() if m.name else head)
    return "".join(line + "\n" for line in lines).encode()


def _state(who, t) -> tuple[str, str]:
    if who.zombie:
        return "Z", "zombie"
    if who.stopped:
        return "T", "stopped"
    state = getattr(getattr(t, "sched", None), "state", "runnable")
    return ("R", "running") if state == "runnable" else ("S", "sleeping")


def _vm_kib(who) -> tuple[int, int]:
    if who.zombie:
        return 0, 0
    size = sum(m.end - m.start for m in who.mm.mappings())
    return size // 1024, who.mm.resident() // 1024


def _sigsets(who) -> tuple[int, int]:
    ign = cgt = 0
    for sig in range(1, L.NSIG + 1):
        h = who.sigactions[sig].handler
        if h == L.SIG_IGN:
            ign |= 1 << (sig - 1)
        elif h != L.SIG_DFL:
            cgt |= 1 << (sig - 1)
    return ign, cgt


def status(p, who, t) -> bytes:
    from .syscalls.kernel_cred import _caps, groups_of
    st, word = _state(who, t)
    vm, rss = _vm_kib(who)
    ign, cgt = _sigsets(who)
    eff, perm, inh = _caps(who)
    suid, sgid = getattr(who, "suid", who.euid), getattr(who, "sgid", who.egid)
    stack = sum(m.end - m.start for m in who.mm.mappings() if m.name == "[stack]") // 1024 \
        if not who.zombie else 0
    n = p.kernel.ncores if p.kernel else 1
    sched = getattr(t, "sched", None)
    rows = [("Name", comm(p, who, t)[:-1].decode(errors="replace")), ("Umask", f"{who.umask:04o}"),
            ("State", f"{st} ({word})"), ("Tgid", who.pid), ("Ngid", 0), ("Pid", t.tid),
            ("PPid", who.ppid), ("TracerPid", 0),
            ("Uid", "\t".join(str(x) for x in (who.uid, who.euid, suid, who.euid))),
            ("Gid", "\t".join(str(x) for x in (who.gid, who.egid, sgid, who.egid))),
            ("FDSize", max(64, 1 << max(len(who.fds.files) - 1, 0).bit_length())),
            ("Groups", " ".join(str(g) for g in groups_of(who)) + " "),
            ("NStgid", who.pid), ("NSpid", t.tid), ("NSpgid", who.pgid), ("NSsid", who.sid),
            ("VmPeak", f"{vm:8d} kB"), ("VmSize", f"{vm:8d} kB"), ("VmLck", f"{0:8d} kB"),
            ("VmHWM", f"{rss:8d} kB"), ("VmRSS", f"{rss:8d} kB"), ("VmStk", f"{stack:8d} kB"),
            ("VmSwap", f"{0:8d} kB"), ("Threads", len(who.tasks) or 1),
            ("SigQ", "0/63432"), ("SigPnd", f"{0:016x}"),
            ("ShdPnd", f"{who.pending.mask:016x}"), ("SigBlk", f"{t.sigmask:016x}"),
            ("SigIgn", f"{ign:016x}"), ("SigCgt", f"{cgt:016x}"),
            ("CapInh", f"{inh:016x}"), ("CapPrm", f"{perm:016x}"), ("CapEff", f"{eff:016x}"),
            ("CapBnd", f"{(1 << 41) - 1:016x}"), ("CapAmb", f"{0:016x}"),
            ("NoNewPrivs", getattr(who, "no_new_privs", 0)), ("Seccomp", 0),
            ("Cpus_allowed", f"{(1 << n) - 1:x}"), ("Cpus_allowed_list", f"0-{n - 1}" if n > 1 else "0"),
            ("voluntary_ctxt_switches", sched.nvcsw if sched else 0),
            ("nonvoluntary_ctxt_switches", sched.nivcsw if sched else 0)]
    return "".join(f"{k}:\t{v}\n" for k, v in rows).encode()


def _boot() -> float:
    return time.monotonic() - time.clock_gettime(time.CLOCK_BOOTTIME)


def stat(p, who, t) -> bytes:
    from . import rusage
    st, _ = _state(who, t)
    vm, rss = _vm_kib(who)
    own, kids = rusage.of_process(who), who.cusage
    ign, cgt = _sigsets(who)
    start = int((who.start_time - _boot()) * CLK_TCK)
    img = who.image
    args, env = (img.args, img.env) if img is not None else ((0, 0), (0, 0))
    nice = getattr(getattr(t, "sched", None), "nice", None) or 0
    tty = p.kernel.tty if p.kernel is not None else None
    fg = (tty.fg or tty.host_pgid) if tty is not None else -1
    fields = [t.tid, f"({comm(p, who, t)[:-1].decode(errors='replace')})", st, who.ppid, who.pgid,
              who.sid, 0, fg, 0x400000, 0, 0, 0, 0, own.ticks(), 0, kids.ticks(), 0, 20 + nice,
              nice, len(who.tasks) or 1, 0, start, vm * 1024, rss // 4, L.RLIM_INFINITY, 0, 0, 0, 0,
              0, 0, t.sigmask, ign, cgt, 0, 0, 0, who.exit_signal, 0, 0, 0, 0, 0, 0, 0, 0,
              who.brk_start, args[0], args[1], env[0], env[1], 0]
    return (" ".join(str(f) for f in fields) + "\n").encode()


def statm(p, who, t) -> bytes:
    vm, rss = _vm_kib(who)
    return f"{vm // 4} {rss // 4} 0 0 0 0 0\n".encode()


def io(p, who, t) -> bytes:
    return b"rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\n" \
           b"cancelled_write_bytes: 0\n"


def limits(p, who, t) -> bytes:
    from .syscalls.kernel_sys import rlimit

    def show(v):
        return "unlimited" if v == L.RLIM_INFINITY else str(v)
    out = [f"{'Limit':<25} {'Soft Limit':<20} {'Hard Limit':<20} {'Units':<10}\n"]
    for r, (name, unit) in enumerate(_LIMITS):
        soft, hard = rlimit(who, r)
        out.append(f"{name:<25} {show(soft):<20} {show(hard):<20} " + (f"{unit:<10}\n" if unit else "\n"))
    return "".join(out).encode()


def mounts(p, info: bool = False) -> bytes:
    """The guest's mount table: its root and the kernel's file systems."""
    ro = "ro" if p.kernel is not None and p.kernel.readonly else "rw"
    table = [("azemu", "/", "azemu", f"{ro},nodev", "254:0"),
             ("proc", "/proc", "proc", "rw,nosuid,nodev,noexec", "0:21"),
             ("sysfs", "/sys", "sysfs", "ro,nosuid,nodev,noexec", "0:22"),
             ("devtmpfs", "/dev", "devtmpfs", "rw,nosuid", "0:6"),
             ("tmpfs", "/dev/shm", "tmpfs", "rw,nosuid,nodev", "0:23")]
    if not info:
        return "".join(f"{src} {where} {fs} {opts} 0 0\n" for src, where, fs, opts, _ in table).encode()
    return "".join(f"{22 + i} {21 if i == 0 else 22} {dev} / {where} {opts} - {fs} {src} {ro}\n"
                   for i, (src, where, fs, opts, dev) in enumerate(table)).encode()


def mem_access(p, f, offset: int, n: int, data: bytes | None = None):
    """Read (data None) or write the memory of the process whose
    /proc/PID/mem `f` is, at virtual address `offset`."""
    from .errors import LinuxError
    from .abi.linux_errno import EIO
    who = f.model.what
    if who.zombie or who.mm is None:
        raise LinuxError(ENOENT)
    may_look(p, who)
    mm = who.mm
    if offset >= 1 << 47 or n <= 0:
        return b"" if data is None else 0
    n = min(n, (1 << 47) - offset)
    try:                                      # as ptrace's FOLL_FORCE: protection not asked
        spans = mm.extents(offset, n, write=data is not None, partial=True, force=data is not None)
    except Exception:
        raise LinuxError(EIO) from None
    view = mm.phys.view
    if data is None:
        return b"".join(bytes(view[o:o + k]) for o, k in spans)
    done = 0
    for o, k in spans:
        view[o:o + k] = data[done:done + k]
        done += k
    return done

