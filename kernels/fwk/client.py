"""The kernel's end of the FWK: the service, and one proxy per kernel instance.

`FWKService` is azemu's handle on the FWK service process
(kernels/fwk/proxy.py): started once, on first need, with
`python -S -m kernels.fwk.proxy` and a control socket.  `FWKClient` is one
kernel instance's proxy: it makes the instance's channel segment (one
request/reply queue pair per core, kernels/fwk/channel.py), asks the
service for a worker, handing it that segment and the instance's memory
segment — nothing else — with the instance's own root, and then turns each
`call()` into a packet on the calling core's request queue and waits for
the reply, as the wait policy says (kernels/fwk/waiting.py).  Each round
trip is timed for `--stats` (the start-up ping is not).

A proxy is lost when it exits (seen on a pidfd), or when its heartbeat
stops for `timeout` seconds while this side was running to see it (a
stopped or hung proxy; `--fwk-timeout`).  Then the lost proxy is killed,
the call in flight and every later call return -EIO, `dead` says since
when and `lost` how, and the kernel reports it in one line and ends.
"""
from __future__ import annotations

import array
import ctypes
import errno
import importlib.util
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from . import channel as C
from . import waiting as W

# The CPU the calling thread is on (-1 where the C library has no sched_getcpu:
# then the proxy is never asked to come near, kernels/fwk/waiting.py).  Called
# holding the GIL (PyDLL): it never blocks, and it is asked on every call.
_this_cpu = getattr(ctypes.PyDLL(None), "sched_getcpu", lambda: -1)

STARTUP_TIMEOUT = 30.0
DEFAULT_TIMEOUT = 5.0          # seconds without a heartbeat before a proxy is lost
CHECK_S = 0.05                 # how often a waiting call looks at the proxy's health
SELF_GAP_S = 1.0               # a gap this long between looks: this side was not running


class FWKService:
    """The FWK service process, shared by every kernel instance of this
    azemu process (Azalea's one FWK for many kernels)."""

    _lock = threading.Lock()
    _current = None

    @classmethod
    def get(cls) -> "FWKService":
        with cls._lock:
            if cls._current is None or cls._current.proc.poll() is not None:
                cls._current = cls()
            return cls._current

    def __init__(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        # The service imports this very `kernels` package, wherever it was
        # imported from, and nothing from site-packages (-S): a quick start.
        pkg_root = os.path.dirname(importlib.util.find_spec("kernels").submodule_search_locations[0])
        env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-m", "kernels.fwk.proxy", "--control", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, close_fds=True)
        theirs.close()
        self.ctl = mine
        self.pid = self.proc.pid
        self.lock = threading.Lock()

    def start_worker(self, fds, spec: dict) -> int:
        """A worker serving one instance, handed `fds` (its memory segment,
        its channel segment, and maybe three fds for the guest's 0-2); its pid."""
        fds = array.array("i", fds)
        with self.lock:
            try:
                self.ctl.sendmsg([json.dumps(spec).encode()],
                                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
                answer = self.ctl.recv(4096)
            except OSError as e:
                raise RuntimeError(f"the FWK service is gone ({e.strerror})") from None
        if not answer:
            raise RuntimeError("the FWK service is gone")
        answer = json.loads(answer)
        if "error" in answer:
            raise RuntimeError(f"the FWK service refused: {answer['error']}")
        return answer["pid"]

    def close(self) -> None:
        self.ctl.close()                       # the service sees EOF and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class FWKClient:
    """One kernel instance's proxy: `phys` (its memory), `ncores` channels."""
    kind = "proxy"

    def __init__(self, phys, ncores: int = 1, *, root=None, readonly=False,
                 policy: str = C.DEFAULT_POLICY, spin_us: int = C.DEFAULT_SPIN_US,
                 timeout: float = DEFAULT_TIMEOUT, stdio=None):
        """`stdio`: three host fds for the guest's 0-2 (default: azemu's)."""
        if policy not in C.POLICIES:
            raise ValueError(f"unknown wait policy {policy!r}")
        self.policy, self.spin_us, self.timeout = policy, spin_us, timeout
        self.ncores = ncores
        self.chan_fd, self.chan = C.create_segment(ncores)
        self.pairs = [C.ChannelPair(self.chan, i) for i in range(ncores)]
        self.waiters = [W.Waiter(policy, spin_us) for _ in range(ncores)]
        self.seq = [0] * ncores
        self.rtt_ns = [[] for _ in range(ncores)]
        self.packet_log = None        # trace_packets(): the channel, packet by packet
        self.dead = None              # monotonic time the proxy was lost
        self.lost = None              # how: "died", "stopped", "hung"
        self._beat = C.heartbeat(self.chan)
        self._beat_seen = self._beat.value
        self._beat_at = self._checked = time.monotonic()
        self.service = FWKService.get()
        spec = {"cores": ncores, "size": phys.size, "root": os.fsdecode(root) if root else None,
                "ro": bool(readonly), "policy": policy, "spin_us": spin_us, "timeout": timeout}
        # the guest's 0-2: those given, or azemu's own as they are now (a closed one stays closed)
        stdio = [fd if _open(fd) else None for fd in (stdio or (0, 1, 2))]
        spec["stdio"] = [fd is not None for fd in stdio]
        self.pid = self.service.start_worker([phys.fd, self.chan_fd] + [fd for fd in stdio if fd is not None],
                                             spec)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError:
            self._pidfd = None
            self._lose("died")
        self._exit_poll = select.poll()
        if self._pidfd is not None:
            self._exit_poll.register(self._pidfd, select.POLLIN)
        # the proxy answers pings once it is up: wait for it (not a round trip of the guest's)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self._call(0, 0, C.FWK_PING, ()) != 0:
            if self.dead or time.monotonic() > deadline:
                raise RuntimeError("the FWK proxy did not start")
            time.sleep(0.01)

    def alive(self) -> bool:
        """Whether the proxy still serves; looks at most every CHECK_S."""
        if self.dead is not None:
            return False
        now = time.monotonic()
        if now - self._checked < CHECK_S:
            return True
        gap, self._checked = now - self._checked, now
        if self._exit_poll.poll(0):
            self._lose("died")
            return False
        beat = self._beat.value
        if beat != self._beat_seen or gap > SELF_GAP_S:
            # it beat; or this side did not run for a while (stopped with the
            # job, or starved): the proxy gets the whole timeout again
            self._beat_seen, self._beat_at = beat, now
        elif now - self._beat_at > self.timeout:
            self._lose(_state(self.pid))
            return False
        return True

    def _lose(self, how: str) -> None:
        self.dead, self.lost = time.monotonic(), how
        if how != "died":
            try:
                os.kill(self.pid, signal.SIGKILL)     # it must not act on calls given up
            except OSError:
                pass

    def call(self, core: int, tid: int, function: int, params) -> int:
        t = time.perf_counter_ns()
        ret = self._call(core, tid, function, params)
        if ret != -errno.EIO or self.dead is None:
            self.rtt_ns[core].append(time.perf_counter_ns() - t)
        return ret

    def trace_packets(self, stream) -> None:
        """Log every later round trip, packet by packet (kernels/fwk/packet_log.py)."""
        from .packet_log import PacketLog
        self.packet_log = PacketLog(stream)
        self.call = self._traced_call

    def _traced_call(self, core: int, tid: int, function: int, params) -> int:
        pair = self.pairs[core]
        req_i, rep_i = pair.requests.index("head"), pair.replies.index("tail")
        t = time.perf_counter_ns()
        ret = self._call(core, tid, function, params)
        dt = time.perf_counter_ns() - t
        if self.dead is None:
            self.rtt_ns[core].append(dt)
            self.packet_log.record(pair, core, pair.requests.packet_at(req_i), req_i,
                                   pair.replies.packet_at(rep_i), rep_i, dt)
        return ret

    def _call(self, core: int, tid: int, function: int, params) -> int:
        if self.dead is not None:
            return -errno.EIO
        pair, waiter = self.pairs[core], self.waiters[core]
        sent = self.seq[core] = self.seq[core] + 1
        C.send_request(pair.requests, tid, function, sent, params, _this_cpu() + 1 if waiter.near() else 0)
        try:
            magic, seq, ret = pair.replies.take(waiter, self.alive, C.ANSWER)
        except C.ProxyDead:
            return -errno.EIO
        if magic != C.MAGIC or seq != sent:
            return -errno.EIO
        return ret

    def describe_loss(self) -> str:
        """The one line that says what became of the proxy."""
        what = {"died": "died during the run",
                "stopped": f"was stopped (no heartbeat for {self.timeout:g} s; --fwk-timeout)",
                "hung": f"stopped answering (no heartbeat for {self.timeout:g} s; --fwk-timeout)"}
        return (f"the FWK proxy (pid {self.pid}) {what.get(self.lost, 'was lost')}: "
                "file and network calls failed with EIO")

    def close(self) -> None:
        if self.dead is None and not self._exit_poll.poll(0):
            C.send_request(self.pairs[0].requests, 0, C.FWK_SHUTDOWN, 0, ())
            if not self._exit_poll.poll(5000):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        os.close(self.chan_fd)
        self.pairs = self._beat = None          # the views into the channels, then the map
        try:
            self.chan.close()
        except BufferError:
            pass


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _state(pid: int) -> str:
    """"stopped" when the process is stopped (or traced), else "hung"."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "died"
    return "stopped" if state in (b"T", b"t") else "hung"
