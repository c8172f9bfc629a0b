"""The FWK channel, packet by packet: `azemu exec --trace-fwk FILE`.

A teaching and debugging view of the offload channel (kernels/fwk/channel.py).
For every round trip a kernel core makes to its FWK proxy it writes the
request packet as it lay in its slot of the core's request queue, and the
reply packet as it lay in the reply queue, field by field and as the bytes
the other side read:

    #3 core 0 request slot 2 at 0x150 of the channel segment (1.2 ms)
       magic 0x5d4c3b2a tid 1 function 257 openat seq 3
       params 0xffffff9c 0x20a000 0x0 0x1b6 0x0 0x0
       bytes 2a3b4c5d 01000000 01010000 03000000 | 9cffffff ffffffff ...
    #3 core 0 reply slot 2 at 0x2190: seq 3 ret 0x300000003 (kind 0, handle 3) after 21.4 us

Only the first 72 bytes of a packet carry anything (the rest is padding to
two cache lines), so only those are shown.  The log costs nothing when it is
off: FWKClient.trace_packets() swaps in a traced `call` only when asked.
"""
from __future__ import annotations

import errno
import time

from . import channel as C

FWK_NAMES = {v: k for k, v in vars(C).items() if k.startswith("FWK_") and isinstance(v, int)}
USED_BYTES = 72                       # magic, tid, function, seq, six params, ret


def function_name(function: int) -> str:
    if function in FWK_NAMES:
        return FWK_NAMES[function]
    from kernels.syscalls.table import name_of
    return name_of(function)


def _bytes(raw: bytes) -> str:
    words = [raw[i:i + 4].hex() for i in range(0, USED_BYTES, 4)]
    return " ".join(words[:4]) + " | " + " ".join(words[4:16]) + " | " + " ".join(words[16:])


def describe_ret(ret: int) -> str:
    """The reply's `ret` as the kernel reads it: -errno, a handle with its
    kind in bits 32..39, or a count."""
    if ret < 0:
        return f"{ret} (-{errno.errorcode.get(-ret, '?')})"
    if ret >> 32:
        return f"{ret:#x} (kind {(ret >> 32) & 0xFF}, handle {ret & 0xFFFFFFFF})"
    return str(ret)


class PacketLog:
    """Writes each round trip of one FWKClient to `stream`."""

    def __init__(self, stream):
        self.stream = stream
        self.count = 0
        self.t0 = time.perf_counter()

    def record(self, pair, core: int, request: bytes, req_index: int,
               reply: bytes, rep_index: int, rtt_ns: int) -> None:
        self.count += 1
        n = self.count
        magic, tid, function, seq, params, _ = C.decode(request)
        rmagic, _, _, rseq, _, ret = C.decode(reply)
        slot = req_index % C.SLOTS
        rslot = rep_index % C.SLOTS
        at = pair.requests.off + C.HEADER + slot * C.PACKET_SIZE
        rat = pair.replies.off + C.HEADER + rslot * C.PACKET_SIZE
        since = (time.perf_counter() - self.t0) * 1e3
        w = self.stream.write
        w(f"#{n} core {core} request slot {slot} at {at:#x} of the channel segment ({since:.1f} ms)\n")
        w(f"   magic {magic:#x} tid {tid} function {function} {function_name(function)} seq {seq}\n")
        w("   params " + " ".join(f"{p:#x}" for p in params) + "\n")
        w(f"   bytes {_bytes(request)}\n")
        w(f"#{n} core {core} reply slot {rslot} at {rat:#x}: magic {rmagic:#x} seq {rseq} "
          f"ret {describe_ret(ret)} after {rtt_ns / 1e3:.1f} us\n")
        w(f"   bytes {_bytes(reply)}\n")

    def close(self) -> None:
        self.stream.write(f"# {self.count} round trips\n")
        self.stream.flush()
