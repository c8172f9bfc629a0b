"""The FWK proxy process: it does the I/O of lwk and unikernel guests, the
emulator does none; if it dies, the guest sees EIO and azemu exits non-zero
within seconds."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, guest, tree
from kernels import Kernel

_opened = []
_watch = []


def _audit(event, args):
    """Every file this process opens while watching, but Python's own modules."""
    if _watch and event == "open" and args and isinstance(args[0], (str, bytes)):
        name = os.fsdecode(args[0])
        if not name.endswith((".py", ".pyc", ".so")) and not name.startswith(sys.prefix):
            _opened.append(name)


sys.addaudithook(_audit)


@pytest.mark.parametrize("mode,image", [("lwk", "glibc/fileio"), ("unikernel", "glibc/fileio"),
                                        ("unikernel", "libos/musl/fileio")])
def test_emulator_process_opens_no_guest_file(mode, image, tmp_path, capfd):
    work = tmp_path / "work"
    work.mkdir()
    k = Kernel(mode=mode, memory=64 << 20)
    path = guest(*image.rsplit("/", 1))
    k.exec(path, [b"fileio", os.fsencode(work)], [])
    _opened.clear()
    _watch.append(1)
    try:
        out = k.run()
    finally:
        _watch.clear()
        k.close()
    assert out.exit_status == 0
    assert tree(work)                                       # the proxy did the work ...
    assert _opened == []                                    # ... not us: no file at all
    assert "fileio: done" in capfd.readouterr().out


def test_linux_mode_serves_io_in_process(tmp_path, capfd):
    work = tmp_path / "work"
    work.mkdir()
    k = Kernel(mode="linux", memory=64 << 20)
    k.exec(guest("glibc", "fileio"), [b"fileio", os.fsencode(work)], [])
    _opened.clear()
    _watch.append(1)
    try:
        assert k.run().exit_status == 0
    finally:
        _watch.clear()
        k.close()
    assert "a.txt" in _opened                                # the monolithic kernel itself


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "kernels.fwk.proxy" in line]


@pytest.mark.parametrize("mode", ("lwk", "unikernel"))
def test_killing_the_proxy_mid_run(mode):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "exec", "--mode", mode,
                          guest("glibc", "cat_stdin")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(b"first line\n")
    p.stdin.flush()
    deadline = time.monotonic() + 20
    proxies = []
    while not proxies and time.monotonic() < deadline:
        proxies = _children(p.pid)
        time.sleep(0.05)
    assert proxies, "no proxy process found"
    time.sleep(0.5)                                   # the guest is now blocked in read(0)
    os.kill(proxies[0], signal.SIGKILL)
    t = time.monotonic()
    try:
        out, err = p.communicate(timeout=10)          # never a hang
    finally:
        if p.poll() is None:
            p.kill()
    elapsed = time.monotonic() - t
    assert p.returncode != 0
    assert elapsed < 10
    assert b"FWK proxy" in err and b"died" in err and b"Traceback" not in err
    assert out.startswith(b"first line\n")            # what was written before is there
