"""Shared helpers: run a guest program natively and under azemu, compare."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINS = ROOT / "guest_bins" / "bin"
LIBCS = ("glibc", "musl")


def guest(libc: str, name: str) -> str:
    return str(BINS / libc / name)


def shell_status(rc: int) -> int:
    """subprocess's -N (killed by signal N) as a shell shows it: 128+N."""
    return 128 - rc if rc < 0 else rc


def run_native(argv, *, stdin=None, cwd=None, env=None, timeout=60):
    p = subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd, env=env, timeout=timeout)
    return p.stdout, p.stderr, shell_status(p.returncode)


def run_azemu(argv, *, stdin=None, cwd=None, env=None, timeout=120, extra=()):
    cmd = [sys.executable, "-m", "azemu", "exec", *extra, *argv]
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    p = subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, env=e, timeout=timeout)
    return p.stdout, p.stderr, shell_status(p.returncode)


def run_cli(*args, stdin=None, timeout=60):
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-m", "azemu", *args], input=stdin,
                       capture_output=True, env=e, timeout=timeout)
    return p.stdout, p.stderr, shell_status(p.returncode)


def build_probe(tmp_path: Path, name: str, source: str) -> str:
    """A small static C program written for one test, built with the host's
    gcc (the test is skipped without one)."""
    src, exe = tmp_path / f"{name}.c", tmp_path / name
    src.write_text(source)
    if subprocess.run(["gcc", "-static", "-O1", "-o", str(exe), str(src)]).returncode != 0:
        pytest.skip("no gcc to build the probe")
    return str(exe)


def fwk_workers(pid: int) -> list[int]:
    """The FWK proxy workers of the azemu process `pid`: the children of
    its FWK service (kernels/fwk/proxy.py)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()]
    services = {int(r[0]) for r in rows if int(r[1]) == pid and len(r) > 2 and "kernels.fwk.proxy" in r[2]}
    return [int(r[0]) for r in rows if int(r[1]) in services]


def assert_same(native, emulated):
    """stdout, stderr and exit status identical."""
    (no, ne, ns), (ao, ae, as_) = native, emulated
    assert ae == ne, f"stderr differs:\nnative: {ne!r}\nazemu:  {ae!r}"
    assert ao == no, f"stdout differs:\nnative: {no[:2000]!r}\nazemu:  {ao[:2000]!r}"
    assert as_ == ns, f"exit status: native {ns}, azemu {as_}"


def tree(path: Path) -> dict:
    """Every entry under `path`: kind, mode bits, size, contents or link target."""
    out = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", oct(st.st_mode & 0o7777))
        elif p.is_fifo():                              # (opening one would wait for a writer)
            out[rel] = ("fifo", oct(st.st_mode & 0o7777))
        else:
            out[rel] = ("file", oct(st.st_mode & 0o7777), p.read_bytes())
    return out


def _untracked() -> set | None:
    """Files in the tree that git does not track and does not ignore."""
    p = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT,
                       capture_output=True, text=True)
    return set(p.stdout.split()) if p.returncode == 0 else None


def pytest_sessionstart(session):
    session.config.azemu_untracked = _untracked()


def pytest_sessionfinish(session, exitstatus):
    """Tests write only to temporary places: a file a test left in the tree
    fails the run (stray outputs once got committed)."""
    before, after = session.config.azemu_untracked, _untracked()
    if before is not None and after is not None and after - before:
        print(f"\ntests left files in the source tree: {sorted(after - before)}", file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def busybox():
    for cand in (ROOT / ".cache" / "busybox" / "busybox", shutil.which("busybox")):
        if cand and Path(cand).is_file():
            out = subprocess.run(["file", str(cand)], capture_output=True, text=True).stdout \
                if shutil.which("file") else "statically linked"
            if "statically linked" in out or "static-pie" in out:
                return str(cand)
    pytest.skip("no static busybox (make testdeps fetches Debian's busybox-static)")


@pytest.fixture(scope="session")
def bash_static():
    """Debian's bash-static (make testdeps installs it where it can)."""
    for cand in ("/bin/bash-static", shutil.which("bash-static")):
        if cand and Path(cand).is_file():
            return str(cand)
    pytest.skip("no bash-static (make testdeps installs Debian's bash-static)")
