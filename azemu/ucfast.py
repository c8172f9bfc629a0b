"""A thin, fast layer over libunicorn, called through raw ctypes.

Why this exists: the unicorn Python binding wraps every register access and hook
in Python-level conversion code.  On the syscall path that costs several times
the emulation itself (DESIGN.md §3: 2.1 µs for one binding `reg_read` against
0.55 µs raw; 14.5 µs against 0.9 µs for a batch of seven).  So the hot path
calls the C library directly, with functions left *untyped* (ctypes passes the
preallocated buffer references as they are, which measured fastest) and with
buffers allocated once per core.

The binding is still used for everything that is not hot: creating the
instance, mapping memory, reading the CPU state for a crash report.
"""
from __future__ import annotations

import ctypes

import unicorn
from unicorn import unicorn_const as ucc
from unicorn import x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib as _binding_lib

# Our own handle on the same shared object: function objects obtained from it
# carry no argtypes, so calls skip the binding's conversions.
lib = ctypes.CDLL(_binding_lib._name)
lib.uc_hook_add.restype = ctypes.c_int
lib.uc_emu_start.restype = ctypes.c_int
lib.uc_emu_start.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                             ctypes.c_uint64, ctypes.c_size_t]
lib.uc_strerror.restype = ctypes.c_char_p
lib.uc_emu_stop.argtypes = [ctypes.c_void_p]     # off the hot path: safety first

reg_read = lib.uc_reg_read
reg_write = lib.uc_reg_write
reg_read_batch = lib.uc_reg_read_batch
emu_stop = lib.uc_emu_stop

# C callback types (see unicorn.h).
SYSCALL_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
MEM_INVALID_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int,
                                  ctypes.c_uint64, ctypes.c_int, ctypes.c_int64,
                                  ctypes.c_void_p)
INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
INSN_INVALID_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                           ctypes.c_void_p)
CPUID_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

# x86-64 System V syscall argument registers, in order.
SYSCALL_ARG_REGS = (x86.UC_X86_REG_RDI, x86.UC_X86_REG_RSI, x86.UC_X86_REG_RDX,
                    x86.UC_X86_REG_R10, x86.UC_X86_REG_R8, x86.UC_X86_REG_R9)

# The general registers shown in a crash report and saved by a full context
# switch, in the order of Linux's struct pt_regs / a `user_regs_struct` dump.
GPR_NAMES = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
             "rip", "eflags", "fs_base", "gs_base")
GPR_IDS = tuple(getattr(x86, "UC_X86_REG_" + n.upper()) for n in GPR_NAMES)


def strerror(err: int) -> str:
    return lib.uc_strerror(err).decode()


def add_hook(uch, htype: int, cfunc, begin: int = 1, end: int = 0, *extra) -> int:
    """uc_hook_add through ctypes; `cfunc` must be kept alive by the caller."""
    handle = ctypes.c_size_t()
    args = [uch, ctypes.byref(handle), htype, cfunc, None,
            ctypes.c_uint64(begin), ctypes.c_uint64(end)]
    args += [ctypes.c_int(e) for e in extra]
    err = lib.uc_hook_add(*args)
    if err != ucc.UC_ERR_OK:
        raise unicorn.UcError(err)
    return handle.value


class RegisterFile:
    """Preallocated buffers for the registers one core reads and writes.

    `args(k)` reads the first k syscall argument registers with one
    `uc_reg_read_batch` call into one array and returns them as a list.
    `read_all()` reads every general register in one batch (a full context
    save); `write_all()` restores them.
    """

    def __init__(self, uch):
        self.uch = uch
        self.scratch = ctypes.c_uint64()
        self.scratch_ref = ctypes.byref(self.scratch)
        self.argbuf = (ctypes.c_uint64 * 6)()
        self._arg_batches = []
        for k in range(7):
            ids = (ctypes.c_int * max(k, 1))(*SYSCALL_ARG_REGS[:k])
            ptrs = (ctypes.c_void_p * max(k, 1))(
                *[ctypes.addressof(self.argbuf) + 8 * i for i in range(k)])
            self._arg_batches.append((ids, ptrs))
        n = len(GPR_IDS)
        self.ctx = (ctypes.c_uint64 * n)()
        # What a return to the task reloads: the 16 general registers and
        # rflags (rip is Unicorn's to advance past the `syscall`).
        back = [i for i, name in enumerate(GPR_NAMES) if name not in ("rip", "fs_base", "gs_base")]
        self._back_ids = (ctypes.c_int * len(back))(*[GPR_IDS[i] for i in back])
        self._back_ptrs = (ctypes.c_void_p * len(back))(
            *[ctypes.addressof(self.ctx) + 8 * i for i in back])
        self.restored_count = len(back)
        self._ctx_ids = (ctypes.c_int * n)(*GPR_IDS)
        self._ctx_ptrs = (ctypes.c_void_p * n)(
            *[ctypes.addressof(self.ctx) + 8 * i for i in range(n)])
        self._n = n

    def read(self, reg: int) -> int:
        reg_read(self.uch, reg, self.scratch_ref)
        return self.scratch.value

    def write(self, reg: int, value: int) -> None:
        self.scratch.value = value & 0xFFFFFFFFFFFFFFFF
        reg_write(self.uch, reg, self.scratch_ref)

    def args(self, k: int) -> list:
        ids, ptrs = self._arg_batches[k]
        reg_read_batch(self.uch, ids, ptrs, k)
        return self.argbuf[:k]

    def read_all(self) -> dict:
        reg_read_batch(self.uch, self._ctx_ids, self._ctx_ptrs, self._n)
        return dict(zip(GPR_NAMES, self.ctx[:]))

    def write_many(self, values: dict) -> None:
        """Write several registers by name (slow path: signal delivery, exec).
        rip goes last and on its own: only a single-register write of the PC
        makes Unicorn leave the current translation block and resume there."""
        values = dict(values)
        rip = values.pop("rip", None)
        names = list(values)
        n = len(names)
        ids = (ctypes.c_int * n)(*[getattr(x86, "UC_X86_REG_" + k.upper()) for k in names])
        buf = (ctypes.c_uint64 * n)(*[values[k] & 0xFFFFFFFFFFFFFFFF for k in names])
        ptrs = (ctypes.c_void_p * n)(*[ctypes.addressof(buf) + 8 * i for i in range(n)])
        lib.uc_reg_write_batch(self.uch, ids, ptrs, n)
        if rip is not None:
            self.write(x86.UC_X86_REG_RIP, rip)

    def save_context(self):
        """Full register save into the preallocated buffer (no Python objects)."""
        reg_read_batch(self.uch, self._ctx_ids, self._ctx_ptrs, self._n)

    def restore_context(self):
        """Reload the general registers and rflags from the saved context."""
        lib.uc_reg_write_batch(self.uch, self._back_ids, self._back_ptrs, self.restored_count)

    @property
    def saved_count(self) -> int:
        return self._n
