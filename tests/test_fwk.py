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

from conftest import ROOT, fwk_workers, guest, tree
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


_proxies = fwk_workers


def _start_blocked_in_read(mode, *extra):
    """azemu running cat_stdin, which has echoed a line and waits for more."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "exec", "--mode", mode, *extra,
                          guest("glibc", "cat_stdin")], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(b"first line\n")
    p.stdin.flush()
    deadline = time.monotonic() + 20
    proxies = []
    while not proxies and time.monotonic() < deadline:
        proxies = _proxies(p.pid)
        time.sleep(0.05)
    assert proxies, "no proxy process found"
    time.sleep(0.5)                                   # the guest is now blocked in read(0)
    return p, proxies[0]


def _ends_within(p, seconds):
    t = time.monotonic()
    try:
        out, err = p.communicate(timeout=seconds)     # never a hang
    finally:
        if p.poll() is None:
            p.kill()
    return out, err, time.monotonic() - t


@pytest.mark.parametrize("mode", ("lwk", "unikernel"))
def test_killing_the_proxy_mid_run(mode):
    p, proxy = _start_blocked_in_read(mode)
    os.kill(proxy, signal.SIGKILL)
    out, err, elapsed = _ends_within(p, 10)
    assert p.returncode != 0
    assert elapsed < 10
    assert b"FWK proxy" in err and b"died" in err and b"Traceback" not in err
    assert err.count(b"\n") == 1, err                # one line
    assert out.startswith(b"first line\n")            # what was written before is there


@pytest.mark.parametrize("mode", ("lwk", "unikernel"))
def test_stopping_the_proxy_mid_run(mode):
    """A stopped proxy stops beating: after --fwk-timeout the pending read
    gets EIO, the proxy is killed, azemu says so in one line and exits."""
    p, proxy = _start_blocked_in_read(mode, "--fwk-timeout", "2")
    os.kill(proxy, signal.SIGSTOP)
    try:
        out, err, elapsed = _ends_within(p, 10)
    finally:
        try:
            os.kill(proxy, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode != 0
    assert elapsed < 10
    assert b"FWK proxy" in err and b"was stopped" in err and b"Traceback" not in err
    assert err.count(b"\n") == 1, err
    assert out.startswith(b"first line\n")


def test_a_guest_that_ignores_eio_is_ended(tmp_path):
    """After the proxy is lost, a guest that goes on calling is ended within
    seconds: the loop below would otherwise never stop."""
    from conftest import build_probe
    exe = build_probe(tmp_path, "stubborn", r"""
        #include <unistd.h>
        int main(void) {
            char c;
            write(1, "ready\n", 6);
            for (;;) { read(0, &c, 1); write(1, "x", 1); }
        }""")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "exec", "--mode", "lwk", exe],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    assert p.stdout.read(6) == b"ready\n"
    deadline = time.monotonic() + 20
    while not _proxies(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(_proxies(p.pid)[0], signal.SIGKILL)
    out, err, elapsed = _ends_within(p, 10)
    assert elapsed < 10
    assert p.returncode != 0
    assert b"FWK proxy" in err and b"Traceback" not in err


def _host_with(tmp_path, counts):
    """A HostLoad reading a fake /proc/loadavg whose running field is each of
    `counts` in turn, one sample per count (the clock moved past each wait)."""
    from kernels.fwk import waiting as W
    h = W.HostLoad()
    h.cpus = 2
    fake = tmp_path / "loadavg"
    out = []
    for n in counts:
        fake.write_text(f"0.00 0.00 0.00 {n}/100 1\n")
        h._fd = os.open(fake, os.O_RDONLY)
        h._next = 0.0                         # due for a sample now
        out.append(h.busy())
        os.close(h._fd)
    return out


def test_one_busy_sample_is_a_blip_two_are_a_busy_host(tmp_path):
    # 3 runnable threads on 2 CPUs once: still free; twice in a row: busy;
    # the first free sample after that: free again
    assert _host_with(tmp_path, [2, 3, 2, 3, 3, 4, 2]) == [False, False, False, False, True, True, False]


def test_a_busy_sample_is_confirmed_soon(tmp_path):
    from kernels.fwk import waiting as W
    h = W.HostLoad()
    h.cpus = 2
    fake = tmp_path / "loadavg"
    fake.write_text("0.00 0.00 0.00 5/100 1\n")
    h._fd = os.open(fake, os.O_RDONLY)
    t = time.monotonic()
    assert not h.busy()                       # the first sample over the CPUs
    assert h._next - t <= W.CONFIRM_S + 0.001  # looked at again within CONFIRM_S
    time.sleep(W.CONFIRM_S * 1.5)
    assert h.busy()
    os.close(h._fd)


@pytest.mark.parametrize("mode", ["lwk", "unikernel"])
def test_the_packet_log_has_every_round_trip_as_it_lay_in_the_channel(mode, tmp_path):
    """--trace-fwk: one request and one reply per round trip, the fields as
    the bytes say, slots one packet apart, each reply echoing its request's
    sequence number; the guest's own calls' round trips are among them."""
    from conftest import run_cli
    import re
    import struct
    log, trace = tmp_path / "packets.txt", tmp_path / "trace.txt"
    (tmp_path / "in.txt").write_bytes(b"packets\n")
    out, err, status = run_cli("exec", "--mode", mode, "--trace-fwk", str(log), "--trace-kernel",
                               "-o", str(trace), "cat_stdin", stdin=b"packets\n")
    assert (out, status) == (b"packets\n", 0), err
    text = log.read_text()
    requests = re.findall(r"request slot (\d+) at (0x[0-9a-f]+).*\n.*function (\d+) \w+ seq (\d+)\n"
                          r".*params (.*)\n\s+bytes (.*)\n.*reply slot \d+ at 0x[0-9a-f]+: "
                          r"magic 0x5d4c3b2a seq (\d+)", text)
    total = int(re.search(r"# (\d+) round trips", text)[1])
    assert total == len(requests) > 5
    for slot, at, function, seq, params, raw in [r[:6] for r in requests]:
        words = bytes.fromhex(raw.replace("|", "").replace(" ", ""))
        magic, _, fn, sq = struct.unpack_from("<IIII", words)
        assert (magic, fn, sq) == (0x5D4C3B2A, int(function), int(seq))
        assert [int(p, 16) for p in params.split()] == list(struct.unpack_from("<6Q", words, 16))
    assert all(r[3] == r[6] for r in requests)                    # the reply echoes the seq
    ats = [int(r[1], 16) for r in requests]
    assert all(b - a == 128 for a, b in zip(ats, ats[1:]))
    guest = sum(int(n) for n in re.findall(r"FWK (\d+) round trip", trace.read_text()))
    assert 0 < guest < total


def test_the_packet_log_is_refused_where_there_is_no_channel(tmp_path):
    from conftest import run_cli
    out, err, status = run_cli("exec", "--trace-fwk", str(tmp_path / "p"), "hello")
    assert status == 2 and out == b"" and err.decode().count("\n") == 1
    assert "--trace-fwk" in err.decode() and "no FWK channel" in err.decode()
    out, err, status = run_cli("exec", "--mode", "lwk", "--trace-fwk", str(tmp_path / "no" / "p"), "hello")
    assert status == 2 and out == b"" and err.decode().count("\n") == 1 and "Traceback" not in err.decode()


class _Busy:
    """A HostLoad that says what the test says."""

    def __init__(self, busy):
        self.last = busy

    def busy(self):
        return self.last


def _thread_cpus(pid: int) -> list[str]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            out += [line.split()[1] for line in f if line.startswith("Cpus_allowed_list")]
    return out


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
@pytest.mark.parametrize("policy", ["spin-then-block", "block"])
def test_on_a_busy_host_the_proxy_serves_a_core_on_its_clients_cpu(policy, monkeypatch):
    # A client that sleeps because the host is busy asks its proxy to run
    # next to it: the thread serving that core goes to the client's CPU, and
    # back to every CPU when the host is free again.  A CPU the proxy may
    # not use (a malformed packet's) is ignored.
    from azemu.physmem import PhysicalMemory
    from kernels.fwk import channel as C
    from kernels.fwk import client as CL
    mine = os.sched_getaffinity(0)
    cpu = max(mine)
    everywhere = _thread_cpus(os.getpid())[0]
    c = CL.FWKClient(PhysicalMemory(16 << 20, "t"), 1, policy=policy)
    os.sched_setaffinity(0, {cpu})                # so that "the client's CPU" holds still
    try:
        load = c.waiters[0].load = _Busy(False)
        assert c.call(0, 1, C.FWK_PING, ()) == 0
        assert set(_thread_cpus(c.pid)) == {everywhere}
        load.last = True
        assert c.call(0, 1, C.FWK_PING, ()) == 0
        assert _thread_cpus(c.pid).count(str(cpu)) == 1      # one watcher, on our CPU
        load.last = False
        assert c.call(0, 1, C.FWK_PING, ()) == 0
        assert set(_thread_cpus(c.pid)) == {everywhere}
        load.last = True
        monkeypatch.setattr(CL, "_this_cpu", lambda: 4095)   # a CPU it may not use
        assert c.call(0, 1, C.FWK_PING, ()) == 0
        assert set(_thread_cpus(c.pid)) == {everywhere}
    finally:
        c.close()
        os.sched_setaffinity(0, mine)


def test_a_spinning_client_never_asks_for_its_cpu():
    from kernels.fwk import waiting as W
    w = W.Waiter("spin")
    w.load = _Busy(True)
    assert not w.near()
    w = W.Waiter("spin-then-block")
    w.load = _Busy(True)
    assert w.near() and w.budget() == 0
    w.load.last = False
    assert not w.near()


class _Consumed:
    """A request queue as the hang check sees it: its consumer index."""

    def __init__(self):
        self.tail = 0

    def index(self, which):
        assert which == "tail"
        return self.tail


def test_a_call_served_longer_than_the_timeout_stops_the_heartbeat():
    from kernels.abi.syscall_numbers import SYSCALL_NUMBERS as NR
    from kernels.fwk.proxy import _Stuck
    busy, queues = [None, None], [_Consumed(), _Consumed()]
    stuck = _Stuck(busy, queues, hang_s=5.0)
    assert not stuck.hung(0.0)                    # nothing served
    busy[1] = NR["read"]
    queues[1].tail = 7
    assert not stuck.hung(1.0)                    # first seen
    assert not stuck.hung(5.5)                    # 4.5 s on it
    assert stuck.hung(6.5)                        # 5.5 s on the same call
    queues[1].tail = 8                            # the next call (the same function)
    assert not stuck.hung(7.0)
    assert not stuck.hung(11.5)
    busy[1] = None                                # done: its time is forgotten
    assert not stuck.hung(20.0)
    busy[1] = NR["read"]
    assert not stuck.hung(21.0) and not stuck.hung(25.0)
    busy[0] = NR["poll"]                          # may wait as long as the guest asked
    queues[0].tail = 3
    busy[1] = None
    assert not stuck.hung(30.0) and not stuck.hung(300.0)


@pytest.mark.parametrize("value", [5, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0])
def test_a_futex_sleeps_on_its_word_and_is_woken(value):
    """The expected value goes as a C int (ctypes masks it to 32 bits): a
    word at or above 2**31 must still compare equal, and a wake-up (called
    holding the GIL) must reach a thread asleep on it."""
    import ctypes
    import mmap
    import threading
    from kernels.fwk import waiting as W
    m = mmap.mmap(-1, 4096)
    w = ctypes.c_uint32.from_buffer(m, 0)
    word = W.futex_word(ctypes.addressof(w))
    w.value = value
    t = time.monotonic()
    W.futex_wait(word, (value + 1) & 0xFFFFFFFF)       # not the word's value: back at once
    assert time.monotonic() - t < W.BLOCK_RECHECK / 2
    t = time.monotonic()
    W.futex_wait(word, value)                          # its value: sleeps until the recheck
    assert time.monotonic() - t >= W.BLOCK_RECHECK * 0.9
    woke = threading.Event()

    def sleeper():
        W.futex_wait(word, value, timed=False)
        woke.set()
    th = threading.Thread(target=sleeper, daemon=True)
    th.start()
    time.sleep(0.05)
    assert not woke.is_set()
    for _ in range(100):                               # until the sleeper is asleep and woken
        W.futex_wake(word)
        if woke.wait(0.02):
            break
    assert woke.is_set()
    th.join(1)
    del w
    m.close()
