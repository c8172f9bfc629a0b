"""The terminal debugger's engine (`azemu debug`), with no screen in it: a
kernel instance run in a background thread under kernels/debugctl.py, the
commands a student gives it (step, next, continue, run to the next
syscall, breakpoints by address or symbol, kill), and at each stop a
snapshot of what the screen shows (azemu/debug_tui.py draws it; the tests
drive this class directly too):

* the disassembly around rip (capstone), with symbols (azemu/symbols.py),
  the current instruction and the breakpoints marked;
* the registers, those changed since the last stop marked;
* the stack: qwords from rsp, code addresses named;
* the syscall log: the lines of `azemu exec --strace --trace-kernel` (the
  tracer, kernels/syscalls/strace.py, writes them into a SyscallLog);
* each core: what it runs (the thread, running / blocked / idle) and where.

Threads: the emulation runs in one thread, `start()`'s; the caller (the
screen) sends commands with `send()`, which a stopped guest reads, and
takes events — ("stop", Snapshot), ("message", text), ("exit", text) —
from `events`.  `interrupt()` stops a running guest at its next
instruction.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import capstone

from azemu.symbols import Locator

from .abi import linux as L
from .debugctl import DebugControl
from .task import BLOCKED, EXITED, RUNNABLE, STOPPED

REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags", "fs_base")
LOG_LINES = 1000                  # syscall lines kept
STACK_QWORDS = 16

_md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


class BadCommand(ValueError):
    """A command that cannot be done: its message is the one line shown."""


class SyscallLog:
    """A text stream for the tracer: keeps its lines (the last LOG_LINES)
    and counts them, so that "run to the next syscall" sees one come."""

    def __init__(self):
        self.lines: list[str] = []
        self.count = 0
        self._part = ""
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            text = self._part + text
            *done, self._part = text.split("\n")
            self.lines.extend(done)
            self.count += len(done)
            del self.lines[:-LOG_LINES]
        return len(text)

    def flush(self) -> None:
        pass

    def tail(self, n: int) -> list[str]:
        with self.lock:
            return self.lines[-n:] if n > 0 else []


@dataclass
class Snapshot:
    """What the guest looked like at one stop."""
    why: str                                   # start, breakpoint, step, until, interrupt, watch
    tid: int
    core: int                                  # the core's place in the instance
    regs: dict
    changed: set
    where: str                                 # rip as `main+4 (hello)`
    disasm: list = field(default_factory=list)  # (addr, label, hex bytes, text, current, breakpoint)
    stack: list = field(default_factory=list)   # (addr, value, what it points to or "")
    cores: list = field(default_factory=list)   # (core, state, tid or None, rip or None, queued)
    syscalls: list = field(default_factory=list)
    breakpoints: list = field(default_factory=list)   # (addr, label)


class DebugSession:
    def __init__(self, kernel, log: SyscallLog | None = None):
        self.k = kernel
        self.log = log or SyscallLog()
        self.events: queue.Queue = queue.Queue()
        self.commands: queue.Queue = queue.Queue()
        self.ctl = DebugControl(kernel, self._stopped)
        kernel.on_fault = self._fault
        self.labels: dict[int, str] = {}       # breakpoint -> what the user called it
        self.outcome = None
        self.killed = False                    # the user ended it (k, q)
        self.running = False
        self._last_regs: dict = {}
        self._thread = None

    # ---- the caller's side ------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="azemu-debug-guest")
        self._thread.start()

    def send(self, command: str) -> None:
        """A command line: s, n, c, y, b WHERE, b (the list), d [WHERE], k (kill)."""
        self.commands.put(command)

    def interrupt(self) -> None:
        self.ctl.interrupt = True

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        self.running = True
        try:
            self.outcome = self.k.run()
        except BaseException as e:                 # reported on the screen, not as a traceback
            self.events.put(("exit", f"azemu: internal error: {type(e).__name__}: {e}"))
            return
        finally:
            self.running = False
        self.events.put(("exit", describe_exit(self.outcome)))

    # ---- the emulation thread's side: a stop ---------------------------------
    def _stopped(self, core, task, stop) -> None:
        self.running = False
        self.events.put(("stop", self.snapshot(core, task, stop.why)))
        self._serve(core, task)

    def _serve(self, core, task) -> None:
        """Take commands until one lets the guest run on."""
        while True:
            line = self.commands.get().strip()
            try:
                if self._command(core, task, line):
                    self.running = True
                    return
            except BadCommand as e:
                self.events.put(("message", str(e)))

    def _fault(self, core, task) -> None:
        """A CPU fault in the debugged process: stop at the faulting
        instruction, before its signal (continuing delivers it)."""
        if not self.ctl.attached or task is None or task.proc is not self.k.process:
            return
        fault = core.fault
        self.ctl.stepping = self.ctl.until = None
        self.running = False
        what = f"{fault.signal}: {fault.detail}" + (f" at {fault.addr:#x}" if fault.addr is not None else "")
        self.events.put(("message", f"got {what}: c delivers it"))
        self.events.put(("stop", self.snapshot(core, task, what, rip=fault.rip)))
        self._serve(core, task)

    def _command(self, core, task, line: str) -> bool:
        """Do one command; True when the guest is to run on."""
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in ("s", "step", "si", "stepi"):
            self.ctl.stepping = task if task is not None else core
        elif word in ("n", "next", "ni", "nexti"):
            self._next(core, task)
        elif word in ("c", "continue"):
            pass
        elif word in ("y", "syscall"):
            seen = self.log.count
            self.ctl.until = lambda core, task, addr: self.log.count > seen
        elif word in ("b", "break", "info") and rest in ("", "b", "break"):
            bps = sorted(self.ctl.breakpoints)
            self.events.put(("message", "breakpoints: " + ", ".join(
                f"{a:#x} {self._describe(a) or self.labels.get(a, '')}".rstrip() for a in bps)
                if bps else "no breakpoints"))
            return False
        elif word in ("b", "break"):
            addr = self.resolve(rest)
            self.ctl.breakpoints.add(addr)
            self.labels[addr] = rest
            self.events.put(("message", f"breakpoint at {addr:#x} {self._describe(addr)}"))
            self.events.put(("stop", self.snapshot(core, task, "breakpoint set", keep=True)))
            return False
        elif word in ("d", "delete"):
            gone = set(self.ctl.breakpoints) if not rest else {self.resolve(rest)}
            if not gone & self.ctl.breakpoints:
                raise BadCommand(f"no breakpoint at {rest}" if rest else "no breakpoints")
            self.ctl.breakpoints -= gone
            self.events.put(("message", f"deleted {len(gone)} breakpoint{'s' * (len(gone) != 1)}"))
            self.events.put(("stop", self.snapshot(core, task, "breakpoint deleted", keep=True)))
            return False
        elif word in ("k", "kill", "q", "quit"):
            self.killed = True
            self.ctl.kill(core, L.SIGKILL)
        elif word == "":
            return False
        else:
            raise BadCommand(f"{word}: no such command (s n c y b d k)")
        return True

    def _next(self, core, task) -> None:
        """Step, but over a call: on to the instruction after it, in this
        thread, at this stack depth (not a deeper, recursive one)."""
        regs = core.regs.read_all()
        rip, rsp = regs["rip"], regs["rsp"]
        code = self.ctl.read_mem(rip, 15) or b""
        insn = next(_md.disasm(code, rip, 1), None)
        if insn is None or insn.mnemonic != "call":
            self.ctl.stepping = task if task is not None else core
            return
        after = rip + insn.size

        def back(c, t, addr):
            return addr == after and t is task and c.regs.read_all()["rsp"] >= rsp
        self.ctl.until = back

    # ---- names and addresses ---------------------------------------------------
    def _locator(self):
        return Locator(self.k.process.mm, self.k._host_path)

    def _describe(self, addr: int) -> str:
        text = self._locator().describe(addr)
        return "" if text.startswith("??") else text

    def resolve(self, where: str) -> int:
        """An address (0x401530, 4199728) or a function of the program or a
        library it has mapped, with an offset (main, main+4)."""
        if not where:
            raise BadCommand("where? an address or a function (b main, b 0x401530)")
        name, plus, off = where.partition("+")
        try:
            offset = int(off, 0) if plus else 0
        except ValueError:
            raise BadCommand(f"{where}: not an address or function+offset") from None
        try:
            return int(name, 0) + offset
        except ValueError:
            pass
        mm = self.k.process.mm
        seen = set()
        for m in mm.mappings():
            if not m.name or m.name.startswith("[") or m.name in seen:
                continue
            seen.add(m.name)
            found = self._locator().object_at(m.start)
            if found is None:
                continue
            obj, bias, _ = found
            addr = obj.address(name)
            if addr is not None:
                return addr + bias + offset
        raise BadCommand(f"{name}: no such function in the program or its libraries")

    # ---- what the screen shows -------------------------------------------------------
    def snapshot(self, core, task, why: str, keep: bool = False, rip=None) -> Snapshot:
        regs = core.regs.read_all()
        if rip is not None:
            regs["rip"] = rip
        tid = task.tid if task is not None else self.k.process.tid
        last = self._last_regs.get(tid, {})
        changed = {r for r in REGS if r in last and last[r] != regs.get(r)}
        if not keep:
            self._last_regs[tid] = regs
        rip = regs["rip"]
        return Snapshot(
            why=why, tid=tid, core=self.k.part.cores.index(core), regs=regs, changed=changed,
            where=self._describe(rip), disasm=self._disasm(rip), stack=self._stack(regs["rsp"]),
            cores=self.cores(core), syscalls=self.log.tail(200),
            breakpoints=[(a, self.labels.get(a, "")) for a in sorted(self.ctl.breakpoints)])

    def _disasm(self, rip: int, before: int = 6, after: int = 14) -> list:
        """Lines around rip: from the start of its function when rip is
        near enough (x86 code cannot be read backwards), else from rip."""
        loc = self._locator()
        found = loc.object_at(rip)
        start = rip
        if found is not None:
            obj, bias, _ = found
            sym = obj.symbol(rip - bias)
            if sym is not None and sym[1] <= 0x800:
                start = rip - sym[1]
        code = self.ctl.read_mem(start, rip - start + 16 * after) or self.ctl.read_mem(rip, 16) or b""
        if not code:
            return [(rip, "", "", "(no code mapped here)", True, rip in self.ctl.breakpoints)]
        insns = list(_md.disasm(code, start))
        idx = next((i for i, x in enumerate(insns) if x.address == rip), None)
        if idx is None:                            # not on a boundary from there: from rip
            insns, idx = list(_md.disasm(self.ctl.read_mem(rip, 16 * after) or b"", rip)), 0
        lines = []
        for x in insns[max(0, idx - before):idx + after]:
            label = self._describe(x.address).split(" (")[0]
            lines.append((x.address, label, x.bytes.hex(), f"{x.mnemonic} {x.op_str}".strip(),
                          x.address == rip, x.address in self.ctl.breakpoints))
        return lines

    def _stack(self, rsp: int) -> list:
        data = self.ctl.read_mem(rsp, 8 * STACK_QWORDS)
        if data is None:
            data = self.ctl.read_mem(rsp, 8) or b""
        mm = self.k.process.mm
        out = []
        for i in range(len(data) // 8):
            value = int.from_bytes(data[8 * i:8 * i + 8], "little")
            m = mm.find(value)
            what = ""
            if m is not None and m.start <= value < m.end:
                what = self._describe(value) if m.prot & 4 else (m.name or "")
            out.append((rsp + 8 * i, value, what))
        return out

    def cores(self, stopped_core=None) -> list:
        """(core, state, tid, rip, threads queued) per core of the instance."""
        sched = self.k.sched
        out = []
        for i, c in enumerate(self.k.part.cores):
            t = self.k.slots[i].task
            queued = sum(1 for q in sched.queues[i] if q.sched.state != EXITED)
            if t is None or t.sched.state == EXITED:
                out.append((i, "idle", None, None, queued))
                continue
            state = {RUNNABLE: "running", BLOCKED: "blocked", STOPPED: "stopped"}.get(
                t.sched.state, t.sched.state)
            if c is stopped_core:
                state = "stopped here"
            rip = None
            if c.made and sched.resident.get(i) is t:
                rip = c.regs.read_all()["rip"]
            elif getattr(t.sched, "ctx", None):
                rip = t.sched.ctx[0].get("rip")
            out.append((i, state, t.tid, rip, queued))
        return out


def describe_exit(outcome) -> str:
    """How the run ended, in one line (and a crash's report after it)."""
    if outcome.signal:
        from .syscalls.trace_decode import N
        text = f"program killed by {N.signal_name(outcome.signal)} (status {outcome.exit_status})"
    else:
        text = f"program exited with status {outcome.status & 0xFF}"
    if outcome.report:
        text += "\n" + outcome.report
    return text
