"""`azemu exec --gdb PORT`: Debian's gdb, in batch mode, debugs a guest over
the remote protocol as it would one under `qemu-x86_64 -g`: break main,
continue, stepi, registers, disassembly, backtrace, a hardware watchpoint,
the threads of a pthread program, detach, the exit; and Ctrl-C, raw."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, guest

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="needs gdb")


def _start(program, args=(), extra=()):
    """azemu waiting for gdb on a free port: (the process, the port)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "exec", "--gdb", "0", *extra, program,
                          *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = p.stderr.readline().decode()
    m = re.search(r"localhost:(\d+)", line)
    assert m, line
    return p, int(m.group(1))


def _gdb(port, program, *commands):
    cmd = ["gdb", "-batch", "-nx", "-ex", f"target remote :{port}"]
    for c in commands:
        cmd += ["-ex", c]
    p = subprocess.run(cmd + [program], capture_output=True, timeout=180)
    return p.stdout.decode() + p.stderr.decode()


@pytest.mark.parametrize("mode", ["linux", "lwk", "unikernel"])
def test_break_main_step_registers_disassembly_backtrace(mode):
    program = guest("glibc", "hello")
    azemu, port = _start(program, extra=["--mode", mode])
    text = _gdb(port, program, "break main", "continue", "stepi", "info registers rip",
                "x/4i $pc", "bt", "continue")
    out, err = azemu.communicate(timeout=60)
    assert re.search(r"Breakpoint 1, 0x0*401530 in main \(\)", text), text
    assert re.search(r"rip +0x401534 +0x401534 <main\+4>", text), text
    assert re.search(r"=> 0x401534 <main\+4>:\s+lea", text), text
    assert re.search(r"#0 +0x0*401534 in main \(\)", text), text
    assert "exited normally" in text, text
    assert out == b"Hello, world!\n42 3.142 azemu\n" and azemu.returncode == 0


def test_a_watchpoint_and_the_threads_of_a_pthread_program():
    program = guest("glibc", "lost_update")
    azemu, port = _start(program, ["2", "50"], extra=["--cores", "2"])
    text = _gdb(port, program, "break main", "continue", "watch *(long *)&counter", "continue",
                "info threads", "delete", "detach")
    out, err = azemu.communicate(timeout=120)
    assert re.search(r"Hardware watchpoint 2: \*\(long \*\)&counter", text), text
    assert re.search(r"Old value = 0\s+New value = 1", text), text
    threads = re.findall(r"^\*?\s+\d+\s+Thread (\d+)", text, re.M)
    assert len(threads) == 3, text                       # main and its two workers
    assert "detached" in text
    assert b"no lost update: yes" in out and azemu.returncode == 0


def test_the_exit_code_reaches_gdb():
    program = guest("glibc", "exit_code")
    azemu, port = _start(program, ["3"])
    text = _gdb(port, program, "continue")
    azemu.communicate(timeout=60)
    assert "exited with code 03" in text, text
    assert azemu.returncode == 3


def _packet(sock, data: bytes) -> bytes:
    body = data
    sock.sendall(b"$" + body + b"#%02x" % (sum(body) & 0xFF))
    buf = b""
    while True:
        buf += sock.recv(4096)
        m = re.search(rb"\$([^#]*)#..", buf)
        if m:
            return m.group(1)


def test_ctrl_c_stops_a_running_guest_and_kill_ends_it():
    azemu, port = _start(guest("glibc", "compute"), ["100000000"])
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        assert _packet(sock, b"?").startswith(b"T05")
        sock.sendall(b"$c#63")
        time.sleep(1.0)
        sock.sendall(b"\x03")                               # Ctrl-C
        buf = b""
        while b"#" not in buf:
            buf += sock.recv(4096)
        assert re.search(rb"\$T02thread:[0-9a-f]+;", buf), buf
        assert _packet(sock, b"qC").startswith(b"QC")
        sock.sendall(b"$vKill;1#6e")
    finally:
        azemu.wait(timeout=60)
        sock.close()
    assert azemu.returncode in (-9, 137)                   # killed, as gdb's kill does


def test_gdb_follows_the_parent_of_a_fork(tmp_path):
    """gdb's default: the forked children are not debugged.  `procs` forks
    children that end in _exit(42) straight from main; the breakpoint on
    _exit stops only the parent, at its own end (through exit())."""
    program = guest("glibc", "procs")
    (tmp_path / "d").mkdir()
    azemu, port = _start(program, [str(tmp_path / "d")])
    text = _gdb(port, program, "break _exit", "continue", "bt", "info threads", "kill")
    azemu.communicate(timeout=120)
    assert re.search(r"Breakpoint 1, 0x[0-9a-f]+ in _exit \(\)", text), text
    assert re.search(r"#\d+ +0x[0-9a-f]+ in (__run_exit_handlers|exit) \(\)", text), text
    assert len(re.findall(r"^\*?\s+\d+\s+Thread \d+", text, re.M)) == 1, text


def test_malformed_packets_get_an_error_and_the_guest_goes_on():
    """What gdb (or anything on the port) sends that makes no sense is
    answered E01 or empty; the guest is not ended by it."""
    azemu, port = _start(guest("glibc", "hello"))
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        assert _packet(sock, b"?").startswith(b"T05")
        for bad in (b"mzz,4", b"m1", b"Z0,zz,1", b"Pzz=00", b"Hgxyz", b"X1,2", b"qXfer:features:read:target.xml:zz",
                    b"p9999", b"\xff\xfe"):
            assert _packet(sock, bad) in (b"E01", b"E45", b"E22", b""), bad
        assert _packet(sock, b"m0,8") == b"E14"               # unmapped memory: an error too
        sock.sendall(b"$c#63")
        buf = b""
        while b"#" not in buf:
            buf += sock.recv(4096)
        assert b"$W00#" in buf, buf                            # it ran to its end
    finally:
        sock.close()
    out, err = azemu.communicate(timeout=60)
    assert azemu.returncode == 0 and out.startswith(b"Hello"), err
