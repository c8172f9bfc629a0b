"""How a kernel reaches host files and sockets: one call interface, two backends.

Every file and network syscall handler goes through `HostIO.call(function,
params...)` — the fields of an offload packet (kernels/fwk/channel.py): a
Linux syscall number and six parameters, pointers as guest-physical
addresses.  Who answers depends on the kernel:

* `InProcess` — the monolithic linux kernel serves its own I/O: the FWK's
  Server (kernels/fwk/server.py) runs inside the emulator process;
* `kernels.fwk.client.FWKClient` — lwk and unikernel guests: each call is a
  round trip over the core's offload channel to the FWK proxy process.

Both run the same Server and the same path confinement (kernels/fwk/sandbox.py).

The kernel also owns a small scratch area per core in the guest-physical
segment (never mapped into the guest): the place for what must be built
before a call — iovec lists of physical extents, a path that crosses a frame
boundary, structures the host writes and the kernel copies out.
"""
from __future__ import annotations

import struct
import time

from .errors import LinuxError, ModelPath

SCRATCH_SIZE = 64 << 10
BIG_MAX = 8 << 20            # the most one buffer of a call may take beyond the scratch
EMODEL = 600                 # the FWK's "this path is the kernel's tree" (kernels/fwk/channel.py)
_IOV = struct.Struct("<QQ")


class Scratch:
    """Bump allocator over the core's scratch extent; reset for every call.
    A call that carries more (a poll of thousands of fds) gets extents of
    its own from the instance's memory, up to BIG_MAX each, until the reset."""

    def __init__(self, phys, offset: int, size: int = SCRATCH_SIZE):
        self.phys, self.base, self.size = phys, offset, size
        self.used = 0
        self.big = []                      # (offset, length) taken beyond the extent

    def reset(self) -> "Scratch":
        self.used = 0
        if self.big:
            for off, length in self.big:
                self.phys.free(off, length)
            self.big = []
        return self

    def alloc(self, n: int) -> int:
        size = (n + 15) & ~15
        if self.used + size <= self.size:
            at = self.base + self.used
            self.used += size
            return at
        if size > BIG_MAX:
            raise LinuxError(7)            # E2BIG: more than a call can carry
        from azemu.memory import OutOfMemory
        try:
            ext = self.phys.alloc(size)
        except OutOfMemory:
            raise LinuxError(12) from None  # ENOMEM
        if len(ext) != 1:                  # no contiguous room: give it back
            for off, length in ext:
                self.phys.free(off, length)
            raise LinuxError(7)
        self.big.append(ext[0])
        return ext[0][0]

    def put(self, data: bytes) -> int:
        at = self.alloc(len(data))
        self.phys.view[at:at + len(data)] = data
        return at

    def get(self, at: int, n: int) -> bytes:
        return bytes(self.phys.view[at:at + n])

    def iov(self, extents) -> tuple[int, int]:
        """An iovec array of (phys, len) built here: (its phys address, count)."""
        return self.put(b"".join(_IOV.pack(o, n) for o, n in extents)), len(extents)


LOST_GRACE_S = 2.0     # a guest still calling this long after its proxy was lost is ended


class HostIO:
    """The kernel's end: raises LinuxError for a negative result."""

    def __init__(self, backend, tid: int, core_index: int = 0):
        self.backend = backend
        self.tid = tid
        self.core = core_index

    def lost_long_ago(self) -> bool:
        """The proxy was lost more than LOST_GRACE_S ago: a guest still
        calling is ended (kernels/syscalls/dispatch.py), as by SIGKILL."""
        dead = getattr(self.backend, "dead", None)
        return dead is not None and time.monotonic() - dead > LOST_GRACE_S

    def call(self, function: int, *params) -> int:
        ret = self.backend.call(self.core, self.tid, function, params)
        if ret < 0:
            if ret == -EMODEL:
                raise ModelPath()
            raise LinuxError(-ret)
        return ret


class InProcess:
    """The FWK Server, called directly (the monolithic kernel's own I/O)."""

    kind = "in-process"

    def __init__(self, phys, root=None, readonly=False, stdio=None):
        from .fwk.sandbox import Sandbox
        from .fwk.server import Server
        self.server = Server(phys.view, phys.base, Sandbox(root, readonly), stdio)

    def call(self, core: int, tid: int, function: int, params) -> int:
        return self.server.handle(tid, function, params)

    def close(self) -> None:
        self.server.close()
