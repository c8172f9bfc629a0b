"""/proc for the guest: its own processes, never azemu's.

The host's /proc/self is azemu (or its FWK proxy): its memory
(/proc/self/mem), its descriptors (/proc/self/fd: the instance's memory
segment, the offload channels), its maps.  A guest must see its own process
there, as under Linux, and nothing of the emulator.  So an absolute guest
path under /proc/self, /proc/thread-self or /proc/<a guest pid> — and
/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, which Linux links there — is
answered by the kernel model before the host is asked:

* fd/N opens the guest's file N anew (as Linux does: for a pipe or socket,
  the same object; for a file, a new open file description with the flags
  asked for) — bash's process substitution, `cat /dev/stdin`;
* exe and cwd open what they name for the guest;
* maps, status, stat, statm, cmdline and comm are made from the kernel's
  state, as Linux's fs/proc/ makes them, and read like files;
* mounts, mountinfo and net/ are the host's (they describe no process);
* anything else under a process's directory is ENOENT here (mem, environ,
  auxv, pagemap, task/... are not modelled).

Behind this, the FWK's path walk (kernels/fwk/sandbox.py) refuses to open a
host process's /proc directory entries at all, however the path reached
them (a symlink to /proc/self/mem, /proc/<azemu's pid>/...), and refuses
to open anything in procfs for writing (/proc/sys).
"""
from __future__ import annotations

import posixpath
import time

from .abi import linux as L
from .abi.linux_errno import EACCES, ENOENT, ENOTDIR
from .errors import LinuxError

_LINKS = {b"/dev/stdin": b"/proc/self/fd/0", b"/dev/stdout": b"/proc/self/fd/1",
          b"/dev/stderr": b"/proc/self/fd/2"}
HOST_ENTRIES = (b"mounts", b"mountinfo", b"mountstats", b"net")   # about no process
_MADE = (b"maps", b"status", b"stat", b"statm", b"cmdline", b"comm")


def owns(path: bytes) -> bool:
    """Is this absolute guest path one the kernel answers (cheap test)?"""
    return path.startswith((b"/proc/", b"/dev/fd", b"/dev/std")) or path == b"/proc"


def lookup(p, path: bytes):
    """What a guest path under /proc names, or None when the host's file
    system should answer.  One of ("fd", OpenFile), ("path", guest path),
    ("made", bytes), ("host", path for the host)."""
    path = posixpath.normpath(path)
    if path.startswith(b"//"):
        path = path[1:]
    path = _LINKS.get(path, path)
    if path == b"/dev/fd" or path.startswith(b"/dev/fd/"):
        path = b"/proc/self/fd" + path[len(b"/dev/fd"):]
    parts = path.split(b"/")[2:] if path.startswith(b"/proc/") else None
    if not parts:
        return None
    if parts[0] in (b"mounts", b"net"):          # Linux: symlinks into self/
        return ("host", b"/proc/self/" + b"/".join(parts))
    who = _process(p, parts[0])
    if who is None:
        return None                               # /proc/cpuinfo and the like; host pids: refused there
    rest = parts[1:]
    if not rest:
        raise LinuxError(EACCES)                   # the directory itself is not modelled
    name = rest[0]
    if name == b"fd" and len(rest) == 2 and rest[1].isdigit():
        f = who.fds.files.get(int(rest[1]))
        if f is None:
            raise LinuxError(ENOENT)
        return ("fd", f)
    if len(rest) == 1 and name == b"exe":
        return ("path", who.exe)
    if len(rest) == 1 and name in _MADE:
        return ("made", _MAKERS[name](who))
    if name in HOST_ENTRIES:
        return ("host", b"/proc/self/" + b"/".join(rest))
    if len(rest) > 1 and name in _MADE + (b"exe",):
        raise LinuxError(ENOTDIR)
    raise LinuxError(ENOENT)


def _process(p, name: bytes):
    if name in (b"self", b"thread-self"):
        return p.proc
    if name.isdigit():
        return p.kernel.procs.get(int(name))
    return None


# ---- what Linux's fs/proc/ prints --------------------------------------------------

def _perms(m) -> str:
    return "".join(("r" if m.prot & L.PROT_READ else "-", "w" if m.prot & L.PROT_WRITE else "-",
                    "x" if m.prot & L.PROT_EXEC else "-", "s" if m.shared else "p"))


def maps(proc) -> bytes:
    lines = []
    for m in proc.mm.mappings():
        off = m.pgoff * 4096 if m.pager is not None else 0
        head = f"{m.start:08x}-{m.end:08x} {_perms(m)} {off:08x} 00:00 0"
        lines.append(f"{head:<73}{m.name}".rstrip() if m.name else head)
    return "".join(line + "\n" for line in lines).encode()


def _state(proc) -> tuple[str, str]:
    return ("Z", "zombie") if proc.zombie else ("R", "running")


def _vm_kib(proc) -> tuple[int, int]:
    size = sum(m.end - m.start for m in proc.mm.mappings())
    return size // 1024, proc.mm.resident() // 1024


def status(proc) -> bytes:
    st, word = _state(proc)
    vm, rss = _vm_kib(proc)
    rows = [("Name", proc.comm.decode(errors="replace")), ("Umask", f"{proc.umask:04o}"),
            ("State", f"{st} ({word})"), ("Tgid", proc.pid), ("Ngid", 0), ("Pid", proc.pid),
            ("PPid", proc.ppid), ("TracerPid", 0),
            ("Uid", "\t".join([str(proc.uid), str(proc.euid)] * 2)),
            ("Gid", "\t".join([str(proc.gid), str(proc.egid)] * 2)),
            ("FDSize", max(64, len(proc.fds.files))), ("VmSize", f"{vm:8d} kB"),
            ("VmRSS", f"{rss:8d} kB"), ("Threads", len(proc.tasks) or 1),
            ("SigBlk", f"{proc.sigmask:016x}"), ("SigPnd", f"{proc.pending.mask:016x}")]
    return "".join(f"{k}:\t{v}\n" for k, v in rows).encode()


def stat(proc) -> bytes:
    st, _ = _state(proc)
    vm, rss = _vm_kib(proc)
    start = int((proc.start_time - _BOOT) * 100)
    fields = [proc.pid, f"({proc.comm.decode(errors='replace')})", st, proc.ppid, proc.pgid,
              proc.sid, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, len(proc.tasks) or 1, 0,
              start, vm * 1024, rss // 4] + [0] * 28
    return (" ".join(str(f) for f in fields) + "\n").encode()


def statm(proc) -> bytes:
    vm, rss = _vm_kib(proc)
    return f"{vm // 4} {rss // 4} 0 0 0 0 0\n".encode()


def cmdline(proc) -> bytes:
    return proc.cmdline


def comm(proc) -> bytes:
    return proc.comm + b"\n"


_MAKERS = {b"maps": maps, b"status": status, b"stat": stat, b"statm": statm,
           b"cmdline": cmdline, b"comm": comm}
_BOOT = time.monotonic() - time.clock_gettime(time.CLOCK_BOOTTIME) \
    if hasattr(time, "CLOCK_BOOTTIME") else 0.0
