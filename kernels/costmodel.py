"""The cost model: counted kernel events priced in modelled native time.

    modelled time = sum over event kinds of  count(event) x cost(event)

The counts come from the kernels' own mechanics (kernels/counters.py).  The
costs come from two places, and every one says which:

* **measured** on this host by `azemu calibrate`, with the native helper
  guest_bins/bin/native/calibrate (src/calibrate.c): the length of a cycle,
  a function call, a register save+restore, an uncontended lock, a cache-line
  transfer between two cores, a minor page fault, a copy-on-write fault, a
  TLB shootdown to one other core, fork+exit+wait and fork+exec+wait of a
  static program (and, for reference only, a real getpid);
* **published** figures, in cycles, converted with the measured cycle:
  - HermiTux (Olivier et al., VEE 2019; Olivier's thesis, Xeon E5-2695v4):
    null syscall on Linux 199 cycles unpatched, 1118 with the Meltdown patch
    (KPTI); a `syscall` into a handler at the same privilege 115 cycles;
  - Intel 64 and IA-32 Architectures Optimization Reference Manual: an L1 data
    cache hit, 4 cycles;
  - unikernel instances, as ratios to what Linux took on the same machine:
    KylinX (Zhang et al., USENIX ATC 2018) clones a unikernel VM (pVM fork)
    in about 1.3 ms against about 1 ms for a Linux fork; LightVM (Manco et
    al., SOSP 2017) boots one in 2.3 ms, against about 1 ms for fork+exec.
  Two primitives are derived from the HermiTux figures measured on one
  machine: one privilege crossing (user<->kernel) = (199 - 115) / 2 = 42
  cycles; one page-table switch (KPTI, per crossing) = (1118 - 199) / 2 =
  459.5 cycles.

The published "ladders" of the getpid plot (`published_ladder()`, drawn
beside the modelled bars by `azemu bench getpid --plot`): the HermiTux figures
above, and Unikraft's (Kuenzer et al., EuroSys 2021, Table 1: a no-op system
call and a function call in a KVM guest), taken from the medians in the
paper's artifact, github.com/unikraft/eurosys21-artifacts,
experiments/tab_01_bincompat-syscalls/results/table.txt (commit 2565da9):
Linux 5.11 guest 605 cycles with its Meltdown/Spectre mitigations, 142
without; Unikraft's binary-compatible syscall 85; a function call 6.  (The
printed paper's own table was not checked here: these are the artifact's
numbers.)

Nothing here is fitted to the paper's Figure 7: whatever ratio between the
kernels falls out is reported as it is.
"""
from __future__ import annotations

from dataclasses import dataclass

# Published figures, in cycles (see the module docstring for the sources).
HERMITUX_LINUX_NULL_SYSCALL = 199
HERMITUX_LINUX_KPTI_NULL_SYSCALL = 1118
HERMITUX_SAME_PRIVILEGE_SYSCALL = 115
L1_HIT_CYCLES = 4
# Unikraft's EuroSys 2021 artifact, tab_01 results/table.txt, median cycles (see above).
UNIKRAFT_LINUX_MITIGATED_SYSCALL = 605
UNIKRAFT_LINUX_NO_MITIGATIONS_SYSCALL = 142
UNIKRAFT_SYSCALL = 85
UNIKRAFT_FUNCTION_CALL = 6
CALL_BLOCK_WORDS = 8          # the libOS call block: number, 6 arguments, result

# Published ratios, from one machine each (see prices()).
KYLINX_PVM_FORK_VS_FORK = 1.3 / 1.0
LIGHTVM_BOOT_VS_FORK_EXEC = 2.3 / 1.0

MODE_SWITCH_CYCLES = (HERMITUX_LINUX_NULL_SYSCALL - HERMITUX_SAME_PRIVILEGE_SYSCALL) / 2
AS_SWITCH_CYCLES = (HERMITUX_LINUX_KPTI_NULL_SYSCALL - HERMITUX_LINUX_NULL_SYSCALL) / 2


@dataclass(frozen=True)
class Calibration:
    """Native figures in ns per operation, from guest_bins/bin/native/calibrate."""
    cycle_ns: float
    call_ns: float
    reg_ns: float
    lock_ns: float
    line_transfer_ns: float
    getpid_ns: float
    page_fault_ns: float = 0.0
    cow_fault_ns: float = 0.0
    shootdown_ns: float = 0.0
    fork_ns: float = 0.0
    exec_ns: float = 0.0

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(**{k: float(d[k]) for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class Price:
    ns: float
    source: str          # "measured: ..." or "published: ..." or "derived: ..."


def prices(cal: Calibration) -> dict[str, Price]:
    """The cost of one occurrence of each counted event, in ns."""
    cyc = cal.cycle_ns
    return {
        "trap": Price(HERMITUX_SAME_PRIVILEGE_SYSCALL * cyc + cal.call_ns,
                      f"published: `syscall` to a same-privilege handler, {HERMITUX_SAME_PRIVILEGE_SYSCALL} "
                      "cycles (HermiTux); plus the handler call through the table (measured)"),
        "function_hook": Price(2 * cal.call_ns + CALL_BLOCK_WORDS * L1_HIT_CYCLES * cyc,
                               "measured: a call into the libOS entry and the handler call; "
                               "published: the 8 words of the call block written and read "
                               "back at L1 latency"),
        "in_guest": Price(cal.call_ns + L1_HIT_CYCLES * cyc,
                          "measured: a call into the libOS; published: one L1 load of the answer"),
        "mode_switch": Price(MODE_SWITCH_CYCLES * cyc,
                             f"derived: (199 - 115) / 2 = {MODE_SWITCH_CYCLES:g} cycles per "
                             "privilege crossing (HermiTux)"),
        "context_switch": Price(0.0, "its register traffic is priced in regs saved/restored"),
        "regs_saved": Price(cal.reg_ns, "measured: one register saved (push)"),
        "regs_restored": Price(cal.reg_ns, "measured: one register restored (pop)"),
        "as_switch": Price(AS_SWITCH_CYCLES * cyc,
                           f"derived: (1118 - 199) / 2 = {AS_SWITCH_CYCLES:g} cycles per page-table "
                           "switch (HermiTux, Meltdown-patched Linux)"),
        "global_lock": Price(cal.lock_ns, "measured: uncontended spin lock acquire + release"),
        "shared_access": Price(L1_HIT_CYCLES * cyc,
                               "published: an access that hits L1, 4 cycles (Intel manual); a line "
                               "another core holds costs a line_transfer on top"),
        "offload": Price(0.0, "not priced yet: comes with the FWK channel's measured round trip"),
        "line_transfer": Price(max(cal.line_transfer_ns, 0.0),
                               "measured: one cache line moving between two cores (ping-pong)"),
        "tlb_shootdown": Price(max(cal.shootdown_ns, 0.0),
                               "measured: an mprotect that takes write permission from a touched "
                               "page while another thread runs on a second CPU, less the same "
                               "mprotect alone (the IPI and the remote flush, per receiving core)"),
        "page_fault": Price(cal.page_fault_ns, "measured: the first write to a page of fresh "
                            "anonymous memory (a minor fault: frame, zeroing, entry)"),
        "cow_fault": Price(cal.cow_fault_ns, "measured: the first write to a page shared with "
                           "a forked child (a copy-on-write fault)"),
        "tlb_flush": Price(0.0, "not priced apart: the local flush is part of the mprotect or "
                           "munmap that makes it, measured with the syscall"),
        "fork": Price(cal.fork_ns, "measured: fork, the child exits at once, the parent "
                      "waits (fork+exit+wait: the child's end and the wait are in the price)"),
        "execve": Price(max(cal.exec_ns - cal.fork_ns, 0.0),
                        "measured: fork+exec of a static program that exits at once+wait, "
                        "less fork+exit+wait (loading the image and its start-up faults)"),
        "instance_clone": Price(KYLINX_PVM_FORK_VS_FORK * cal.fork_ns,
                                f"derived: KylinX (USENIX ATC 2018) forks a unikernel VM in about "
                                f"1.3 ms where Linux forks a process in about 1 ms on the same "
                                f"machine: {KYLINX_PVM_FORK_VS_FORK:g} x fork+exit+wait measured here"),
        "instance_boot": Price(LIGHTVM_BOOT_VS_FORK_EXEC * max(cal.exec_ns - cal.fork_ns, 0.0),
                               f"derived: LightVM (SOSP 2017) boots a unikernel VM in 2.3 ms where "
                               f"Linux's fork+exec takes about 1 ms: {LIGHTVM_BOOT_VS_FORK_EXEC:g} x "
                               "the exec part of fork+exec+wait measured here"),
        "process_switch": Price(AS_SWITCH_CYCLES * cyc,
                                f"derived: one page-table switch, {AS_SWITCH_CYCLES:g} cycles as "
                                "as_switch (HermiTux); the TLB refills after it are not priced"),
        "return_checks": Price(cyc, "assumed: one predicted load-and-branch, 1 cycle (the "
                               "cycle itself is measured)"),
    }


def modelled_ns(counts: dict, cal: Calibration) -> tuple[float, dict[str, float]]:
    """(total modelled ns, ns by event kind) for a dict of event counts."""
    p = prices(cal)
    parts = {k: counts.get(k, 0) * v.ns for k, v in p.items()}
    return sum(parts.values()), parts


def published_ladder() -> list[tuple[str, str, float]]:
    """Published cycles for one call, from the slowest rung down: (source,
    rung, cycles).  Converted to ns with a host's measured cycle by the caller."""
    return [
        ("HermiTux", "Linux null syscall, KPTI", HERMITUX_LINUX_KPTI_NULL_SYSCALL),
        ("HermiTux", "Linux null syscall, no KPTI", HERMITUX_LINUX_NULL_SYSCALL),
        ("HermiTux", "syscall, same-privilege handler", HERMITUX_SAME_PRIVILEGE_SYSCALL),
        ("Unikraft", "Linux guest syscall, mitigations", UNIKRAFT_LINUX_MITIGATED_SYSCALL),
        ("Unikraft", "Linux guest syscall, no mitigations", UNIKRAFT_LINUX_NO_MITIGATIONS_SYSCALL),
        ("Unikraft", "Unikraft syscall (binary compat.)", UNIKRAFT_SYSCALL),
        ("Unikraft", "function call", UNIKRAFT_FUNCTION_CALL),
    ]
