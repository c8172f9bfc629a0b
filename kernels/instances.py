"""Unikernel instances: in unikernel mode, a new process is a new instance.

A unikernel has one address space by design, so a program that makes
processes (a shell, a compiler driver, a test harness) runs as several
unikernel instances, the way unikernel research gave fork to unikernels by
cloning the VM (KylinX's pVM fork, USENIX ATC 2018):

* the first process runs on the instance `azemu exec` booted, on its
  `--cores` cores;
* fork, vfork and clone without CLONE_THREAD **clone the instance**: the
  child is a new instance with as many cores as its parent's — cores an
  ended instance gave back first, else new ones from the machine; with none
  left (the machine's MAX_CORES) the call fails with EAGAIN — running the
  child's address space, a copy-on-write clone of the parent's (frames are
  shared until one side writes, as in VM cloning with copy-on-write memory);
  a libOS image's clone gets its own copy of the libOS's task data and the
  function hook on its own cores;
* execve **boots the instance again** from the new image: its cores drop
  their translated code and take the new image's entry (the libOS's
  function hook for an image built with `azemu build`, none for an
  ordinary binary);
* the instance ends with its process, and its cores go back to the machine.

Every instance shares the FWK (one proxy) and the machine's memory (each
address space takes frames from it; `--mem` bounds them all).  A core only
ever runs its own instance's one address space: no core passes from one
process to another, as a core of an LWK hosting several processes does.
The scheduler still runs the machine's cores one after another (they share
memory: kernels/sched.py).  Counted per core as `instance_clone` and
`instance_boot` (in place of `fork` and `execve`) and priced by
kernels/costmodel.py.
"""
from __future__ import annotations

from azemu.machine import MachineFull

from .abi.linux_errno import EAGAIN
from .errors import LinuxError


class Instance:
    """A unikernel instance: its number and its cores (local indices)."""
    __slots__ = ("number", "cores")

    def __init__(self, number: int, cores: list[int]):
        self.number, self.cores = number, cores

    def __repr__(self):
        return f"Instance({self.number}, cores {self.cores})"


class Instances:
    def __init__(self, kernel, ncores: int):
        self.k = kernel
        self.first = Instance(0, list(range(ncores)))
        self.free: list[int] = []             # cores ended instances gave back
        self.booted = 1                       # instances so far, the first included
        self.live = 1

    def clone(self, parent) -> Instance:
        """A new instance for a child of process `parent` (EAGAIN: no cores left)."""
        want = len(parent.instance.cores)
        cores: list[int] = []
        try:
            while len(cores) < want:
                cores.append(self.free.pop(0) if self.free else self.k.add_core())
        except MachineFull:
            self.free[:0] = cores
            raise LinuxError(EAGAIN) from None
        for i in cores:
            self.k.part.cores[i].forget_code()   # what an ended instance had translated
        inst = Instance(self.booted, cores)
        self.booted += 1
        self.live += 1
        return inst

    def boot(self, proc) -> None:
        """`proc` has a new image (execve): its instance takes its entry."""
        for i in proc.instance.cores:
            self.k.part.cores[i].forget_code()
            self.k.install_libos(i, proc.libos)

    def release(self, proc) -> None:
        """`proc` ended: its instance's cores go back to the machine."""
        inst = proc.instance
        if inst is None or inst is self.first or not inst.cores:
            return
        self.free.extend(inst.cores)
        inst.cores = []
        self.live -= 1
