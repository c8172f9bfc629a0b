"""Threads on the cores of one kernel instance: pthread programs (glibc and
musl) give the native results on 1, 2, 4 and 16 cores in every mode — the
unikernel's source-compatible images too, each thread with its own libOS
call block — no update is ever lost, and --deterministic runs repeat
exactly.  Also: a kernel instance's memory is its --mem, and no more."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import LIBCS, ROOT, assert_same, guest, run_azemu, run_native

VARIANTS = ("linux", "lwk", "unikernel-binary", "unikernel-source")
PROGRAMS = [("threads", []), ("lost_update", ["4", "20000"]), ("thread_exit", [])]


def _check(name, args, libc, variant, cores):
    """The native build natively; under azemu the same binary, or for
    unikernel-source the program rebuilt with `azemu build` (guest_bins/bin/libos/)."""
    exe = guest(libc, name)
    image = guest(f"libos/{libc}", name) if variant == "unikernel-source" else exe
    mode = variant.split("-")[0]
    assert_same(run_native([exe, *args]),
                run_azemu([image, *args], extra=["--mode", mode, "--cores", str(cores)]))


@pytest.mark.parametrize("cores", (1, 2, 4, 16))
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("name,args", PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_pthread_programs(name, args, libc, variant, cores):
    _check(name, args, libc, variant, cores)


def _event_totals(stats: bytes) -> dict:
    """The total column of `--stats`, by event name."""
    rows = {}
    for line in stats.decode().splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) > 2 and cells[-1].replace(",", "").isdigit():
            rows[cells[0]] = int(cells[-1].replace(",", ""))
    return rows


@pytest.mark.parametrize("libc", LIBCS)
def test_libos_threads_each_have_their_own_call_block(libc):
    """16 threads on 4 cores in a source-compatible image, every call through
    the function hook (--no-in-guest): each result depends only on its own
    thread's arguments and is checked by the program (thread_calls.c); no
    call traps."""
    image, exe = guest(f"libos/{libc}", "thread_calls"), guest(libc, "thread_calls")
    args = ["16", "200"]
    out, err, rc = run_azemu([image, *args],
                             extra=["--mode", "unikernel", "--cores", "4", "--no-in-guest", "--stats"])
    native = run_native([exe, *args])
    assert (out, rc) == (native[0], native[2]) and b"every result ok" in out, err
    events = _event_totals(err)
    assert events["trap"] == 0
    assert events["function hook"] >= 16 * 200 * 6


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
            assert n > 1 or st.tlb_shootdown == 0          # one core: nobody to send one to
    assert per_call["linux", 1] == 0 < per_call["linux", 2] < per_call["linux", 4]
    assert per_call["lwk", 1] == per_call["lwk", 2] == per_call["lwk", 4] == 0


HOSTILE_TLS = r'''
#include <asm/prctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    /* A thread pointer whose call block would lie in read-only memory; the
     * word at the thread pointer itself points somewhere writable, so the
     * libOS's own stores succeed and only the kernel can refuse. */
    unsigned char *ro = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *rw = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *(unsigned char **)(ro + 4096) = rw + 4096;
    memset(ro, 0x5a, 4096);
    mprotect(ro, 8192, PROT_READ);
    printf("before\n");
    fflush(stdout);
    syscall(SYS_arch_prctl, ARCH_SET_FS, ro + 4096);
    syscall(SYS_getppid);
    return 0;
}
'''


def test_libos_thread_pointer_into_read_only_memory(tmp_path):
    """Attack: a libOS image points its thread pointer so that its call block
    would be read-only memory.  The kernel writes nothing there and ends the
    program with SIGSEGV and one line, as a fault would."""
    import shutil
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "h.c").write_text(HOSTILE_TLS)
    from conftest import run_cli
    out, err, rc = run_cli("build", str(tmp_path / "h.c"), "-o", str(tmp_path / "h.uk"))
    assert rc == 0, err
    out, err, rc = run_azemu([str(tmp_path / "h.uk")], extra=["--mode", "unikernel", "--no-in-guest"])
    assert out == b"before\n" and rc == 139, err
    assert b"not in writable memory" in err and len(err.splitlines()) == 1
    assert b"Traceback" not in err
