"""Event counters: what each syscall cost in kernel mechanics, per core.

Every entry path counts the events its mechanics actually perform, where it
performs them (kernels/linux.py, lwk.py, unikernel.py).  The cost model
(kernels/costmodel.py) prices the same events; `azemu exec --stats` prints
them.

The fields:
  syscalls        syscalls served, however they entered
  trap            entered by the `syscall` instruction
  function_hook   entered by a call into the libOS, caught by the function hook
  in_guest        answered inside the guest by the libOS (never reached Python)
  mode_switch     user->kernel and kernel->user privilege switches
  context_switch  full saves of the task's register state to its kernel context
  regs_saved      registers written to the task's kernel-side context
  regs_restored   registers reloaded from it on the way back
  as_switch       address-space switches (page-table swaps, KPTI style)
  global_lock     acquisitions of a kernel-wide lock
  shared_access   accesses to kernel-wide shared structures
  offload         calls marked for (or sent to) the FWK
  return_checks   pending-signal and reschedule checks on the way back
  page_fault      pages given a frame on first touch (demand paging), by the CPU or the kernel
  cow_fault       writes to a shared copy-on-write frame, which copied it
  tlb_flush       TLB flushes the cores made (after a mapping change or a shootdown)
  tlb_shootdown   flush requests a core received from another that changed a mapping
  line_transfer   shared cache lines found in another core's cache (modelled, linux.py)
  fork            processes made (fork, vfork, clone without CLONE_THREAD)
  execve          programs loaded over a process (execve, execveat)
  process_switch  a core passing from one process's address space to another's (a CR3 write)
  instance_clone  unikernel: a process made by cloning its instance (fork, vfork, clone)
  instance_boot   unikernel: an instance booted again from a new image (execve)
"""
from __future__ import annotations

FIELDS = ("trap", "function_hook", "in_guest", "mode_switch", "context_switch", "regs_saved",
          "regs_restored", "as_switch", "global_lock", "shared_access", "offload",
          "return_checks", "page_fault", "cow_fault", "tlb_flush", "tlb_shootdown",
          "line_transfer", "fork", "execve", "process_switch", "instance_clone", "instance_boot")


class Counters:
    __slots__ = FIELDS

    def __init__(self):
        for f in FIELDS:
            setattr(self, f, 0)

    @property
    def syscalls(self) -> int:
        """Syscalls served, however they entered."""
        return self.trap + self.function_hook + self.in_guest

    def as_dict(self) -> dict:
        return {"syscalls": self.syscalls, **{f: getattr(self, f) for f in FIELDS}}

    def __add__(self, other: "Counters") -> "Counters":
        out = Counters()
        for f in FIELDS:
            setattr(out, f, getattr(self, f) + getattr(other, f))
        return out

    def __sub__(self, other: "Counters") -> "Counters":
        out = Counters()
        for f in FIELDS:
            setattr(out, f, getattr(self, f) - getattr(other, f))
        return out


def total(per_core: list[Counters]) -> Counters:
    out = Counters()
    for c in per_core:
        out = out + c
    return out
