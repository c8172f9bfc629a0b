"""`azemu run MACHINE.toml`: a multikernel machine — partitions, each a kernel
instance with its own cores, memory and program, sharing one FWK proxy."""
from __future__ import annotations

import os
import resource
import subprocess
import sys

from conftest import ROOT, guest, run_native


def _run(path, *extra, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "azemu", "run", "--no-live", "--out",
                           str(path.parent), *extra, str(path)],
                          capture_output=True, env=env, timeout=timeout)


def test_lwk_and_two_unikernels_side_by_side(tmp_path):
    (tmp_path / "input.txt").write_text("one line of input\nand another\n")
    (tmp_path / "m.toml").write_text(f'''
[machine]
cores = 8
memory = "1G"
[[partition]]
name = "lwk"
kernel = "lwk"
cores = 4
memory = "256M"
program = "{guest('glibc', 'threads')}"
[[partition]]
name = "uk-binary"
kernel = "unikernel"
cores = 1
memory = "64M"
program = "{guest('musl', 'cat_stdin')}"
stdin = "input.txt"
[[partition]]
name = "uk-source"
kernel = "unikernel"
cores = 2
memory = "128M"
program = "{guest('libos/glibc', 'sysinfo')}"
''')
    p = _run(tmp_path / "m.toml")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "lwk.out").read_bytes() == run_native([guest("glibc", "threads")])[0]
    assert (tmp_path / "uk-binary.out").read_text() == "one line of input\nand another\n"
    assert (tmp_path / "uk-source.out").read_bytes() == run_native([guest("glibc", "sysinfo")],
                                                                    stdin=b"")[0]
    summary = p.stderr.decode()
    for name in ("lwk", "uk-binary", "uk-source"):
        assert name in summary


def test_256_cores_64_partitions(tmp_path):
    lines = ["[machine]", "cores = 256", 'memory = "4G"']
    for i in range(64):
        lines += ["[[partition]]", f'name = "p{i}"', f'kernel = "{("lwk", "unikernel")[i % 2]}"',
                  "cores = 4", 'memory = "32M"', f'program = "{guest("musl", "hello")}"']
    (tmp_path / "big.toml").write_text("\n".join(lines))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = _run(tmp_path / "big.toml", timeout=600)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert p.returncode == 0, p.stderr
    hello = run_native([guest("musl", "hello")])[0]
    assert all((tmp_path / f"p{i}.out").read_bytes() == hello for i in range(64))
    line = [x for x in p.stderr.decode().splitlines() if "machine: 256 cores" in x][0]
    print(f"\n256 cores, 64 partitions: {line.strip()}; peak RSS {max(peak_kib, before) / 1024:.0f} MiB")
    assert peak_kib < 2 * 1024 * 1024                 # under 2 GiB


def test_bad_machine_files(tmp_path):
    cases = {
        "empty.toml": "",
        "overcommitted.toml": '[machine]\ncores = 2\n[[partition]]\ncores = 4\nprogram = "x"\n',
        "badkernel.toml": '[machine]\ncores = 2\n[[partition]]\nkernel = "windows"\nprogram = "x"\n',
        "syntax.toml": "[machine\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        p = _run(tmp_path / name)
        assert p.returncode == 2 and len(p.stderr.splitlines()) == 1 and b"Traceback" not in p.stderr, name


def test_time_slicing_with_descriptors_above_1023(capfd):
    """A big machine holds thousands of descriptors: a core's timer (and the
    FWK channel's waits) must not depend on select()'s limit of 1024 — with
    the timer's pipe above it, a spinning thread must still lose its core."""
    from kernels import Kernel
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 1200:
        import pytest
        pytest.skip("the hard limit on descriptors is under 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fillers = []
    try:
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            fillers.append(fd)
            if fd >= 1100:
                break
        for mode in ("linux", "lwk"):
            k = Kernel(mode=mode, ncores=1, memory=64 << 20)
            k.exec(guest("glibc", "threads"), [b"threads", b"2"], [])
            out = k.run()
            k.close()
            text = capfd.readouterr().out
            assert out.exit_status == 0, text
            assert "FAIL" not in text and "two spinners take turns 20 times: ok" in text, text
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_closed_kernel_gives_back_every_descriptor_and_its_memory():
    """Kernels made and closed one after another (the Python API, the ELF
    fuzz test) hold no descriptor and no mapping afterwards: the segment's
    memfd and map, the sandbox's root, the FWK channels all go."""
    import io

    from kernels import ExecError, Kernel

    def fds():
        return len(os.listdir("/proc/self/fd"))

    def maps():
        return open("/proc/self/maps").read().count("azemu-part")

    k = Kernel(mode="lwk", quiet=True, stderr=io.StringIO())   # the FWK service, once
    k.close()
    before, mapped = fds(), maps()
    for i in range(30):
        for mode in ("linux", "lwk", "unikernel"):
            k = Kernel(mode=mode, quiet=True, stderr=io.StringIO(), memory=32 << 20)
            try:
                k.exec(guest("glibc", "hello") if i % 2 else "/nonexistent", [b"hello"], [])
            except ExecError:
                pass
            finally:
                k.close()
    assert fds() == before
    assert maps() == mapped
