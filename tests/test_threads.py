"""Threads on the cores of one kernel instance: pthread programs (glibc and
musl) give the native results on 1, 2, 4 and 16 cores in every mode, no
update is ever lost, and --deterministic runs repeat exactly.  Also: a
kernel instance's memory is its --mem, and no more."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import LIBCS, ROOT, assert_same, guest, run_azemu, run_native

MODES = ("linux", "lwk", "unikernel")
PROGRAMS = [("threads", []), ("lost_update", ["4", "20000"]), ("thread_exit", [])]


def _check(name, args, libc, mode, cores):
    exe = guest(libc, name)
    assert_same(run_native([exe, *args]), run_azemu([exe, *args], extra=["--mode", mode, "--cores", str(cores)]))


@pytest.mark.parametrize("cores", (1, 2, 4, 16))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,args", PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_pthread_programs(name, args, libc, mode, cores):
    _check(name, args, libc, mode, cores)


@pytest.mark.parametrize("cores", (2, 16))
def test_no_lost_update_with_more_threads_than_cores(cores):
    exe = guest("musl", "lost_update")
    out, err, rc = run_azemu([exe, "16", "5000"], extra=["--mode", "lwk", "--cores", str(cores)])
    assert rc == 0, err
    assert b"atomic: 80000/80000" in out and b"no lost update: yes" in out


def test_deterministic_runs_repeat_exactly():
    exe = guest("glibc", "lost_update")
    runs = [run_azemu([exe, "4", "5000"], extra=["--mode", "linux", "--cores", "2", "--deterministic",
                                                 "--stats"]) for _ in range(2)]
    assert runs[0] == runs[1]                      # stdout, the counters table, the status
    assert b"context switch" in runs[0][1] and b"tlb shootdown" in runs[0][1]


@pytest.mark.parametrize("mode", ("linux", "lwk"))
def test_memory_limit_gives_enomem_and_holds(mode):
    code = (
        "import resource, subprocess, sys\n"
        f"p = subprocess.run([sys.executable, '-m', 'azemu', 'exec', '--mode', '{mode}', '--mem', '64M',"
        f" '{guest('glibc', 'memhog')}'], capture_output=True)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.stdout.write(p.stdout.decode())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT),
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    rc, maxrss_kib = map(int, out.stdout.splitlines()[0].split())
    assert rc == 0, out.stderr
    assert "mmap failed after" in out.stdout and "ENOMEM" in out.stdout
    got = int(out.stdout.split("mmap failed after ")[1].split()[0])
    assert 32 <= got <= 64                          # it ran out at --mem, not at the host's limit
    assert maxrss_kib < 400 * 1024                  # and azemu stayed within a few hundred MiB


def test_contention_grows_with_cores_on_linux_only():
    """Shared kernel lines move between cores on linux, more with more cores;
    the LWK's per-core structures never move (kernels/linux.py)."""
    from kernels import run_program
    exe = guest("glibc", "syscall_threads")
    per_call = {}
    for mode in ("linux", "lwk"):
        for n in (1, 2, 4):
            out, st = run_program(exe, [exe, str(n), "300"], {}, mode=mode, ncores=n, memory=256 << 20)
            assert out.exit_status == 0
            per_call[mode, n] = st.line_transfer / st.syscalls
            assert st.tlb_shootdown == (0 if n == 1 else st.tlb_shootdown) and (n == 1 or st.tlb_shootdown > 0)
    assert per_call["linux", 1] == 0 < per_call["linux", 2] < per_call["linux", 4]
    assert per_call["lwk", 1] == per_call["lwk", 2] == per_call["lwk", 4] == 0
