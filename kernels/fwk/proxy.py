"""The FWK proxy process: the full-weight kernel's side of the offload channel.

Started by azemu for lwk and unikernel guests (kernels/fwk/client.py), never
by the user.  It maps the kernel instance's memory segment and the channel
segment (both inherited fds), runs one watcher thread per core — each waits
for a request on its core's queue, serves it with the Server (files and
sockets, confined by the sandbox), and posts the reply — and exits when told
to, or when azemu goes away.  This is the only process that touches host
files and sockets for those guests.

    python -m kernels.fwk.proxy --segments FD:SIZE:CORES,... --channel-fd M
        --cores C --events R0:P0,... [--root DIR] [--ro] [--policy P] [--spin-us U]
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import signal
import sys
import threading

from . import channel as C
from .sandbox import Sandbox
from .server import Server

PR_SET_PDEATHSIG = 1


def watcher(server: Server, pair: C.ChannelPair, policy: str, spin_us: int, lock, done) -> None:
    try:
        serve_queue(server, pair, policy, spin_us, lock, done)
    finally:
        done.set()              # a watcher gone means the proxy is gone: the kernel sees EIO


def serve_queue(server, pair, policy, spin_us, lock, done) -> None:
    while not done.is_set():
        pair.requests.wait(policy, spin_us)
        magic, tid, function, seq, params, _ = C.decode(pair.requests.pop())
        if function == C.FWK_SHUTDOWN:
            done.set()
            return
        if magic != C.MAGIC:
            ret = -5                                  # EIO: not a packet
        elif function == C.FWK_PING:
            ret = 0
        else:
            with lock:                                 # one Server, shared by the cores
                ret = server.handle(tid, function, params)
        pair.replies.push(C.reply(C.request(tid, function, seq, params), ret), wake=policy != "spin")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="azemu-fwk-proxy")
    ap.add_argument("--segments", required=True,
                    help="FD:SIZE:CORES,... the memory segments of the kernel instances served")
    ap.add_argument("--channel-fd", type=int, required=True)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--events", required=True)
    ap.add_argument("--root")
    ap.add_argument("--ro", action="store_true")
    ap.add_argument("--policy", default=C.DEFAULT_POLICY, choices=C.POLICIES)
    ap.add_argument("--spin-us", type=int, default=C.DEFAULT_SPIN_US)
    a = ap.parse_args(argv)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)   # azemu gone: so are we
    from ..process import raise_own_nofile
    raise_own_nofile()                          # the guests' fds are ours
    if os.getppid() == 1:
        return 1
    # What the terminal sends the job (Ctrl-C, Ctrl-\, Ctrl-Z) is the guest's
    # business: azemu passes it on (kernels/hostsig.py).  SIGTTIN and SIGTTOU
    # stay at their default, which stops the proxy with the rest of the job.
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    os.umask(0)                               # the guest's umask is applied by its kernel
    chan = mmap.mmap(a.channel_fd, a.cores * C.PAIR_SIZE, mmap.MAP_SHARED,
                     mmap.PROT_READ | mmap.PROT_WRITE)
    servers = []                              # one per kernel instance, for each of its cores
    for spec in a.segments.split(","):
        fd, size, ncores = (int(x) for x in spec.split(":"))
        seg = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(seg))
        server = Server(memoryview(seg), base, Sandbox(a.root, a.ro))
        servers += [server] * ncores
    events = [tuple(int(x) for x in e.split(":")) for e in a.events.split(",")]
    lock, done = threading.Lock(), threading.Event()
    threads = []
    for i, (req, rep) in enumerate(events):
        server = servers[i]
        pair = C.ChannelPair(chan, i * C.PAIR_SIZE, req, rep)
        t = threading.Thread(target=watcher, args=(server, pair, a.policy, a.spin_us, lock, done),
                             daemon=True, name=f"watcher-{i}")
        t.start()
        threads.append(t)
    done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
