"""Linux memory semantics on the MMU model (issue #9), checked against the
host: guest_bins/src/mm_semantics.c run natively and under azemu in every
mode, and the --mem limit with demand paging (reserve_touch)."""
from __future__ import annotations

import os

import pytest

from kernels.kernel import Kernel

from conftest import LIBCS, assert_same, guest, run_azemu, run_native

VARIANTS = ("linux", "lwk", "unikernel-binary", "unikernel-source")


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_memory_semantics_match_linux(libc, variant, tmp_path):
    """PROT_NONE, read-only and no-exec pages fault with SEGV_ACCERR,
    unmapped ones with SEGV_MAPERR; large NORESERVE reservations succeed;
    MADV_DONTNEED zeroes; mremap moves, and with an old size of 0 makes a
    second view of a shared mapping only; shared anonymous and /dev/zero
    mappings; SIGBUS (BUS_ADRERR) past a file's end; mincore; msync;
    MAP_SHARED file mappings coherent with each other and with read, write,
    pread, pwrite and pwritev of the file through another descriptor, stores
    written back at munmap, and no PROT_WRITE for a read-only descriptor's."""
    exe = guest(libc, "mm_semantics")
    image = guest(f"libos/{libc}", "mm_semantics") if variant == "unikernel-source" else exe
    data = str(tmp_path / "f.dat")
    native = run_native([exe, data])
    assert b"done" in native[0]
    assert_same(native, run_azemu([image, data], extra=["--mode", variant.split("-")[0]]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_code_written_then_run_is_never_stale(libc, variant):
    """Code rewritten between runs, as JITs do: in an RWX page; flipped
    between write and execute with mprotect; and written through one
    mapping and run through another (a memfd's two shared views, a shared
    anonymous mapping duplicated with mremap of size 0, a file's shared
    view run through a private one).  Unicorn's fast path for stores
    (azemu/core.py, _watch_stores) must never leave the old code running."""
    exe = guest(libc, "smc")
    image = guest(f"libos/{libc}", "smc") if variant == "unikernel-source" else exe
    native = run_native([exe])
    assert native[0].count(b"ran the code last written") == 5, native
    assert_same(native, run_azemu([image], extra=["--mode", variant.split("-")[0]]))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("libc", LIBCS)
def test_code_one_core_rewrites_is_never_stale_on_another(libc, variant):
    """A thread rewrites code in an RWX page while a thread on another core
    runs it (azemu/code_sync.py): each core has its own translated code, and
    the runner must see every rewrite."""
    exe = guest(libc, "smc_cores")
    image = guest(f"libos/{libc}", "smc_cores") if variant == "unikernel-source" else exe
    native = run_native([exe])
    assert native == (b"smc_cores: the runner saw each of 50 rewrites\n", b"", 0), native
    assert_same(native, run_azemu([image], extra=["--mode", variant.split("-")[0], "--cores", "2"]))


@pytest.mark.parametrize("mode", ("linux", "unikernel"))
def test_a_reservation_larger_than_memory_costs_nothing_until_touched(mode):
    exe = guest("glibc", "reserve_touch")
    out, err, rc = run_azemu([exe, "8", "64"], extra=["--mode", mode, "--mem", "256M"])
    assert (out, err, rc) == (b"reserved 8 GiB\ntouched 64 MiB\n", b"", 0)


def test_touching_past_mem_is_an_oom_kill_in_one_line():
    exe = guest("musl", "reserve_touch")
    out, err, rc = run_azemu([exe, "8", "512"], extra=["--mem", "256M"])
    assert out == b"reserved 8 GiB\n" and rc == 128 + 9
    assert err.count(b"\n") == 1 and b"killed (SIGKILL)" in err and b"--mem" in err, err


def test_mmap_past_the_commit_limit_is_enomem():
    """Private writable memory is charged when mapped: a mapping larger than
    --mem fails up front (strict accounting), as memhog shows."""
    out, err, rc = run_azemu([guest("glibc", "memhog"), "16"], extra=["--mem", "64M"])
    assert rc == 0 and b"mmap failed after" in out and b"ENOMEM" in out


def _host_fds_on(path):
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(path)):
                fds.append(fd)
        except OSError:
            pass
    return fds


def test_the_page_cache_goes_with_the_last_shared_mapping(tmp_path, capfd):
    """Once a file's last MAP_SHARED mapping is gone its cached frames go
    back to the instance and the host descriptors the cache held are closed
    (only the program's own file stays cached, for its next run)."""
    k = Kernel(mode="linux", memory=64 << 20)
    k.exec(guest("glibc", "mm_semantics"), [b"mm_semantics", os.fsencode(tmp_path / "f")], [])
    try:
        assert k.run().exit_status == 0
        st = os.stat(guest("glibc", "mm_semantics"))
        assert list(k.page_cache.keys()) == [(st.st_dev, st.st_ino)]
        assert _host_fds_on(tmp_path / "f") == []
        mm = k.process.mm                        # no frame has a second owner left, but
        kept = {f for m in mm.mappings() if m.pager is not None   # the shared anonymous
                for f in m.pager.pages.values()}                  # memory still mapped, and
        kept |= set(k.page_cache[(st.st_dev, st.st_ino)].pages.values())   # the program's
        assert set(mm.phys.refs) <= kept
    finally:
        k.close()
    assert "store written back by munmap: at unmap" in capfd.readouterr().out


def test_programs_kept_in_the_page_cache_give_their_memory_back_when_it_is_short(busybox):
    """The files of programs that ran stay cached for their next run
    (kernels/pagecache.py); when memory runs out, the cached files nothing
    maps are dropped before anything is refused: after a dozen programs, a
    program that takes all the memory there is gets the same as on a fresh
    instance (no OOM kill)."""
    bb = busybox
    names = ("args", "fileio", "hello", "timeprog", "sysinfo", "compute", "edgecases",
             "signals", "threads", "procview", "sigtimers", "fsprobe")
    runs = "; ".join(f"{guest('glibc', n)} >/dev/null 2>&1" for n in names)
    hog = guest("glibc", "memhog")
    fresh = run_azemu([bb, "sh", "-c", f"{hog} 1"], extra=["--mem", "48M"])
    after = run_azemu([bb, "sh", "-c", f"{runs}; {hog} 1"], extra=["--mem", "48M"])
    assert fresh[2] == 0 and b"mmap failed after" in fresh[0], fresh
    assert after[2] == 0, after
    got = lambda out: int(out.split(b"mmap failed after ")[1].split()[0])   # noqa: E731
    assert got(after[0]) >= got(fresh[0]) - 1, (fresh[0], after[0])
