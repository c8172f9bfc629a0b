"""The kernel's end of the FWK: starts the proxy process and talks to it.

`FWKClient` creates the channel segment (one request/reply queue pair per
core, kernels/fwk/channel.py), starts `python -m kernels.fwk.proxy` with the
kernel instance's memory segment and the channels as inherited fds, and then
turns each `call()` into a packet on the calling core's request queue and
waits for the reply — spinning, blocking, or spinning then blocking, as
configured.  Each round trip is timed for `--stats`.

If the proxy dies, the call in flight and every later call return -EIO, and
`dead` says since when; the kernel reports it and exits non-zero.
"""
from __future__ import annotations

import errno
import importlib.util
import os
import subprocess
import sys
import time

from . import channel as C

STARTUP_TIMEOUT = 30.0


class FWKClient:
    kind = "proxy"

    def __init__(self, phys=None, ncores: int = 1, *, root=None, readonly=False,
                 policy: str = C.DEFAULT_POLICY, spin_us: int = C.DEFAULT_SPIN_US,
                 segments=None):
        """One proxy for one kernel instance (`phys`, `ncores`), or for several:
        `segments` = [(phys, ncores), ...], the partitions of a machine, whose
        cores get consecutive channel pairs (see view())."""
        if policy not in C.POLICIES:
            raise ValueError(f"unknown wait policy {policy!r}")
        self.policy, self.spin_us = policy, spin_us
        segments = segments or [(phys, ncores)]
        ncores = sum(n for _, n in segments)
        self.ncores = ncores
        self.chan_fd, self.chan = C.create_segment(ncores)
        self.events = [(os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK))
                       for _ in range(ncores)]
        self.pairs = [C.ChannelPair(self.chan, i * C.PAIR_SIZE, req, rep)
                      for i, (req, rep) in enumerate(self.events)]
        self.seq = [0] * ncores
        self.rtt_ns = [[] for _ in range(ncores)]
        self.dead = None
        fds = [ph.fd for ph, _ in segments] + [self.chan_fd] + [fd for pair in self.events for fd in pair]
        cmd = [sys.executable, "-m", "kernels.fwk.proxy",
               "--segments", ",".join(f"{ph.fd}:{ph.size}:{n}" for ph, n in segments),
               "--channel-fd", str(self.chan_fd), "--cores", str(ncores),
               "--events", ",".join(f"{a}:{b}" for a, b in self.events),
               "--policy", policy, "--spin-us", str(spin_us)]
        if root:
            cmd += ["--root", os.fsdecode(root)]
        if readonly:
            cmd += ["--ro"]
        # The proxy imports this very `kernels` package, wherever it was imported from.
        env = dict(os.environ)
        pkg_root = os.path.dirname(importlib.util.find_spec("kernels").submodule_search_locations[0])
        env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(cmd, pass_fds=fds, env=env, close_fds=True)
        self.pid = self.proc.pid
        # the proxy answers FWK_HELLO-free pings once it is up: wait for it
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self.call(0, 0, C.FWK_PING, ()) != 0:
            if self.dead or time.monotonic() > deadline:
                raise RuntimeError("the FWK proxy did not start")
            time.sleep(0.01)

    def view(self, base: int, ncores: int) -> "FWKView":
        """The part of the channels that belongs to one partition."""
        return FWKView(self, base, ncores)

    def alive(self) -> bool:
        if self.dead is None and self.proc.poll() is not None:
            self.dead = time.monotonic()
        return self.dead is None

    def call(self, core: int, tid: int, function: int, params) -> int:
        if self.dead is not None:
            return -errno.EIO
        pair = self.pairs[core]
        self.seq[core] += 1
        t = time.perf_counter_ns()
        pair.requests.push(C.request(tid, function, self.seq[core], params),
                           wake=self.policy != "spin")
        try:
            pair.replies.wait(self.policy, self.spin_us, self.alive)
        except C.ProxyDead:
            return -errno.EIO
        magic, _, _, seq, _, ret = C.decode(pair.replies.pop())
        self.rtt_ns[core].append(time.perf_counter_ns() - t)
        if magic != C.MAGIC or seq != self.seq[core]:
            return -errno.EIO
        return ret

    def close(self) -> None:
        if self.dead is None and self.proc.poll() is None:
            try:
                self.pairs[0].requests.push(C.request(0, C.FWK_SHUTDOWN, 0, ()), wake=True)
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()
        for a, b in self.events:
            os.close(a)
            os.close(b)
        os.close(self.chan_fd)


class FWKView:
    """One partition's cores on a machine-wide FWK proxy: local core i is
    channel pair base + i."""
    kind = "proxy"

    def __init__(self, client: FWKClient, base: int, ncores: int):
        self.client, self.base, self.ncores = client, base, ncores

    policy = property(lambda self: self.client.policy)
    pid = property(lambda self: self.client.pid)
    dead = property(lambda self: self.client.dead)
    rtt_ns = property(lambda self: self.client.rtt_ns[self.base:self.base + self.ncores])

    def call(self, core: int, tid: int, function: int, params) -> int:
        return self.client.call(self.base + core, tid, function, params)

    def close(self) -> None:
        pass                                  # the machine stops the proxy
