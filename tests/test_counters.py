"""The counters of a 10,000-iteration getpid loop are exactly what each mode's
mechanics imply.  Measured as the difference between a run of 10,000
iterations and a run of none, so start-up calls cancel out."""
from __future__ import annotations

import pytest

from conftest import guest
from kernels import run_program

N = 10_000


def loop_counters(path, mode, **kw):
    runs = []
    for n in (N, 0):
        out, stats = run_program(path, [path, str(n)], {}, mode=mode, memory=64 << 20, **kw)
        assert out.exit_status == 0
        runs.append(stats)
    return (runs[0] - runs[1]).as_dict(), runs[0].as_dict()


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_linux(libc):
    d, _ = loop_counters(guest(libc, "getpid_loop"), "linux")
    assert d["trap"] == N and d["function_hook"] == 0 and d["in_guest"] == 0
    assert d["mode_switch"] == 2 * N            # in and out
    assert d["context_switch"] == N
    assert d["regs_saved"] == 20 * N and d["regs_restored"] == 17 * N
    assert d["as_switch"] == 2 * N              # KPTI: to kernel page tables and back
    assert d["global_lock"] == N and d["shared_access"] == 3 * N   # lock line, task table, accounting
    assert d["line_transfer"] == 0                 # one core: nothing moves
    assert d["offload"] == 0 and d["return_checks"] == 2 * N


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_lwk(libc):
    d, _ = loop_counters(guest(libc, "getpid_loop"), "lwk")
    assert d["trap"] == N and d["context_switch"] == N
    assert d["mode_switch"] == 2 * N and d["regs_saved"] == 20 * N
    assert d["as_switch"] == 0 and d["global_lock"] == 0 and d["shared_access"] == 0
    assert d["offload"] == 0                    # getpid is the LWK's own service


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_unikernel_binary(libc):
    d, _ = loop_counters(guest(libc, "getpid_loop"), "unikernel")
    assert d["trap"] == N
    for f in ("function_hook", "in_guest", "mode_switch", "context_switch", "regs_saved",
              "regs_restored", "as_switch", "global_lock", "shared_access", "return_checks"):
        assert d[f] == 0, f


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_unikernel_source_function_hook(libc):
    d, whole = loop_counters(guest(f"libos/{libc}", "getpid_loop"), "unikernel", in_guest=False)
    assert d["function_hook"] == N and d["trap"] == 0 and d["in_guest"] == 0
    assert whole["trap"] == 0                   # not one `syscall` instruction executed
    assert d["mode_switch"] == d["regs_saved"] == d["context_switch"] == 0


@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_unikernel_source_in_guest(libc):
    d, whole = loop_counters(guest(f"libos/{libc}", "getpid_loop"), "unikernel")
    assert d["in_guest"] == N and d["function_hook"] == 0 and d["trap"] == 0
    assert whole["trap"] == 0


def test_offloads_are_counted_in_lwk_and_unikernel(tmp_path):
    for mode, expect in (("linux", False), ("lwk", True), ("unikernel", True)):
        (tmp_path / mode).mkdir()
        out, stats = run_program(guest("musl", "fileio"), ["fileio", str(tmp_path / mode)], {},
                                 mode=mode, memory=64 << 20)
        assert out.exit_status == 0
        assert (stats.offload > 50) == expect, (mode, stats.offload)
