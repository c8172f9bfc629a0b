"""azemu's Python API: run a program on an emulated kernel from a script,
capture what it printed, read the kernel's counters and trace, and hook it —
before and after a syscall by name, at a code address, on a memory range.

    import azemu
    r = azemu.run("hello", mode="lwk")
    r.status, r.stdout, r.counters["trap"]

    hooks = azemu.Hooks()
    hooks.syscall("getpid", after=lambda call, ret: 42)
    azemu.run("getpid_loop", ["1"], hooks=hooks)

The public surface is what azemu/__init__.py re-exports: `run`, `Result`,
`Hooks`, `Call`, `Context`, `run_machine`, `HookError`.  Documented with
runnable examples in docs/api.md.  Hooks cost nothing when none is set: the
syscall table and the cores are built as for `azemu exec`.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field

from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from . import ucfast


MEMORY_HOOK_MAX = 1 << 20       # bytes one memory hook may watch (each access is checked)


class HookError(Exception):
    """A hook raised: the run was stopped, and this carries the hook's exception."""


@dataclass
class Result:
    """How a run ended, what it printed, and what the kernel counted."""
    status: int                   # as a shell shows it: the exit code, or 128 + the signal
    exit_code: int | None         # the code it exited with, if it exited
    signal: int | None            # the signal that killed it, if one did
    stdout: bytes
    stderr: bytes
    report: str                   # azemu's own lines: a crash report, unsupported syscalls
    counters: dict                # the kernel's event counters, summed over its cores
    trace: list = field(default_factory=list)   # with trace=True: a dict per call


class Context:
    """What a code or memory hook sees: the core's registers and the
    process's memory, both readable and writable."""

    def __init__(self, core, kernel):
        self._core, self._kernel = core, kernel

    def reg(self, name: str) -> int:
        return self._core.regs.read(_reg(name))

    def set_reg(self, name: str, value: int) -> None:
        self._core.regs.write(_reg(name), value & 0xFFFFFFFFFFFFFFFF)

    def read(self, addr: int, n: int) -> bytes:
        return self._core.mm.read(addr, n)

    def write(self, addr: int, data: bytes) -> None:
        self._core.mm.write(addr, data)


class Call:
    """A syscall as a hook sees it: its name, number and arguments (change
    `args` in a `before` hook to change what the kernel is asked), the
    calling thread, and the process's memory."""

    def __init__(self, name: str, nr: int, args: list, process):
        self.name, self.nr, self.args = name, nr, args
        self._p = process
        self.tid, self.pid = process.tid, process.pid

    def read(self, addr: int, n: int) -> bytes:
        return self._p.mm.read(addr, n)

    def read_str(self, addr: int, limit: int = 4096) -> bytes:
        return self._p.mm.read_cstr(addr, limit)

    def write(self, addr: int, data: bytes) -> None:
        self._p.mm.write(addr, data)


class Hooks:
    """The hooks of one run.

    - `syscall(name, before=f, after=g)`: `f(call)` runs before the kernel
      serves the call; returning an int answers the call with it (a negative
      value is -errno) and the kernel never sees it. `g(call, result)` runs
      after (result: the value, or -errno); returning an int replaces it.
    - `code(address, f)`: `f(context)` before the instruction at `address`
      runs, on any core.
    - `memory(start, end, f, access="w")`: `f(context, access, address, size,
      value)` on each read ("r") or write ("w") of [start, end) (at most
      MEMORY_HOOK_MAX bytes; every access of the guest is checked while one
      is set, so the run is slower).

    With a syscall hook set, a libOS image's calls go to the kernel (none is
    answered inside the guest), so that every call reaches its hook."""

    def __init__(self):
        self.syscalls: dict[str, tuple] = {}
        self.code_hooks: list[tuple] = []
        self.memory_hooks: list[tuple] = []

    def syscall(self, name: str, before=None, after=None) -> "Hooks":
        from kernels.abi.syscall_numbers import SYSCALL_NUMBERS
        if name not in SYSCALL_NUMBERS:
            raise ValueError(f"no syscall named {name!r}")
        self.syscalls[name] = (before, after)
        return self

    def code(self, address: int, fn) -> "Hooks":
        self.code_hooks.append((address, fn))
        return self

    def memory(self, start: int, end: int, fn, access: str = "w") -> "Hooks":
        if not access or set(access) - {"r", "w"}:
            raise ValueError("access is 'r', 'w' or 'rw'")
        if not 0 < end - start <= MEMORY_HOOK_MAX:
            raise ValueError(f"a watched range is 1 byte to {MEMORY_HOOK_MAX >> 10} KiB")
        self.memory_hooks.append((start, end, fn, access))
        return self

    # ---- how a kernel takes them (kernels/kernel.py: syscall_wrap) ----------------
    def wrap(self, nr: int, handler, arity: int):
        from kernels.errors import LinuxError
        from kernels.syscalls.table import name_of
        name = name_of(nr)
        if name not in self.syscalls:
            return handler
        before, after = self.syscalls[name]

        def hooked(p, *args):
            call = Call(name, nr, list(args), p)
            if before is not None:
                answer = _user(p, before, call)
                if answer is not None:
                    return _answer(answer, LinuxError)
            try:
                ret = handler(p, *call.args)
            except LinuxError as e:
                if after is None:
                    raise
                ret = -e.errno
            if after is not None:
                new = _user(p, after, call, ret)
                if new is not None:
                    ret = new
            return _answer(ret, LinuxError)
        hooked.__wrapped__ = handler
        return hooked


def _user(p, fn, *args):
    """A user's syscall hook: what it raises ends the run (HookError)."""
    try:
        return fn(*args)
    except BaseException as e:
        p.kernel.hook_error = e
        raise


def _answer(value: int, LinuxError) -> int:
    if value < 0:
        raise LinuxError(-value)
    return value


_MEM_CB = ucfast.ctypes.CFUNCTYPE(None, ucfast.ctypes.c_void_p, ucfast.ctypes.c_int,
                                  ucfast.ctypes.c_uint64, ucfast.ctypes.c_int,
                                  ucfast.ctypes.c_int64, ucfast.ctypes.c_void_p)


def _virtual(mm, start: int, end: int, phys: int) -> int | None:
    """The address in [start, end) whose frame holds guest-physical `phys`, or None."""
    from .mmu import FRAME, P
    frame = phys & ~0xFFF
    for vpn in range(start >> 12, ((end - 1) >> 12) + 1):
        entry = mm.pt.get(vpn)
        if entry & P and entry & FRAME == frame:
            va = (vpn << 12) | (phys & 0xFFF)
            return va if start <= va < end else None
    return None


def _reg(name: str) -> int:
    try:
        return getattr(x86, "UC_X86_REG_" + name.upper())
    except AttributeError:
        raise ValueError(f"no register named {name!r}") from None


def _guarded(kernel, core, fn):
    """Run a user hook from C: an exception stops the run (HookError later)."""
    def call(*args):
        try:
            fn(*args)
        except BaseException as e:              # noqa: BLE001 (C must not see it)
            kernel.hook_error = e
            kernel.internal_error = (-1, e, e.__traceback__)
            core.stop()
    return call


def _install(kernel, hooks: Hooks) -> None:
    for core in kernel.part.cores:
        for address, fn in hooks.code_hooks:
            def make(core=core, fn=fn):
                run = _guarded(kernel, core, lambda: fn(Context(core, kernel)))
                return ucfast.CODE_CB(lambda uc, addr, size, ud: run())
            core.add_hook(ucc.UC_HOOK_CODE, make, address, address)
        for start, end, fn, access in hooks.memory_hooks:
            kinds = (ucc.UC_HOOK_MEM_READ if "r" in access else 0) | \
                (ucc.UC_HOOK_MEM_WRITE if "w" in access else 0)

            def make(core=core, fn=fn, start=start, end=end):
                # Unicorn reports guest-physical addresses (the cores walk page
                # tables): each access is matched against the frames now behind
                # the watched virtual pages, whatever demand paging or a fork's
                # copy-on-write did to them since.
                def seen(ctx_kind, addr, size, value):
                    va = _virtual(core.mm, start, end, addr)
                    if va is not None:
                        fn(Context(core, kernel), "w" if ctx_kind == ucc.UC_MEM_WRITE else "r",
                           va, size, value)
                run = _guarded(kernel, core, seen)
                return _MEM_CB(lambda uc, kind, addr, size, value, ud: run(kind, addr, size, value))
            core.add_hook(kinds, make, 1, 0)


def run(program: str, args=(), *, mode: str = "linux", cores: int = 1, mem="1G",
        root: str | None = None, readonly: bool = False, stdin: bytes | str = b"",
        env: dict | None = None, trace: bool = False, hooks: Hooks | None = None,
        deterministic: bool = False) -> Result:
    """Run `program` (a path, a name in PATH, or a shipped example) with
    `args` on a kernel instance of `cores` cores and `mem` memory (bytes, or
    "256M"), in `mode` (linux, lwk, unikernel).  Its stdin is `stdin`; its
    stdout and stderr are captured; `env` is its environment (default:
    this process's).  Raises kernels.ExecError for what cannot be run, and
    HookError when a hook raised."""
    from kernels import Kernel
    from . import options
    from .commands import program_path
    from kernels.syscalls.strace import Tracer
    memory = options.memory(mem) if isinstance(mem, str) else int(mem)
    path = program_path(program)
    fds = [_memfd("stdin", stdin.encode() if isinstance(stdin, str) else stdin),
           _memfd("stdout"), _memfd("stderr")]
    notes = io.StringIO()
    records = io.StringIO()
    tracer = Tracer(None, json_stream=records) if trace else None
    kernel = None
    try:
        kernel = Kernel(mode=mode, memory=memory, ncores=cores, root=root, readonly=readonly,
                        stdio=fds, stderr=notes, strace=tracer, deterministic=deterministic,
                        in_guest=not (hooks and hooks.syscalls))
        kernel.hook_error = None
        if hooks is not None:
            kernel.syscall_wrap = hooks.wrap
            _install(kernel, hooks)
        environ = os.environ if env is None else env
        kernel.exec(path, [os.fsencode(program)] + [os.fsencode(a) for a in args],
                    [os.fsencode(f"{k}={v}") for k, v in environ.items()])
        outcome = kernel.run()
        if kernel.hook_error is not None:
            raise HookError(f"a hook raised {type(kernel.hook_error).__name__}: "
                            f"{kernel.hook_error}") from kernel.hook_error
        counters = kernel.stats().as_dict()
    finally:
        if kernel is not None:
            kernel.close()
        out, err = _read(fds[1]), _read(fds[2])
        for fd in fds:
            os.close(fd)
    report = notes.getvalue() + (outcome.report + "\n" if outcome.report else "")
    return Result(status=outcome.exit_status, exit_code=None if outcome.signal else outcome.status,
                  signal=outcome.signal or None, stdout=out, stderr=err, report=report,
                  counters=counters,
                  trace=[json.loads(x) for x in records.getvalue().splitlines()])


def address_of(program: str, function: str) -> int:
    """Where `function` of a program linked at a fixed address (not PIE:
    azemu's static guests) is: for `Hooks.code`.  Raises ValueError."""
    from .commands import program_path
    from .symbols import object_file
    obj = object_file(program_path(program))
    addr = obj.address(function) if obj is not None else None
    if addr is None:
        raise ValueError(f"{program}: no function {function!r}")
    return addr


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create("azemu-" + name, os.MFD_CLOEXEC)
    if data:
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def run_machine(machine, out_dir: str | None = None) -> dict:
    """Boot a multikernel machine from a dict shaped as a machine file's TOML
    (or a machine file's path): {name: Result} of its partitions (their
    stdout and stderr read from NAME.out and NAME.err in `out_dir`, a
    temporary directory when None)."""
    import tempfile
    from .multikernel import run_machine as boot
    with tempfile.TemporaryDirectory() as tmp:
        out = out_dir or tmp
        statuses: dict = {}
        boot(machine, live=False, out_dir=out, console_file=io.StringIO(), statuses=statuses)
        results = {}
        for name, (status, signal, counters) in statuses.items():
            def text(ext, name=name):
                with open(os.path.join(out, name + ext), "rb") as f:
                    return f.read()
            results[name] = Result(status=status, exit_code=None if signal else status,
                                   signal=signal, stdout=text(".out"), stderr=text(".err"),
                                   report="", counters=counters)
        return results

