"""One emulated CPU core: a Unicorn instance, its fast register file, its run loop.

A core knows how to execute guest code and how to stop; it knows nothing of a
kernel.  A kernel attaches to a core by giving it a syscall callback (a raw
ctypes callback, see ucfast) and reading the outcome of `run()`:

* `RunResult.STOPPED` — someone called `stop()` (the kernel, on exit);
* `RunResult.FAULT`   — the guest did something a CPU traps on; `fault` says
  what (kind, address, the faulting RIP).

Only three hooks are installed, none of which fires on the normal path: the
`syscall` instruction, invalid memory accesses and CPU exceptions.  No
per-instruction hook is ever installed by default (DESIGN.md §3); a kernel
that slices time installs, for as long as it does, the preemption point
(azemu/preempt.py: two block hooks, C functions of libunicorn) that lets
another thread stop a run safely.

The Unicorn instance is made when the core is first used, not with the
machine (`Core.make`): a core that never runs costs a few Python objects.

Memory: a core maps its instance's physical segment once (`attach_memory`)
and runs user code (CPL 3) with paging on (azemu/paging.py); `switch_to`
loads an address space's page tables into CR3.  A page fault goes to that
address space (`AddressSpace.fault`) from inside the exception hook: when it
maps the page the instruction simply runs again, with no stop.  TLB flushes
are the address space's to ask for: `flush_tlb` now, or `tlb_stale` (a
shootdown received while not running) before the next run.
"""
from __future__ import annotations

import ctypes
import struct
import threading
import weakref

import unicorn
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86

from . import cpu_state, paging, preempt, ucfast

# What the guest's CPUID reports.  glibc picks its string routines from CPUID
# and, when built for a higher ISA level, refuses to start below it; so the
# model must claim exactly what Unicorn's TCG executes.  Unicorn 2.1's default
# "qemu64" model claims SSE..SSE3 plus CX16/POPCNT-less baseline, which
# satisfies x86-64 v1 (the level Debian's glibc and musl are built for) and
# never advertises AVX, which TCG 5 cannot run.
CPU_MODEL = x86.UC_CPU_X86_QEMU64

# The translated-code buffer of each core.  Unicorn's default, 1 GiB, makes
# a core cost ~4 ms to start (most of `threads` 64's start-up) against
# ~0.3 ms for 64 MiB — measured with unicorn 2.1.4, 64 cores kept alive; a
# full buffer is flushed and refilled, as QEMU does, so big programs keep
# running.  64 MiB holds far more than the code of the largest guests run
# here (cc1, python3).
TCG_BUFFER = 64 << 20

FAULT_SEGV, FAULT_ILL, FAULT_FPE, FAULT_TRAP, FAULT_BUS = "SIGSEGV", "SIGILL", "SIGFPE", "SIGTRAP", "SIGBUS"
FAULT_OOM = "SIGKILL"
_ADDR_MAX = 0xFFFFFFFFFFFFFFFF
_TLB_FLUSH = ucc.UC_CTL_TLB_FLUSH | ucc.UC_CTL_IO_WRITE << 30   # UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0)
_TB_FLUSH = ucc.UC_CTL_TB_FLUSH | ucc.UC_CTL_IO_WRITE << 30
_TB_REMOVE = ucc.UC_CTL_TB_REMOVE_CACHE | 2 << 26 | ucc.UC_CTL_IO_WRITE << 30   # 2 arguments

_MEM_ACCESS = {
    ucc.UC_MEM_READ_UNMAPPED: ("read", "unmapped"),
    ucc.UC_MEM_WRITE_UNMAPPED: ("write", "unmapped"),
    ucc.UC_MEM_FETCH_UNMAPPED: ("execute", "unmapped"),
    ucc.UC_MEM_READ_PROT: ("read", "protection"),
    ucc.UC_MEM_WRITE_PROT: ("write", "protection"),
    ucc.UC_MEM_FETCH_PROT: ("execute", "protection"),
}

# x86 exception vectors raised through UC_HOOK_INTR -> the signal Linux sends.
_VECTOR_SIGNAL = {0: FAULT_FPE, 1: FAULT_TRAP, 3: FAULT_TRAP, 4: FAULT_SEGV, 5: FAULT_SEGV,
                  6: FAULT_ILL, 7: FAULT_FPE, 10: FAULT_SEGV, 11: FAULT_BUS, 12: FAULT_BUS,
                  13: FAULT_SEGV, 14: FAULT_SEGV, 16: FAULT_FPE, 17: FAULT_BUS, 19: FAULT_FPE}


class Fault:
    """What the guest did that a CPU traps on."""
    __slots__ = ("signal", "detail", "addr", "rip", "code")

    def __init__(self, signal: str, detail: str, addr: int | None = None, rip: int = 0,
                 code: int = 0):
        self.signal = signal       # "SIGSEGV", "SIGILL", ...
        self.detail = detail       # human description
        self.addr = addr           # faulting data address, if any
        self.rip = rip
        self.code = code           # si_code, when the fault says (SEGV_MAPERR, ...)

    def __repr__(self):
        return f"Fault({self.signal}, {self.detail!r}, addr={self.addr}, rip={self.rip:#x})"


# The registers of an FXSAVE image, in the order save_fpu reads them.
_FPU_IDS = ([x86.UC_X86_REG_FPCW, x86.UC_X86_REG_FPSW, x86.UC_X86_REG_FPTAG, x86.UC_X86_REG_MXCSR]
            + [x86.UC_X86_REG_ST0 + i for i in range(8)]
            + [getattr(x86, f"UC_X86_REG_XMM{i}") for i in range(16)])


def _abridged_tag(tag: int) -> int:
    """Full x87 tag word (2 bits a register, 11 = empty) -> FXSAVE's 1 bit a register."""
    return sum(1 << i for i in range(8) if (tag >> (2 * i)) & 3 != 3)


class RunResult:
    STOPPED = "stopped"
    FAULT = "fault"


# What `Core` makes when a core first runs (see Core.__getattr__).
_LAZY = frozenset(("uc", "uch", "regs", "exceptions", "preemption", "cpu"))
# A range of more pages flushes the whole TLB (Linux: tlb_single_page_flush_ceiling, 33).
FLUSH_PAGES_MAX = 32
_making = threading.RLock()         # one Unicorn instance set up at a time, machine-wide
_PR_SET_THP_DISABLE = 41
_thp_off = False


def _no_huge_pages() -> None:
    """No transparent huge pages for this process (prctl PR_SET_THP_DISABLE),
    set when the first core is made.

    Unicorn asks for huge pages on every instance's translated-code buffer
    (MADV_HUGEPAGE), so the first block a core translates costs a whole
    2 MiB page of host memory where a small program's code needs tens of
    KiB: 2.0 of the 2.9 MiB a started core held, and a 2 MiB clear (with
    compaction, on a fragmented host) in its start-up — measured with
    unicorn 2.1.4 on Linux 6.18, THP in madvise mode.  Without them the
    buffer costs the pages it fills, whatever TCG_BUFFER is, and the guests
    ran at the same speed (cc1 -O2, python3, compute: benchmarks/README.md,
    scaling).  Guest memory is a memfd: where shmem THP is off (the
    default) the setting does not change it.
    """
    global _thp_off
    if not _thp_off:
        _thp_off = True
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass                    # not Linux: nothing asks for huge pages


class HookHandle:
    """A hook added with `Core.add_hook`: added when the core is made."""
    __slots__ = ("htype", "make", "begin", "end", "extra", "handle")

    def __init__(self, htype, make, begin, end, extra):
        self.htype, self.make, self.begin, self.end, self.extra = htype, make, begin, end, extra
        self.handle = None          # Unicorn's, once added


class Core:
    """One CPU core.  Its Unicorn instance is made when it is first needed —
    when it first runs, or something reads or writes its registers — not
    when the machine is built: a machine of 1024 cores whose partitions run
    one thread each makes a quarter of them (a made core holds about
    0.9 MiB of host memory, its translated code apart, and takes under
    1 ms to make).  Until then what a kernel sets up on it — the memory it maps,
    its hooks and syscall entry, its page tables — is kept and applied
    then; its TLB and translated code are empty and need no flush."""

    def __init__(self, index: int = 0):
        self.index = index
        self.made = False               # the Unicorn instance exists
        self._segments = []             # physical memory to map (attach_memory)
        self._hooks: list[HookHandle] = []     # hooks to add when made (add_hook)
        self.mm = None                  # the address space in CR3
        self.running = False
        self.tlb_loaded = False         # ran since the last flush: may hold entries
        self.tlb_gen = 0                # the address space's flush count its TLB is at
        self.tlb_flushes = 0
        self.shootdowns_received = 0    # counted when it acts on them (see tlb_stale)
        self.page_faults = self.cow_faults = 0     # taken here, or by a syscall run here
        self.internal_error = None
        self.fault: Fault | None = None
        self._callbacks = []            # keep ctypes callbacks alive
        self._fpu = None                # buffers of save_fpu/restore_fpu, made on first use
        self._mem_fault = None
        self._vector = None
        self._page_fault = None

    def __getattr__(self, name):
        # Only for attributes not set yet: the Unicorn side, made on first use.
        if name in _LAZY:
            self.make()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def make(self) -> None:
        """Make the core's Unicorn instance now (once): user mode, paging,
        its memory, its hooks, its page tables, a fresh FPU."""
        if self.made:
            return
        with _making:
            if self.made:
                return
            _no_huge_pages()
            uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
            uc.ctl_set_cpu_model(CPU_MODEL)
            uc.ctl_set_tcg_buffer_size(TCG_BUFFER)
            uch = uc._uch
            paging.drop_to_user(uc)
            # Paging, and SSE enabled as a 64-bit OS does (CR0.MP set, CR0.EM
            # clear, CR4.OSFXSR and CR4.OSXMMEXCPT: without them SSE is #UD).
            paging.enable_paging(uc)
            for phys in self._segments:
                uc.mem_map_ptr(0, phys.size, ucc.UC_PROT_ALL, phys.base)
            d = self.__dict__
            d["uc"], d["uch"] = uc, uch
            d["regs"] = ucfast.RegisterFile(uch)
            d["cpu"] = cpu_state.locate(uch)      # None: public calls only (azemu/cpu_state.py)
            if self.cpu is not None:
                d["_cpu_arg"] = self.cpu.cpu
            d["exceptions"] = paging.ExceptionState(uch, self.cpu)
            d["preemption"] = preempt.new(uch)     # a stop from outside a run (azemu/preempt.py)
            self._watch_stores()
            self._add(ucc.UC_HOOK_INTR, ucfast.INTR_CB(self._on_interrupt))
            for h in self._hooks:
                self._add_now(h)
            if self.mm is not None:
                self.regs.write(x86.UC_X86_REG_CR3, self.mm.pt.root)
            self.made = True
        self.reset_fpu()

    def _add(self, htype, cfunc, *extra, begin: int = 1):
        self._callbacks.append(cfunc)
        return ucfast.add_hook(self.uch, htype, cfunc, begin, 0 if begin == 1 else _ADDR_MAX, *extra)

    def _watch_stores(self) -> None:
        """The invalid-access hook, over guest-physical addresses from the
        shared zone up (azemu/physmem.py) — and so Unicorn's fast path for
        the guest's stores everywhere below it.

        A memory hook whose range covers a page makes Unicorn 2.1.4 keep
        that page's TLB entries "not dirty" for good (cputlb.c,
        notdirty_write: no tlb_set_dirty while uc_mem_hook_installed), so
        every store to it is a helper call that looks for translated code to
        drop.  Measured: `lost_update 64` 7.8 s with the hook over all
        addresses, 2.7 s bounded; sha256sum of 64 MiB 7.0 s and 2.0 s.
        Below the zone the slow path is not needed: a private page has one
        virtual address, and Unicorn drops the code translated from a page
        when a store reaches it through that address (and after every TLB
        flush).  Frames several mappings may reach at once — code written
        through one mapping and run through another, as JITs that keep W^X
        do — are in the zone, where every store still looks.  Past the
        segment nothing is mapped: the hook reports what touches it.  With
        no way to move the range (azemu/preempt.py could not find it), the
        hook covers everything, as before."""
        phys = self._segments[-1] if self._segments else None
        offset = preempt.range_offset()
        movable = phys is not None and offset is not None
        handle = self._add(ucc.UC_HOOK_MEM_INVALID, ucfast.MEM_INVALID_CB(self._on_mem_invalid),
                           begin=phys.shared_low if movable else 1)
        if movable:
            self.__dict__["_store_zone"] = ctypes.c_uint64.from_address(handle + offset)
            phys.zone_watchers.append(weakref.WeakMethod(self._zone_lowered))

    def _zone_lowered(self, low: int) -> None:
        self._store_zone.value = low

    def _add_now(self, h: HookHandle) -> None:
        cfunc = h.make()
        self._callbacks.append(cfunc)
        h.handle = ucfast.add_hook(self.uch, h.htype, cfunc, h.begin, h.end, *h.extra)

    def add_hook(self, htype: int, make, begin: int = 1, end: int = 0, *extra) -> HookHandle:
        """A Unicorn hook: `make()` returns its ctypes callback (kept alive
        here).  Added now if the core is made, else when it is; the handle
        is for `del_hook`."""
        h = HookHandle(htype, make, begin, end, extra)
        if self.made:
            self._add_now(h)
        else:
            self._hooks.append(h)
        return h

    def del_hook(self, h: HookHandle) -> None:
        """Remove a hook of `add_hook` (its callback stays alive: it may be
        running now)."""
        if h in self._hooks:
            self._hooks.remove(h)
        if h.handle is not None:
            ucfast.lib.uc_hook_del(self.uch, ctypes.c_size_t(h.handle))
            h.handle = None

    def set_syscall_handler(self, callback) -> None:
        """`callback(uch, user_data)` runs on every `syscall` instruction; it is
        called straight from C and must not raise."""
        self.set_syscall_entry(lambda: callback)

    def set_syscall_entry(self, make) -> None:
        """As set_syscall_handler, with `make()` giving the callback when
        the core is made (a kernel's entry reads the core's registers)."""
        self.add_hook(ucc.UC_HOOK_INSN, lambda: ucfast.SYSCALL_CB(make()), 1, 0,
                      x86.UC_X86_INS_SYSCALL)

    # ---- memory ---------------------------------------------------------------
    def attach_memory(self, phys) -> None:
        """Map the instance's physical segment at guest-physical 0."""
        self._segments.append(phys)
        if self.made:
            self.uc.mem_map_ptr(0, phys.size, ucc.UC_PROT_ALL, phys.base)

    def switch_to(self, mm) -> None:
        """Run with `mm`'s page tables (None: none).  Writing CR3 flushes
        the TLB, as on a CPU without PCIDs."""
        self.mm = mm
        if self.made:                   # (else CR3 is written when it is made)
            self.regs.write(x86.UC_X86_REG_CR3, mm.pt.root if mm is not None else 0)
        # Switched from inside a run (execve in a syscall hook), the CPU goes
        # on at once with the new tables: it is this address space's current
        # core, and what it loads from now on must be flushed on a change.
        self.tlb_loaded = self.running
        self.tlb_gen = mm.flush_gen if mm is not None else 0
        if mm is not None and self.running:
            mm.current = self

    @property
    def tlb_stale(self) -> bool:
        """Shootdowns arrived since this core last flushed: every flush of
        its address space since it last ran (the address space counts them
        once, whatever the number of cores: a change costs O(1))."""
        return self.tlb_loaded and self.mm is not None and self.mm.flush_gen != self.tlb_gen

    def shootdowns(self) -> int:
        """Shootdowns this core has received, those it has not acted on yet
        included."""
        pending = self.mm.flush_gen - self.tlb_gen if self.tlb_stale else 0
        return self.shootdowns_received + pending

    def forget_code(self, addr: int | None = None, length: int = 0) -> None:
        """Drop translated code: for the guest pages [addr, addr+length) as
        this core maps them now, or all of it (its frames are being reused)."""
        if not self.made:
            return                      # it has translated nothing
        if addr is None:
            ucfast.lib.uc_ctl(self.uch, _TB_FLUSH)
        else:
            ucfast.lib.uc_ctl(self.uch, _TB_REMOVE, ctypes.c_uint64(addr),
                              ctypes.c_uint64(addr + length))

    def flush_tlb(self) -> None:
        if self.made:                   # (a core not made yet holds no entries)
            ucfast.lib.uc_ctl(self.uch, _TLB_FLUSH)
        self.tlb_flushes += 1
        if self.mm is not None:
            self.tlb_gen = self.mm.flush_gen
        self.tlb_loaded = self.running

    def flush_tlb_range(self, start: int, end: int, mm) -> None:
        """The TLB entries of the pages in [start, end) of address space
        `mm` only (`invlpg` on each), when this core runs `mm` and its TLB
        was current before the change that asks for it (the flush count
        moved on by one); else, or for more than FLUSH_PAGES_MAX pages, all
        of them."""
        cpu = self.__dict__.get("_cpu_arg")
        start &= ~0xFFF
        if (cpu is None or mm is not self.mm or end - start > FLUSH_PAGES_MAX << 12
                or self.tlb_gen != mm.flush_gen - 1):
            self.flush_tlb()
            return
        flush = cpu_state.flush_page
        for addr in range(start, end, 0x1000):
            flush(cpu, addr)
        self.tlb_flushes += 1
        self.tlb_gen = mm.flush_gen

    # ---- fault capture ------------------------------------------------------
    def _on_mem_invalid(self, uch, access, addr, size, value, ud):
        self._mem_fault = (access, addr)
        return False

    def _on_interrupt(self, uch, intno, ud):
        if intno in (8, 14):
            try:
                code, addr = self.exceptions.take()
                outcome = self.mm.fault(addr, code) if self.mm is not None else ("SIGSEGV", 1)
            except BaseException as e:          # never out of a C callback
                import sys
                self.internal_error = (e, sys.exc_info()[2])
                outcome = ("SIGSEGV", 1)
            if outcome is None:
                return                          # mapped: the instruction runs again
            self._page_fault = (outcome, addr, code)
        self._vector = intno
        ucfast.emu_stop(self.uch)

    # ---- running ------------------------------------------------------------
    def run(self, pc: int, timeout_us: int = 0, count: int = 0) -> str:
        """Run from `pc` until stopped or faulted — or, for time slicing, for at
        most `timeout_us` microseconds or `count` instructions (both 0: no limit)."""
        self.fault = None
        self._mem_fault = self._vector = self._page_fault = None
        if self.tlb_stale:
            self.shootdowns_received += self.mm.flush_gen - self.tlb_gen
            self.flush_tlb()
        elif self.mm is not None:
            self.tlb_gen = self.mm.flush_gen   # it held nothing: nothing went stale
        self.exceptions.clear()
        if self.preemption is not None:
            self.preemption.disarm()
        self.running = self.tlb_loaded = True
        if self.mm is not None:
            self.mm.current = self
        try:
            err = ucfast.lib.uc_emu_start(self.uch, pc, 0xFFFFFFFFFFFFFFFF, timeout_us, count)
        finally:
            self.running = False
        if err == ucc.UC_ERR_OK and self._vector is None:
            return RunResult.STOPPED
        rip = self.regs.read(x86.UC_X86_REG_RIP)
        if self._page_fault is not None:
            self.fault = _page_fault(self._page_fault, rip)
        elif self._vector is not None:
            sig = _VECTOR_SIGNAL.get(self._vector, FAULT_SEGV)
            names = {0: "divide error", 3: "breakpoint (int3)", 6: "invalid opcode",
                     13: "general protection fault", 14: "page fault"}
            self.fault = Fault(sig, names.get(self._vector, f"CPU exception {self._vector}"),
                               None, rip)
        elif self._mem_fault is not None:
            access, addr = self._mem_fault
            kind, why = _MEM_ACCESS.get(access, ("access", "invalid"))
            self.fault = Fault(FAULT_SEGV, f"{kind} of {why} address", addr, rip)
        elif err == ucc.UC_ERR_INSN_INVALID:
            self.fault = Fault(FAULT_ILL, "invalid instruction", None, rip)
        else:
            self.fault = Fault(FAULT_SEGV, ucfast.strerror(err), None, rip)
        return RunResult.FAULT

    # ---- what the CPU says about itself --------------------------------------
    _cpuid_cache: dict = {}

    def cpuid(self, leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        """(eax, ebx, ecx, edx) of CPUID as this core's model answers it,
        found once by running the instruction on a scratch instance."""
        key = (CPU_MODEL, leaf, subleaf)
        if key not in Core._cpuid_cache:
            uc = unicorn.Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_64)
            uc.ctl_set_cpu_model(CPU_MODEL)
            scratch = 0x10000
            uc.mem_map(scratch, 0x1000, ucc.UC_PROT_READ | ucc.UC_PROT_EXEC)
            uc.mem_write(scratch, b"\x0f\xa2")           # cpuid
            uc.reg_write(x86.UC_X86_REG_RAX, leaf)
            uc.reg_write(x86.UC_X86_REG_RCX, subleaf)
            uc.emu_start(scratch, scratch + 2)
            Core._cpuid_cache[key] = tuple(uc.reg_read(r) & 0xFFFFFFFF for r in (
                x86.UC_X86_REG_RAX, x86.UC_X86_REG_RBX, x86.UC_X86_REG_RCX, x86.UC_X86_REG_RDX))
        return Core._cpuid_cache[key]

    # ---- FPU/SSE state, in the fxsave layout (for signal frames) -------------
    def _fpu_buffers(self):
        """One batch of the x87/SSE registers: ids, and a 16-byte slot each."""
        if self._fpu is None:
            n = len(_FPU_IDS)
            buf = ctypes.create_string_buffer(16 * n)
            ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(buf) + 16 * i for i in range(n)])
            self._fpu = ((ctypes.c_int * n)(*_FPU_IDS), ptrs, buf, n)
        return self._fpu

    def save_fpu(self) -> bytes:
        """The x87/SSE state as the 512-byte FXSAVE image (one batched read)."""
        ids, ptrs, buf, n = self._fpu_buffers()
        ctypes.memset(buf, 0, 16 * n)
        ucfast.reg_read_batch(self.uch, ids, ptrs, n)
        raw = buf.raw
        word = lambda i, size: int.from_bytes(raw[16 * i:16 * i + size], "little")  # noqa: E731
        out = bytearray(512)
        struct.pack_into("<HHBxH", out, 0, word(0, 2), word(1, 2), _abridged_tag(word(2, 2)), 0)
        struct.pack_into("<II", out, 24, word(3, 4), 0xFFFF)
        for i in range(8):                       # the 80-bit values
            out[32 + 16 * i:42 + 16 * i] = raw[16 * (4 + i):16 * (4 + i) + 10]
        for i in range(16):
            out[160 + 16 * i:176 + 16 * i] = raw[16 * (12 + i):16 * (13 + i)]
        return bytes(out)

    def reset_fpu(self) -> None:
        """The x87/SSE state a new process starts with, as after FNINIT and
        LDMXCSR on a real CPU (Linux's fpstate_init_fx): x87 control word 0x37F
        (extended precision, exceptions masked), MXCSR 0x1F80.  Unicorn starts
        with both zero: single precision and every SSE exception unmasked.
        (A core not made yet gets it when it is made.)"""
        if not self.made:
            return
        w = self.uc.reg_write
        w(x86.UC_X86_REG_FPCW, 0x037F)
        w(x86.UC_X86_REG_FPSW, 0)
        w(x86.UC_X86_REG_FPTAG, 0xFFFF)
        w(x86.UC_X86_REG_MXCSR, 0x1F80)

    def restore_fpu(self, image: bytes) -> None:
        ids, ptrs, buf, n = self._fpu_buffers()
        fcw, fsw = struct.unpack_from("<HH", image, 0)
        mxcsr = struct.unpack_from("<I", image, 24)[0] & 0xFFFF
        raw = bytearray(16 * n)
        struct.pack_into("<H", raw, 0, fcw)
        struct.pack_into("<H", raw, 16, fsw)
        abridged = image[4]                      # FXSAVE: bit i set = register i not empty
        struct.pack_into("<H", raw, 32, sum((0 if abridged >> i & 1 else 3) << 2 * i for i in range(8)))
        struct.pack_into("<I", raw, 48, mxcsr)
        for i in range(8):
            raw[16 * (4 + i):16 * (4 + i) + 10] = image[32 + 16 * i:42 + 16 * i]
        for i in range(16):
            raw[16 * (12 + i):16 * (13 + i)] = image[160 + 16 * i:176 + 16 * i]
        ctypes.memmove(buf, bytes(raw), 16 * n)
        ucfast.lib.uc_reg_write_batch(self.uch, ids, ptrs, n)

    # Unicorn runs the `syscall` hook, then advances rip past the instruction
    # (helper_syscall: env->eip += next_eip_addend).  A kernel that redirects
    # the guest from inside a syscall (signal delivery, sigreturn) must
    # therefore write the target minus the instruction's length.
    SYSCALL_INSN_LEN = 2

    def stop(self) -> None:
        if self.made:
            ucfast.emu_stop(self.uch)

    def preemptible(self, on: bool) -> None:
        """Install or remove the preemption point (between runs: it costs a
        helper call at every block while installed; azemu/preempt.py)."""
        if not on and not self.made:
            return                      # (nothing to remove)
        if self.preemption is not None:
            (self.preemption.install if on else self.preemption.remove)()

    def preempt(self) -> bool:
        """Stop this core's run at the start of the next translated block it
        enters, safe from any thread; False when the preemption point is not
        installed (azemu/preempt.py)."""
        return self.made and self.preemption is not None and self.preemption.arm()

    def stop_for_good(self) -> None:
        """Stop this core's run from another thread at once — only when what
        it runs will never run again (it is being killed): Unicorn may cut
        the running instruction after a store, and would run it twice if it
        were resumed (azemu/preempt.py)."""
        if self.made:
            ucfast.emu_stop(self.uch)

    def read_bytes(self, addr: int, n: int) -> bytes | None:
        """Guest virtual memory as this core sees it, or None if unreadable."""
        if self.mm is None:
            return None
        try:
            return self.mm.read(addr, n)
        except Exception:
            return None


def _page_fault(what, rip: int) -> Fault:
    (signal, code), addr, err = what
    kind = "execute" if err & 0x10 else "write" if err & 0x2 else "read"
    if signal == FAULT_OOM:
        return Fault(FAULT_OOM, "out of memory: no frame left for a page", addr, rip)
    if signal == FAULT_BUS:
        return Fault(FAULT_BUS, f"{kind} past the end of a mapped file", addr, rip, code)
    why = "protection" if code == 2 else "unmapped"
    return Fault(signal, f"{kind} of {why} address", addr, rip, code)
