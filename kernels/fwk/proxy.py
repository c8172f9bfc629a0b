"""The FWK proxy: the full-weight kernel's side of the offload channel.

Azalea's FWK is one service for many kernel instances.  Here it is one host
process, the FWK service, started by azemu for lwk and unikernel guests
(kernels/fwk/client.py), never by the user.  For each kernel instance it is
asked to serve, it forks a worker — the proxy of that instance — handed
exactly two descriptors: the instance's memory segment and its channel
segment (over the service's control socket, SCM_RIGHTS).  A worker holds
nothing of any other instance: not its memory, not its channels, not its
root; so a guest that made its proxy misbehave could still reach only its
own partition.

A worker runs one watcher thread per core — each waits for a request on its
core's queue, serves it with the Server (files and sockets, confined by the
instance's sandbox), and posts the reply — and a heartbeat thread that
counts in the channel segment's control block while the watchers make
progress, so that the kernel can tell a stopped or hung proxy from a busy
one (kernels/fwk/client.py).  A worker exits when its kernel says so, or
when the service goes away; the service exits when azemu does (its control
socket closes).

This module is the service's entry and imports only what serves I/O: no
emulator, so that it is up in a few tens of milliseconds.

    python -m kernels.fwk.proxy --control FD
"""
from __future__ import annotations

import array
import ctypes
import json
import mmap
import os
import signal
import socket
import sys
import threading
import time

from ..abi.syscall_numbers import SYSCALL_NUMBERS as _NR
from . import channel as C
from . import waiting as W
from .sandbox import Sandbox
from .server import Server
# What a Server loads when it is made, loaded here once in the service, so
# that a forked worker has it already (5 ms of every worker's start-up).
from . import server_files, server_model  # noqa: F401,E402

PR_SET_PDEATHSIG = 1
BEAT_S = 0.5                     # the heartbeat's period (a few wake-ups a second per idle worker)
# Calls that may wait for the host as long as the guest asked (a poll with a
# timeout, an open of a FIFO): never taken for a hang.
WAITING_CALLS = frozenset(_NR[n] for n in ("poll", "ppoll", "select", "pselect6", "epoll_wait",
                                           "epoll_pwait", "openat", "open", "accept", "accept4",
                                           "connect", "flock", "fcntl"))


class Worker:
    """The proxy of one kernel instance (runs in a forked process)."""

    def __init__(self, seg_fd: int, chan_fd: int, spec: dict, stdio=None):
        self.ncores = spec["cores"]
        self.waiter_args = (spec["policy"], spec["spin_us"])
        self.hang_s = spec["timeout"]
        seg = mmap.mmap(seg_fd, spec["size"], mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(seg_fd)
        base = ctypes.addressof(ctypes.c_char.from_buffer(seg))
        self.server = Server(memoryview(seg), base, Sandbox(spec["root"], spec["ro"]), stdio)
        self.chan = mmap.mmap(chan_fd, C.segment_size(self.ncores), mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(chan_fd)
        self.beat = C.heartbeat(self.chan)
        self.lock, self.done = threading.Lock(), threading.Event()
        self.pairs = [C.ChannelPair(self.chan, i) for i in range(self.ncores)]
        self.busy = [None] * self.ncores          # per core: the function being served, or None
        self.stuck = _Stuck(self.busy, [p.requests for p in self.pairs], self.hang_s)

    def run(self) -> None:
        for i in range(self.ncores):
            threading.Thread(target=self._watch, args=(i,), daemon=True, name=f"watcher-{i}").start()
        while not self.done.wait(BEAT_S):
            if not self.stuck.hung(time.monotonic()):
                self.beat.value += 1

    def _watch(self, i: int) -> None:
        try:
            self._serve(i, self.pairs[i], W.Waiter(*self.waiter_args))
        finally:
            self.done.set()          # a watcher gone means the proxy is gone: the kernel sees EIO

    def _serve(self, i, pair, waiter) -> None:
        """Serve core i's requests until told to stop.  This loop is every
        offloaded call's cost on the proxy's side, and on a busy host the
        client waits on the same CPU for all of it, where each Python frame
        costs about twice what it costs in a warm loop (benchmarks/offload.py):
        so a request of one core goes straight to the Server's operation
        (Server.handle's path without its lookups), and the rest (pings,
        shutdown, a network call's first use, cores sharing the Server)
        through handle."""
        server, busy, near = self.server, self.busy, _Near()
        ops, failed, handle = server.ops, server.failed, server.handle
        lock = self.lock if self.ncores > 1 else None   # one Server, shared by the cores
        take, reply = pair.requests.take, pair.replies.send
        while True:
            magic, tid, function, seq, p1, p2, p3, p4, p5, p6, asked = take(waiter)
            if asked != near.asked:
                near.follow(asked)
            op = ops.get(function)
            if op is not None and lock is None and magic == C.MAGIC:
                busy[i] = function
                try:
                    ret = op(tid, p1, p2, p3, p4, p5, p6)
                except Exception as e:
                    ret = failed(tid, function, e)
                busy[i] = None
            elif magic != C.MAGIC:
                ret = -5                                  # EIO: not a packet
            elif function == C.FWK_PING:
                ret = 0
            elif function == C.FWK_SHUTDOWN:
                self.done.set()
                return
            else:
                busy[i] = function
                if lock is None:
                    ret = handle(tid, function, [p1, p2, p3, p4, p5, p6])
                else:
                    with lock:
                        ret = handle(tid, function, [p1, p2, p3, p4, p5, p6])
                busy[i] = None
            reply(magic, tid, function, seq, p1, p2, p3, p4, p5, p6, ret)


class _Stuck:
    """Whether a watcher has been serving one call for longer than
    `hang_s` (then the heartbeat stops, and the kernel gives the proxy up:
    kernels/fwk/client.py).  Asked by the heartbeat thread every BEAT_S; a
    call is known by its core's function and its request queue's consumer
    index, so the watchers note nothing but the function (no clock per call).
    A call is timed from the first beat that saw it: it is taken as hung
    between `hang_s` and `hang_s` + BEAT_S after it began.  Calls that may
    wait as long as the guest asked (WAITING_CALLS) never are."""

    def __init__(self, busy: list, queues: list, hang_s: float):
        self.busy, self.queues, self.hang_s = busy, queues, hang_s
        self.seen = [None] * len(busy)            # per core: (consumer index, first seen at)

    def hung(self, now: float) -> bool:
        for i, function in enumerate(self.busy):
            if function is None or function in WAITING_CALLS:
                self.seen[i] = None
                continue
            mark = self.queues[i].index("tail")
            seen = self.seen[i]
            if seen is None or seen[0] != mark:
                self.seen[i] = (mark, now)
            elif now - seen[1] > self.hang_s:
                return True
        return False


class _Near:
    """The affinity of a thread serving one core: on the client's CPU while
    the client asks for it (it sleeps on a busy host: kernels/fwk/waiting.py),
    else wherever the process may run."""

    def __init__(self):
        self.cpu = None
        self.asked = 0                    # what the latest request asked: while the same, nothing to do
        self.anywhere = os.sched_getaffinity(0)

    def follow(self, asked: int) -> None:
        """`asked`: 1 + the client's CPU, or 0 (or any value naming no CPU
        this process may use: as 0)."""
        self.asked = asked
        cpu = asked - 1 if asked - 1 in self.anywhere else None
        if cpu == self.cpu:
            return
        try:
            os.sched_setaffinity(0, self.anywhere if cpu is None else {cpu})   # 0: this thread
        except OSError:
            return
        self.cpu = cpu


def _reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _worker(ctl: socket.socket, fds, spec) -> None:
    """In the forked child: serve one instance, then leave without
    returning into the service's loop."""
    status = 1
    try:
        ctl.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)   # the service gone: so are we
        if os.getppid() != spec["service"]:
            os._exit(1)
        given = iter(fds[2:])
        stdio = [next(given) if present else -1 for present in spec["stdio"]] if "stdio" in spec else None
        Worker(fds[0], fds[1], spec, stdio).run()
        status = 0
    finally:
        sys.stdout.flush()
        os._exit(status)


def serve(ctl: socket.socket) -> int:
    """The service's loop: a request per instance, a worker for each."""
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            msg, anc, _, _ = ctl.recvmsg(65536, socket.CMSG_SPACE(5 * 4))
        except InterruptedError:
            continue
        if not msg:                                   # azemu is gone
            return 0
        fds = array.array("i")
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % 4])
        try:
            spec = json.loads(msg)
            if len(fds) != 2 + sum(map(bool, spec.get("stdio", ()))):
                raise ValueError("a worker needs a memory segment, a channel segment "
                                 "and the guest's stdio fds")
        except ValueError as e:
            for fd in fds:
                os.close(fd)
            ctl.send(json.dumps({"error": str(e)}).encode())
            continue
        spec["service"] = os.getpid()
        pid = os.fork()
        if pid == 0:
            _worker(ctl, list(fds), spec)
        for fd in fds:
            os.close(fd)
        ctl.send(json.dumps({"pid": pid}).encode())


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="azemu-fwk-proxy")
    ap.add_argument("--control", type=int, required=True, help="the control socket's fd")
    a = ap.parse_args(argv)
    from ..process import raise_own_nofile
    raise_own_nofile()                          # the guests' fds are ours
    # What the terminal sends the job (Ctrl-C, Ctrl-\, Ctrl-Z) is the guest's
    # business: azemu passes it on (kernels/hostsig.py).  SIGTTIN and SIGTTOU
    # stay at their default, which stops the proxy with the rest of the job.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    os.umask(0)                               # the guest's umask is applied by its kernel
    ctl = socket.socket(fileno=a.control)
    try:
        return serve(ctl)
    finally:
        ctl.close()


if __name__ == "__main__":
    sys.exit(main())
