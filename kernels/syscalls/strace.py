"""`azemu exec --strace`: every syscall, one line each, in strace(1)'s own
format, so that a trace of the guest under azemu can be set beside one of
the same program under Linux and read the same way:

    openat(AT_FDCWD, "p.txt", O_RDONLY|O_CLOEXEC) = 3
    read(3, "hello\\n", 4096)                = 6
    openat(AT_FDCWD, "nope", O_RDONLY)      = -1 ENOENT (No such file or directory)
    exit_group(0)                           = ?
    +++ exited with 0 +++

What each argument looks like is declared in kernels/syscalls/signatures.py
and printed by kernels/syscalls/trace_decode.py; this module makes the lines:
the `[pid N]` prefix while the guest has several threads or processes (as
`strace -f`; with `-o FILE`, every line starts with its thread's id, as
`strace -f -o FILE`), `-tt` timestamps, `-T` times (the emulator's time for the
call), `-e trace=` filters by name and by class (%file, %desc, %network,
%process, %memory, %signal, %ipc), the execve line of the program and the
`+++ exited with N +++` / `+++ killed by SIG +++` lines.

Tracing wraps the handlers once, when the table is built, and only those of
the calls traced: the untraced path pays nothing.
"""
from __future__ import annotations

import os
import time

from azemu.memory import GuestFault

from ..abi import linux as L
from ..abi.linux_errno import EFAULT, EIO, ERRNO_NAMES
from ..abi.syscall_numbers import SYSCALL_NUMBERS
from ..errors import Block, GuestExit, LinuxError, RegistersSet
from . import trace_decode as D
from .signatures import SIGNATURES
from .table import BY_NUMBER, name_of

COLUMN = 39                  # strace pads a call to this column before " = "

# ---- signatures -----------------------------------------------------------------


class Signature:
    """A parsed entry of SIGNATURES: [(after_call, kind, param)] and the result's kind."""

    __slots__ = ("args", "ret")

    def __init__(self, text: str):
        text, _, ret = text.partition("->")
        self.ret = ret.strip() or "int"
        self.args = []
        for a in filter(None, (x.strip() for x in text.split(","))):
            after = a.startswith("<")
            kind, _, param = a.lstrip("<").partition(":")
            self.args.append((after, kind, param or None))


PARSED = {name: Signature(text) for name, text in SIGNATURES.items()}

CLASSES = {
    "%file": lambda n, s: s is not None and any(k == "path" for _, k, _ in s.args),
    "%desc": lambda n, s: s is not None and any(k in ("fd", "atfd") for _, k, _ in s.args)
    or n in ("pipe", "pipe2", "epoll_create", "epoll_create1", "eventfd", "eventfd2",
             "socketpair"),
    "%network": lambda n, s: _family(n) == "net",
    "%memory": lambda n, s: _family(n) == "mm",
    "%signal": lambda n, s: _family(n) == "signal" or n in ("kill", "tkill", "tgkill", "pause",
                                                            "sigaltstack", "signalfd4"),
    "%process": lambda n, s: n in ("clone", "clone3", "fork", "vfork", "execve", "execveat",
                                   "exit", "exit_group", "wait4", "waitid", "kill", "tkill",
                                   "tgkill", "pidfd_open", "pidfd_send_signal"),
    "%ipc": lambda n, s: _family(n) == "ipc",
}
CLASSES["%net"] = CLASSES["%network"]


def _family(name: str) -> str:
    e = BY_NUMBER.get(SYSCALL_NUMBERS.get(name, -1))
    return e.family if e is not None else ""


def traced_set(spec: str | None) -> set[str] | None:
    """The names `-e trace=SPEC` selects (None: every call).  SPEC is a
    comma-separated list of names and classes, `all`, or `!` before the
    list to trace all but those; raises ValueError for a name azemu does
    not know."""
    if spec is None:
        return None
    spec = spec.removeprefix("trace=")
    negate = spec.startswith("!")
    chosen: set[str] = set()
    for item in filter(None, spec.lstrip("!").split(",")):
        if item == "all":
            chosen |= set(SYSCALL_NUMBERS)
        elif item == "none":
            continue
        elif item in CLASSES:
            test = CLASSES[item]
            chosen |= {n for n in SYSCALL_NUMBERS if test(n, PARSED.get(n))}
        elif item in SYSCALL_NUMBERS:
            chosen.add(item)
        else:
            raise ValueError(f"invalid system call '{item}'")
    return set(SYSCALL_NUMBERS) - chosen if negate else chosen


# ---- the tracer -----------------------------------------------------------------


class Tracer:
    """Writes the trace of one kernel instance to `stream`."""

    def __init__(self, stream, *, strsize: int = 32, trace: str | None = None,
                 timing: bool = False, timestamps: bool = False, to_file: bool = False,
                 kernel_view: bool = False, json_stream=None):
        self.stream = stream                       # the strace lines (None: none)
        self.kernel_view = kernel_view             # each line ends with the kernel's view
        self.json_stream = json_stream             # a JSON line per call, for machines
        self.kview = None                          # (kernels/syscalls/trace_kernel.py, by attach)
        self.to_file = to_file     # as `strace -f -o FILE`: every line starts with its tid
        self.strsize = strsize
        self.only = traced_set(trace)
        self.timing = timing
        self.timestamps = timestamps
        self.signals: dict[int, list[str]] = {}     # per thread: signal lines still to print
        self.blocked: dict[int, tuple] = {}          # per thread: the call it waits in
        self.ended: set[int] = set()                 # threads whose +++ line is out

    def attach(self, kernel) -> None:
        """The kernel whose calls are traced: its counters give the kernel's view."""
        if self.kernel_view or self.json_stream is not None:
            from .trace_kernel import KernelView
            self.kview = KernelView(kernel)

    # the lines
    def _prefix(self, p, at: float | None = None, gone: int = 0) -> str:
        """`gone`: threads that ended but whose last line this is."""
        if self.to_file:
            out = f"{p.tid:<5d} "
        elif _tasks(p) + gone > 1:
            out = f"[pid {p.tid:5d}] "
        else:
            out = ""
        if self.timestamps:
            t = time.time() if at is None else at
            out += time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1e6):06d} "
        return out

    def _emit(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def _call_line(self, head: str, result: str, took: float | None, view=None, call=None) -> None:
        """One call's line; `view` (the kernel's, trace_kernel.py) and `call`
        ((tid, name, nr, text)) when the kernel's view is asked for."""
        line = head.ljust(COLUMN) + " = " + result
        if took is not None:
            line += f" <{took:.6f}>"
        if view is not None and self.kernel_view:
            from .trace_kernel import suffix
            line += suffix(view)
        self._emit(line)
        if self.json_stream is not None and call is not None:
            from .trace_kernel import json_line
            print(json_line(*call, result, view), file=self.json_stream, flush=True)

    def execve(self, p, path: str, argv: list[bytes], envp_at: int, nenv: int) -> None:
        """The line of the program azemu started, as strace prints its own execve."""
        if self.only is not None and "execve" not in self.only:
            return
        args = [D.quote(a, self.strsize) for a in argv[:self.strsize]]
        if len(argv) > self.strsize:
            args.append("...")
        head = (f"{self._prefix(p)}execve({D.quote(os.fsencode(path), L.PATH_MAX)}, "
                f"[{', '.join(args)}], {D.hx(envp_at)} /* {nenv} var{'s' if nenv != 1 else ''} */)")
        self._call_line(head, "0", 0.0 if self.timing else None)

    def signal(self, p, info) -> None:
        """A signal reached thread `p`: its `--- SIG {...} ---` line comes
        when the thread next returns to user mode (after the line of the
        call it is in, as strace sees it)."""
        self.signals.setdefault(p.tid, []).append(D.siginfo(info))

    def flush(self, p, gone: int = 0) -> None:
        for text in self.signals.pop(p.tid, ()):
            self._emit(f"{self._prefix(p, None, gone)}--- {text} ---")

    def in_guest(self, p) -> None:
        """The calls `p`'s libOS answered inside the guest since the kernel
        last looked (its ring, kernels/libos/libos.S), one line each."""
        records, lost = p.libos.in_guest_records()
        if lost:
            self._emit(f"{self._prefix(p)}(azemu: {lost} calls answered in the guest are not "
                       "shown: the libOS's ring overflowed)")
        for nr, result, tid in records:
            name = name_of(nr)
            if self.only is not None and name not in self.only:
                continue
            view = self.kview.in_guest(p) if self.kview is not None else None
            text = f"{name}()"
            prefix = self._prefix(p).replace(f"{p.tid}", f"{tid}", 1) if tid else self._prefix(p)
            self._call_line(prefix + text, str(result), None, view, (tid or p.tid, name, nr, text))

    def exited(self, p, how: GuestExit) -> None:
        """A thread or process is over: strace's `+++` line (said once for each)."""
        if p.tid in self.ended:
            return
        self.ended.add(p.tid)
        if getattr(p, "libos", None) is not None:
            self.in_guest(p)
        gone = 0 if _counted(p) else 1
        self.flush(p, gone)
        if how.signal:
            core = " (core dumped)" if how.signal in L.CORE_SIGNALS else ""
            what = f"killed by {D.N.signal_name(how.signal)}{core}"
        else:
            what = f"exited with {how.status & 0xFF}"
        self._emit(f"{self._prefix(p, None, gone)}+++ {what} +++")

    # the handlers
    def wrap(self, nr: int, handler, arity: int):
        """A `wrap(nr, handler, arity)` for dispatch.handler_table."""
        name = name_of(nr)
        if self.only is not None and name not in self.only:
            if self.kview is None:
                return handler
            return self._kept_count(nr, handler)  # not shown, but its events are its own
        sig = PARSED.get(name)
        if sig is None:
            inner = getattr(handler, "__wrapped__", handler)
            names = inner.__code__.co_varnames[1:1 + arity] if hasattr(inner, "__code__") else ()
            sig = _by_names(names)
        before = [(i, k, q) for i, (after, k, q) in enumerate(sig.args) if not after]
        after = [(i, k, q) for i, (after, k, q) in enumerate(sig.args) if after]
        tracer = self

        def traced(p, *args):  # noqa: C901 (one wrapper, every way a call ends)
            if p.libos is not None:
                tracer.in_guest(p)                # what the libOS answered since, first
            tracer.blocked.pop(p.tid, None)       # (run again after a wait: a new line)
            at = time.time() if tracer.timestamps else None
            c = D.Ctx(p, args, tracer.strsize)
            shown = [None] * len(sig.args)
            for i, k, q in before:
                shown[i] = D.render(c, k, q, args[i] if i < len(args) else 0)
            if sig.ret == "none":                 # exit, exit_group: the line before the end
                tracer._line(p, (name, nr), c, shown, after, at, "?", None, None)
                return handler(p, *args)
            kv = tracer.kview.start(p) if tracer.kview is not None else None
            t0 = time.perf_counter()
            try:
                ret = handler(p, *args)
            except Block:                         # it waits: its line comes when it is done
                tracer.blocked[p.tid] = (name, nr, sig, c, shown, after, at, t0, kv)
                raise
            except BaseException as e:
                took = time.perf_counter() - t0 if tracer.timing else None
                tracer._failed(p, (name, nr), sig, c, shown, after, e, at, took, kv)
                raise
            took = time.perf_counter() - t0 if tracer.timing else None
            c.ret = ret
            tracer._line(p, (name, nr), c, shown, after, at, _result(sig.ret, ret, c), took, kv)
            return ret
        traced.__wrapped__ = handler
        return traced

    def _kept_count(self, nr, handler):
        """An untraced call, when the kernel's view is on: its events must not
        be counted in the next traced call's."""
        kview = self.kview

        def counted(p, *args):
            try:
                return handler(p, *args)
            finally:
                kview.ended(p)
        counted.__wrapped__ = handler
        return counted

    def resumed(self, p, result: int) -> None:
        """Thread `p` ends the call it waited in with `result` (the
        scheduler's doing, not the handler's): the call's line now."""
        entry = self.blocked.pop(p.tid, None)
        if entry is None:
            return
        name, nr, sig, c, shown, after, at, t0, kv = entry
        took = time.perf_counter() - t0 if self.timing else None
        c.ret = result = D.s64(result)
        text = _errno_text(-result) if -4096 < result < 0 else _result(sig.ret, result, c)
        self._line(p, (name, nr), c, shown, after, at, text, took, kv)

    @staticmethod
    def _call_text(name, c, shown, after) -> str:
        for i, k, q in after:
            shown[i] = D.render(c, k, q, c.args[i] if i < len(c.args) else 0)
        return f"{name}({', '.join(s for s in shown if s is not None)})"

    def _line(self, p, which, c, shown, after, at, result, took, kv) -> None:
        """A call's line, its kernel's view, then the signals it met."""
        name, nr = which
        text = self._call_text(name, c, shown, after)
        view = self.kview.finish(p, kv, nr) if kv is not None else None
        self._call_line(self._prefix(p, at) + text, result, took, view, (p.tid, name, nr, text))
        if self.signals:
            self.flush(p)

    def _failed(self, p, which, sig, c, shown, after, e, at, took, kv=None) -> None:
        if isinstance(e, GuestExit):              # the process ends in the call
            if e.result is None:
                self._line(p, which, c, shown, [], at, "?", None, None)
            else:                                 # the call returned, then its signal killed
                c.ret = e.result
                text = _errno_text(-e.result) if e.result < 0 else _result(sig.ret, e.result, c)
                self._line(p, which, c, shown, after, at, text, took, kv)
            return                                # (the kernel's end of it says +++)
        if isinstance(e, RegistersSet):            # rt_sigreturn: its result is the rax it restored
            self._line(p, which, c, shown, [], at, _restored_rax(p), took, kv)
            return
        if isinstance(e, LinuxError):
            err = e.errno
        elif isinstance(e, GuestFault):
            err = EFAULT
        elif isinstance(e, OSError):
            err = e.errno or EIO
        else:
            return                                # azemu's own failure: reported elsewhere
        c.ret = -err
        self._line(p, which, c, shown, after, at, _errno_text(err), took, kv)


def _errno_text(err: int) -> str:
    return f"-1 {ERRNO_NAMES.get(err, err)} ({os.strerror(err)})"


def _restored_rax(p) -> str:
    from unicorn.x86_const import UC_X86_REG_RAX
    try:
        rax = D.s64(p.core.regs.read(UC_X86_REG_RAX))
    except AttributeError:
        return "?"
    return _errno_text(-rax) if -4096 < rax < 0 else str(rax)


def _counted(p) -> bool:
    """Whether thread `p` is still among the live ones _tasks counts."""
    try:
        return not p.proc.zombie and p in p.proc.tasks
    except AttributeError:
        return False


def _tasks(p) -> int:
    """The guest's live threads, of all its processes."""
    try:
        return sum(len(proc.tasks) for proc in p.kernel.procs.live())
    except AttributeError:
        return 1


def _result(kind: str, ret: int, c) -> str:
    if kind == "hex":
        return D.hx(ret)
    if kind == "oct":
        return D.octal(ret)
    if kind == "none":
        return "?"
    if kind == "poll" and ret >= 0:
        return D.poll_result(c)
    if kind == "fcntl" and ret > 0:
        cmd = c.args[1] & 0xFFFFFFFF
        if cmd == L.F_GETFD:
            return f"{D.hx(ret)} (flags {D.N.flags(D.N.FD_FLAGS, ret)})"
        if cmd == L.F_GETFL:
            return f"{D.hx(ret)} (flags {D.N.open_flags(ret)})"
    return str(ret)


# Undeclared calls: their arguments read by the handler's parameter names.
_STRING_ARGS = {"pathname", "filename", "oldpath", "newpath", "target", "linkpath", "path",
                "name"}
_FD_ARGS = {"fd", "dirfd", "olddirfd", "newdirfd", "oldfd", "newfd", "out_fd", "in_fd", "epfd"}
_INT_ARGS = {"sig", "pid", "tid", "tgid", "status", "who", "how", "resource_", "clockid",
             "pgid", "id_", "idtype", "options", "flags", "mode"}


def _by_names(names) -> Signature:
    kinds = []
    for n in names:
        if n in _STRING_ARGS:
            kinds.append("path")
        elif n in _FD_ARGS:
            kinds.append("atfd" if "dir" in n else "fd")
        elif n in _INT_ARGS:
            kinds.append("int")
        else:
            kinds.append("guess")
    return Signature(", ".join(kinds))
