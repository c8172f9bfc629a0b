"""execve and execveat (Linux fs/exec.c): a new program over the calling process.

The path is the guest's: relative to its working directory, under --root
walked inside the root (kernels/fwk/sandbox.py), as every guest path is.  A
`#!` script runs its interpreter (azemu/loader.py resolve_script).  The
arguments are read first and every failure — ENOENT, EACCES (no execute
permission, a directory), ENOEXEC (not an x86-64 ELF), E2BIG — leaves the
process as it was.  Past that point the process gets a new address space
with the program loaded in it, and as Linux does:

* its other threads end; close-on-exec descriptors close;
* handled signals go back to their default action (ignored ones stay
  ignored), the mask is kept, the alternate stack is dropped;
* /proc/self/exe and AT_EXECFN name the new program;
* a vfork parent waiting for it goes on.

The calling core switches to the new page tables and starts at the new
entry with every register zero but rsp (ELF_PLAT_INIT).
"""
from __future__ import annotations

import os
import stat

from unicorn.x86_const import UC_X86_REG_RIP

from azemu.loader import ExecError, load, open_elf, resolve_script

from .. import pagecache, procfs
from ..abi import linux as L
from ..abi.linux_errno import E2BIG, EACCES, EFAULT, ENOENT, ENOEXEC, ENOMEM, ENOTDIR
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError, RegistersSet
from ..rusage import image_ended
from .util import s32

MAX_ARG_STRLEN = 131072          # one argument or environment string (Linux)
ARG_MAX = 2 << 20                # all of them: a quarter of the default 8 MiB stack


def execve(p, filename, argv, envp):
    return _execve(p, _guest_path(p, L.AT_FDCWD, filename, 0), argv, envp, _name(p, filename))


def execveat(p, dirfd, pathname, argv, envp, flags):
    return _execve(p, _guest_path(p, s32(dirfd), pathname, s32(flags)), argv, envp,
                   _name(p, pathname))


def _name(p, pathname) -> bytes:
    """The new comm: the last component of the path as given (Linux's
    bprm->filename: /proc/self/exe gives "exe")."""
    try:
        return os.path.basename(p.mm.read_cstr(pathname, 4096))[:15]
    except Exception:
        return b""


def _strings(p, array) -> list[bytes]:
    out, total = [], 0
    if not array:
        return out
    for i in range(1 << 20):
        ptr = p.mm.read_u64(array + 8 * i)
        if not ptr:
            return out
        try:
            s = p.mm.read_cstr(ptr, MAX_ARG_STRLEN)
        except ValueError:
            raise LinuxError(E2BIG) from None
        total += len(s) + 1 + 8
        if total > ARG_MAX:
            raise LinuxError(E2BIG)
        out.append(s)
    raise LinuxError(E2BIG)


def _cwd(p) -> bytes:
    p.scratch.reset()
    out = p.scratch.alloc(4096)
    n = p.io.call(NR["getcwd"], out, 4096)
    return p.scratch.get(out, n).rstrip(b"\0")


def _guest_path(p, dirfd, pathname, flags) -> bytes:
    """The absolute guest path execve(at) names."""
    path = p.mm.read_cstr(pathname, 4096)
    if not path and not flags & L.AT_EMPTY_PATH:
        raise LinuxError(ENOENT)
    if path.startswith(b"/") and procfs.owns(path):  # /proc/self/exe, /proc/self/fd/N: the guest's
        node = procfs.lookup(p, path)
        if node.kind == procfs.HOST:
            return node.what
        if node.kind == procfs.OPEN:
            from ..procfs_files import fd_path
            p.scratch.reset()
            return fd_path(p, node.what)
        raise LinuxError(EACCES)
    if path.startswith(b"/"):
        return path
    if dirfd == L.AT_FDCWD:
        base = _cwd(p)
    else:
        from ..fwk.channel import FWK_FD_PATH
        f = p.fds.get(dirfd)
        p.scratch.reset()
        out = p.scratch.alloc(4096)
        n = p.io.call(FWK_FD_PATH, f.hfd, out, 4096)
        base = p.scratch.get(out, n)
        if not path:
            return base
    return base.rstrip(b"/") + b"/" + path


def _opener(k):
    """How the guest's files are opened for loading: inside --root, or the host's."""
    if not k.root:
        return lambda path: open(path, "rb"), None
    from ..fwk.sandbox import Sandbox
    box = Sandbox(k.root)

    def guest_open(path):
        fd, _ = box.open(b"/", os.fsencode(path), os.O_RDONLY, 0)
        return os.fdopen(fd, "rb")
    return guest_open, box


def _canonical(box, path: str) -> bytes:
    """The program's path with its links resolved (/proc/PID/exe, maps)."""
    if box is None:
        return os.fsencode(os.path.realpath(path))
    try:
        fd, canon = box.open(b"/", os.fsencode(path), os.O_RDONLY, 0)
    except OSError:
        return os.fsencode(path)
    os.close(fd)
    return canon


def _errno(e: ExecError) -> int:
    m = e.message
    if "No such file" in m:
        return ENOENT
    if "Permission denied" in m or "Is a directory" in m:
        return EACCES
    if "Not a directory" in m:
        return ENOTDIR
    if "Cannot allocate memory" in m:
        return ENOMEM
    return ENOEXEC


def _executable(opener, path: str) -> None:
    try:
        with opener(path) as f:
            st = os.fstat(f.fileno())
    except FileNotFoundError:
        raise LinuxError(ENOENT) from None
    except NotADirectoryError:
        raise LinuxError(ENOTDIR) from None
    except OSError:
        raise LinuxError(EACCES) from None
    if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111 or not stat.S_ISREG(st.st_mode):
        raise LinuxError(EACCES)


def _execve(p, gpath: bytes, argv_ptr, envp_ptr, name: bytes = b""):
    k = p.kernel
    try:
        argv, envp = _strings(p, argv_ptr), _strings(p, envp_ptr)
    except LinuxError:
        raise
    except Exception:
        raise LinuxError(EFAULT) from None
    path = os.fsdecode(gpath)
    opener, box = _opener(k)
    try:
        _executable(opener, path)
        try:
            real, argv, how = resolve_script(path, argv, opener, first=opener)
            open_elf(real, how)[0].close()        # ENOEXEC before anything is changed
            mm = k.part.new_address_space()
            for core in k.cores_of(p.proc):
                mm.attach(core, switch=False)
            canon = _canonical(box, real)
            try:
                image = load(mm, real, argv, envp, hwcap=k.core.cpuid(1)[3], execfn=gpath,
                             ids=(p.uid, p.euid, p.gid, p.egid), opener=how, interp_opener=opener,
                             name=os.fsdecode(canon), pager_of=pagecache.program_pager(p))
                libos = _libos_of(k, real, how)
            except BaseException:
                mm.users = 1
                mm.close()
                raise
        except ExecError as e:
            raise LinuxError(_errno(e)) from None
    finally:
        if box is not None:
            box.close()
    _point_of_no_return(p, mm, image, gpath, libos, canon)
    p.proc.cmdline = b"".join(a + b"\0" for a in argv)      # /proc/self/cmdline
    if name:
        p.proc.comm = name
    raise RegistersSet


def _libos_of(k, path, opener):
    """The libOS of the new image, in unikernel mode (kernels/unikernel.py)."""
    if k.instances is None:
        return None
    from ..unikernel import LibOS
    with opener(path) as f:
        return LibOS.find(f)


def _point_of_no_return(p, mm, image, gpath: bytes, libos=None, canon: bytes | None = None) -> None:
    k, proc, core = p.kernel, p.proc, p.core
    old_libos = proc.libos
    from_hook = old_libos is not None and core.regs.read(UC_X86_REG_RIP) == old_libos.entry
    for t in list(proc.tasks):                   # the other threads end
        if t is not p:
            k.sched.exit_task(t)
            k.shared.tasks.pop(t.tid, None)
    mm.users = 1
    old = proc.mm
    proc.mm = mm
    proc.image = image                            # its layout: /proc/PID/cmdline, environ, auxv
    if p is not proc:
        object.__setattr__(p, "mm", mm)
    core.switch_to(mm)
    old.users -= 1
    if old.users == 0:
        from .ipc_sysv import shm_gone
        shm_gone(p, old)
        k.image_done(proc)
        image_ended(proc, old)
        old.close()
    for fd in sorted(proc.fds.cloexec):
        try:
            proc.fds.close(fd)
        except LinuxError:
            pass
    for act in proc.sigactions:
        if act.handler not in (L.SIG_DFL, L.SIG_IGN):
            act.handler, act.flags, act.restorer, act.mask = L.SIG_DFL, 0, 0, 0
    p.altstack = (0, L.SS_DISABLE, 0)
    p.pending_delivery = []
    if proc.timers is not None:                  # POSIX timers end with the image; itimers stay
        proc.timers.by_id.clear()
        if not proc.timers.armed():
            k.timer_procs.discard(proc)
    p.clear_child_tid = 0
    p.robust_list = (0, 0)
    p.rseq = 0
    proc.brk_start = proc.brk = image.brk
    proc.exe = canon or gpath
    proc.comm = os.path.basename(gpath)[:15]
    k.image = image if proc is k.process else k.image
    counters = k.counters[core.index - k.part.cores[0].index]
    if k.instances is not None:                  # the instance boots the new image
        proc.libos = libos
        p.libos_block = None
        if libos is not None:
            libos.boot(proc, k.in_guest, trace=k.strace is not None)
        k.instances.boot(proc)
        counters.instance_boot += 1
    else:
        counters.execve += 1
    if proc.vfork_parent is not None:
        k.procs.vfork_done(proc)
    regs = {n: 0 for n in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9",
                           "r10", "r11", "r12", "r13", "r14", "r15", "fs_base", "gs_base")}
    regs["rsp"] = image.stack_pointer
    # After a trap Unicorn adds the `syscall`'s length; from a libOS call's
    # function hook it goes on at the rip written.
    regs["rip"] = image.entry if from_hook else image.entry - core.SYSCALL_INSN_LEN
    regs["rflags"] = 0x202
    p.fs_base = p.gs_base = 0
    core.reset_fpu()
    core.regs.write_many(regs)
