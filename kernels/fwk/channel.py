"""The offload channel between a kernel core and the FWK proxy (Azalea's design).

Per core, a pair of circular queues in shared memory — requests (core ->
proxy) and replies (proxy -> core) — holding fixed-size packets:

    offset  size  field
    0       4     magic     0x5D4C3B2A
    4       4     tid       the guest thread making the call
    8       4     function  what to do: a Linux syscall number, or an FWK_* code
    12      4     seq       request number, echoed in the reply
    16      48    param1..6 arguments; pointers are guest-physical addresses
                            (offsets into the kernel instance's memory segment,
                            which the proxy maps too: zero copy)
    64      8     ret       result, or -errno
    72      56    (padding to 128 bytes: two cache lines)

A queue is a 128-byte header (producer index at 0, consumer index at 64, each
on its own cache line, and a "consumer is asleep" flag at 72) followed by
SLOTS packets.  One producer and one consumer per queue.

Waiting for the other side is a policy: `spin` polls the queue; `block`
sleeps on an eventfd the producer signals; `spin-then-block` polls for a
while, then sleeps.  A sleeper wakes up every BLOCK_RECHECK seconds to look
again, so a wake-up lost to a race costs latency, never a hang.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import select
import struct
import time

MAGIC = 0x5D4C3B2A
PACKET = struct.Struct("<IIII6Qq56x")
PACKET_SIZE = PACKET.size            # 128
SLOTS = 64
HEADER = 128
QUEUE_SIZE = HEADER + SLOTS * PACKET_SIZE
PAIR_SIZE = 2 * QUEUE_SIZE
assert PACKET_SIZE == 128

POLICIES = ("spin", "block", "spin-then-block")
DEFAULT_POLICY = "spin-then-block"
DEFAULT_SPIN_US = 200
BLOCK_RECHECK = 0.05

# FWK functions that are not syscalls (numbers above every syscall number).
FWK_SHUTDOWN = 4000
FWK_HELLO = 4001          # params: pid, uid; registers a process, returns 0
FWK_STDIO = 4002          # param1: guest fd 0-2; returns the proxy's handle for it
FWK_FD_PATH = 4003        # param1: handle, param2: out buffer, param3: size -> length
FWK_DUP = 4004            # param1: handle -> a new handle to the same file
FWK_FD_KIND = 4005        # param1: handle -> KIND_*
FWK_BYE = 4006            # the process is gone: close everything it had
FWK_PING = 4007           # returns 0 once the proxy serves calls
FWK_REOPEN = 4009         # params: handle, flags -> a new handle opening the same file anew
FWK_MADE = 4010           # params: phys, length, path phys -> a read-only handle of those bytes
FWK_MADE_DIR = 4012       # params: entries phys, length, path phys -> a directory handle listing them
FWK_DEVICE = 4013         # params: name phys (null, pts/3...), flags -> a host device of the fixed list
FWK_REDIRECTED = 4014     # params: out, size -> the guest path the caller's last walk handed back
FWK_CWD_OF = 4015         # params: pid, out, size -> that process's working directory
EMODEL = 600              # result: the walk arrived at the guest's /proc, /dev or /sys (sandbox.py)
FWK_FORK = 4008           # params: child tid, child pid: a process forked by the caller's

# Kinds of handle, returned with every handle in bits 32..39 of `ret`.
KIND_FILE, KIND_DIR, KIND_FIFO, KIND_SOCKET, KIND_CHAR, KIND_OTHER = 0, 1, 2, 3, 4, 5
KIND_PIDFD = 6            # guest-side only: a pidfd (kernels/syscalls/proc_pidfd.py)


class ProxyDead(Exception):
    """The FWK proxy is gone."""


class Queue:
    """One circular queue over a shared mapping at `offset`."""

    def __init__(self, buf: mmap.mmap, offset: int, event_fd: int):
        self.buf = buf
        self.off = offset
        self.event_fd = event_fd
        self._head = ctypes.c_uint64.from_buffer(buf, offset)
        self._tail = ctypes.c_uint64.from_buffer(buf, offset + 64)
        self._asleep = ctypes.c_uint64.from_buffer(buf, offset + 72)

    def empty(self) -> bool:
        return self._head.value == self._tail.value

    def push(self, packet: bytes, wake: bool) -> None:
        head = self._head.value
        while head - self._tail.value >= SLOTS:          # full: the other side is behind
            time.sleep(0)
        slot = self.off + HEADER + (head % SLOTS) * PACKET_SIZE
        self.buf[slot:slot + PACKET_SIZE] = packet
        self._head.value = head + 1                       # publish (x86: stores stay in order)
        if wake and self._asleep.value:
            os.eventfd_write(self.event_fd, 1)

    def pop(self) -> bytes:
        tail = self._tail.value
        slot = self.off + HEADER + (tail % SLOTS) * PACKET_SIZE
        data = self.buf[slot:slot + PACKET_SIZE]
        self._tail.value = tail + 1
        return data

    def wait(self, policy: str, spin_us: int, alive=None) -> None:
        """Until the queue is not empty.  `alive()` is asked now and then; when
        it says False, ProxyDead is raised."""
        if not self.empty():
            return
        if policy != "block":
            deadline = time.perf_counter() + spin_us / 1e6 if policy != "spin" else None
            n = 0
            while self.empty():
                n += 1
                if n & 0x3FFF == 0:
                    if alive is not None and not alive():
                        raise ProxyDead
                    if deadline is not None and time.perf_counter() > deadline:
                        break
            else:
                return
        while True:
            self._asleep.value = 1
            if not self.empty():
                self._asleep.value = 0
                return
            ready, _, _ = select.select([self.event_fd], [], [], BLOCK_RECHECK)
            self._asleep.value = 0
            if ready:
                os.eventfd_read(self.event_fd)
            if not self.empty():
                return
            if alive is not None and not alive():
                raise ProxyDead


class ChannelPair:
    """The request and reply queues of one core, in one shared segment."""

    def __init__(self, buf: mmap.mmap, offset: int, req_event: int, rep_event: int):
        self.requests = Queue(buf, offset, req_event)
        self.replies = Queue(buf, offset + QUEUE_SIZE, rep_event)


def create_segment(ncores: int) -> tuple[int, mmap.mmap]:
    fd = os.memfd_create("azemu-fwk-channels", 0)     # inherited by the proxy
    os.ftruncate(fd, ncores * PAIR_SIZE)
    return fd, mmap.mmap(fd, ncores * PAIR_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def request(tid: int, function: int, seq: int, params) -> bytes:
    p = list(params) + [0] * (6 - len(params))
    return PACKET.pack(MAGIC, tid, function, seq, *[x & 0xFFFFFFFFFFFFFFFF for x in p], 0)


def reply(req: bytes, ret: int) -> bytes:
    magic, tid, function, seq, *params, _ = PACKET.unpack(req)
    return PACKET.pack(magic, tid, function, seq, *params, ret)


def decode(packet: bytes):
    """(magic, tid, function, seq, params, ret)"""
    magic, tid, function, seq, *rest = PACKET.unpack(packet)
    return magic, tid, function, seq, rest[:6], rest[6]
