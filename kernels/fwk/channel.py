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

The segment starts with a 128-byte control block (the proxy's heartbeat
counter at 0), then one pair of queues per core.  A queue is a 128-byte
header (producer index at 0, consumer index at 64, each on its own cache
line, and a "consumer is asleep" flag at 72) followed by SLOTS packets.  One
producer and one consumer per queue.

Waiting for the other side is a policy (kernels/fwk/waiting.py): poll the
queue for a bounded time — measured in time, yielding the CPU now and then —
then sleep in the kernel on a futex on the producer index (FUTEX_WAIT on a
shared mapping), which the producer wakes when the consumer said it sleeps.
The futex compares the index as it goes to sleep, so a wake-up cannot be
lost between the check and the sleep; the kernel's side still looks again
every BLOCK_RECHECK seconds, to ask whether the proxy is alive (the proxy's
watchers sleep until woken).  No file
descriptor per core: a machine of any size waits the same way.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import struct
import time

from . import waiting as W

MAGIC = 0x5D4C3B2A
PACKET = struct.Struct("<IIII6Qq56x")
PACKET_SIZE = PACKET.size            # 128
SLOTS = 64
HEADER = 128
QUEUE_SIZE = HEADER + SLOTS * PACKET_SIZE
PAIR_SIZE = 2 * QUEUE_SIZE
assert PACKET_SIZE == 128

CONTROL = 128                        # the control block before the pairs
HEARTBEAT = 0                        # its offset of the proxy's heartbeat counter
# (the waiting policies: kernels/fwk/waiting.py)
POLICIES, DEFAULT_POLICY, DEFAULT_SPIN_US = W.POLICIES, W.DEFAULT_POLICY, W.DEFAULT_SPIN_US

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
FWK_READ = 4016           # params: handle, phys, len[, phys2, len2] -> readv into those extents
FWK_WRITE = 4017          # params: handle, phys, len[, phys2, len2] -> writev from those extents
EMODEL = 600              # result: the walk arrived at the guest's /proc, /dev or /sys (sandbox.py)
FWK_FORK = 4008           # params: child tid, child pid: a process forked by the caller's

# Kinds of handle, returned with every handle in bits 32..39 of `ret`.
KIND_FILE, KIND_DIR, KIND_FIFO, KIND_SOCKET, KIND_CHAR, KIND_OTHER = 0, 1, 2, 3, 4, 5
KIND_PIDFD = 6            # guest-side only: a pidfd (kernels/syscalls/proc_pidfd.py)


class ProxyDead(Exception):
    """The FWK proxy is gone."""


class Queue:
    """One circular queue over a shared mapping at `offset`."""

    def __init__(self, buf: mmap.mmap, offset: int):
        self.buf = buf
        self.off = offset
        self._head = ctypes.c_uint64.from_buffer(buf, offset)
        self._tail = ctypes.c_uint64.from_buffer(buf, offset + 64)
        self._asleep = ctypes.c_uint64.from_buffer(buf, offset + 72)
        self._futex = W.futex_word(ctypes.addressof(self._head))   # the futex: its low 32 bits

    def empty(self) -> bool:
        return self._head.value == self._tail.value

    def push(self, packet: bytes) -> None:
        """Post a packet given as bytes (the tests' raw packets)."""
        self.send(*PACKET.unpack(packet))

    def send(self, *fields) -> None:
        """Post a packet of PACKET's fields, packed straight into its slot."""
        head = self._head.value
        while head - self._tail.value >= SLOTS:          # full: the other side is behind
            time.sleep(0)
        PACKET.pack_into(self.buf, self.off + HEADER + (head % SLOTS) * PACKET_SIZE, *fields)
        self._head.value = head + 1                       # publish (x86: stores stay in order)
        if self._asleep.value:
            W.futex_wake(self._futex)

    def pop(self) -> bytes:
        tail = self._tail.value
        slot = self.off + HEADER + (tail % SLOTS) * PACKET_SIZE
        data = self.buf[slot:slot + PACKET_SIZE]
        self._tail.value = tail + 1
        return data

    def packet_at(self, index: int) -> bytes:
        """The bytes of the packet posted as number `index` (while its slot
        has not been reused: SLOTS packets later); for the packet log."""
        slot = self.off + HEADER + (index % SLOTS) * PACKET_SIZE
        return bytes(self.buf[slot:slot + PACKET_SIZE])

    def index(self, which: str = "head") -> int:
        """The producer ("head") or consumer ("tail") index."""
        return (self._head if which == "head" else self._tail).value

    def receive(self, layout: struct.Struct = PACKET) -> tuple:
        """The next packet's fields as `layout` unpacks them, read in place."""
        tail = self._tail.value
        fields = layout.unpack_from(self.buf, self.off + HEADER + (tail % SLOTS) * PACKET_SIZE)
        self._tail.value = tail + 1
        return fields

    def take(self, waiter: W.Waiter, alive=None, layout: struct.Struct = PACKET) -> tuple:
        """wait(), then receive(): the next packet's fields (in one call:
        both ends' hot path, kernels/fwk/proxy.py and client.py)."""
        tail = self._tail.value
        if self._head.value == tail:
            self.wait(waiter, alive)
        fields = layout.unpack_from(self.buf, self.off + HEADER + (tail % SLOTS) * PACKET_SIZE)
        self._tail.value = tail + 1
        return fields

    def wait(self, waiter: W.Waiter, alive=None) -> None:
        """Until the queue is not empty.  `alive()` is asked at least every
        BLOCK_RECHECK seconds while sleeping; when it says False, ProxyDead
        is raised.  Without `alive` (the proxy's side), a sleep has no end
        but the producer's wake-up, which cannot be lost."""
        head, tail = self._head, self._tail
        if head.value != tail.value:
            return
        budget = waiter.budget()
        if budget is None or budget:
            now = time.perf_counter_ns
            end = now() + budget if budget is not None else None
            polls = 0
            while True:
                for _ in range(W.POLLS):
                    if head.value != tail.value:
                        if end is not None:
                            waiter.polled(True)
                        return
                polls += 1
                if end is not None and now() > end:
                    waiter.polled(False)
                    break
                if polls & 3 == 0:
                    os.sched_yield()               # a thread waiting for this CPU runs
                    if end is None and polls & 0xFFF == 0 and alive is not None and not alive():
                        raise ProxyDead
        asleep, word = self._asleep, self._futex
        while True:
            seen = head.value
            asleep.value = 1
            if seen != tail.value:
                asleep.value = 0
                return
            W.futex_wait(word, seen & 0xFFFFFFFF, alive is not None)
            asleep.value = 0
            if head.value != tail.value:
                return
            if alive is not None and not alive():
                raise ProxyDead


class ChannelPair:
    """The request and reply queues of one core, in one shared segment."""

    def __init__(self, buf: mmap.mmap, index: int):
        offset = CONTROL + index * PAIR_SIZE
        self.requests = Queue(buf, offset)
        self.replies = Queue(buf, offset + QUEUE_SIZE)


def segment_size(ncores: int) -> int:
    return CONTROL + ncores * PAIR_SIZE


def create_segment(ncores: int) -> tuple[int, mmap.mmap]:
    """A partition's channels: its proxy maps this memfd, and nobody else's."""
    fd = os.memfd_create("azemu-fwk-channels", os.MFD_CLOEXEC)
    os.ftruncate(fd, segment_size(ncores))
    return fd, mmap.mmap(fd, segment_size(ncores), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def heartbeat(buf: mmap.mmap):
    """The control block's heartbeat counter (a ctypes c_uint64)."""
    return ctypes.c_uint64.from_buffer(buf, HEARTBEAT)


_U64 = 0xFFFFFFFFFFFFFFFF
_PAD = ((), (0,), (0, 0), (0, 0, 0), (0, 0, 0, 0), (0, 0, 0, 0, 0), (0,) * 6)
ANSWER = struct.Struct("<I8xI48xq")           # magic, seq and ret of a reply


def send_request(queue: Queue, tid: int, function: int, seq: int, params, near: int = 0) -> None:
    """Post a request on `queue`; params past the given ones are 0, and each
    is taken modulo 2**64 (a negative one as the register would hold it).
    `near`, in the slot a reply's result takes, is 1 + the CPU the proxy
    should serve this core on, or 0 (kernels/fwk/waiting.py)."""
    pad = _PAD[6 - len(params)]
    try:
        queue.send(MAGIC, tid, function, seq, *params, *pad, near)
    except struct.error:                  # a negative parameter: rare, so masked only then
        queue.send(MAGIC, tid, function, seq, *[x & _U64 for x in params], *pad, near)


def decode(packet: bytes):
    """(magic, tid, function, seq, params, ret)"""
    magic, tid, function, seq, *rest = PACKET.unpack(packet)
    return magic, tid, function, seq, rest[:6], rest[6]
