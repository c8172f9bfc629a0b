"""The emulated machine: cores and physical memory, split into partitions.

A `Partition` is what one kernel instance owns: a set of cores (one Unicorn
instance each) and one physical memory segment of the size asked for — as
Azalea's `start.sh -i idx -c cpus -m mem` gives each kernel its cores and
memory.  Kernels use the machine only through this interface.
"""
from __future__ import annotations

from .core import Core
from .limits import DEFAULT_MEMORY, MAX_CORES, MIN_MEMORY
from .memory import AddressSpace, PhysicalMemory


class Partition:
    """One kernel instance's cores and memory."""

    def __init__(self, index: int, cores: list[Core], memory: PhysicalMemory):
        self.index = index
        self.cores = cores
        self.memory = memory
        self.spaces: list[AddressSpace] = []

    def new_address_space(self, **kw) -> AddressSpace:
        aspace = AddressSpace(self.memory, **kw)
        self.spaces = [s for s in self.spaces if not s.closed]   # (ended processes' go)
        self.spaces.append(aspace)
        return aspace

    def close(self) -> None:
        """The end of the kernel instance: its address spaces, then its
        memory (the segment's map and memfd are freed once no view of the
        page tables is left)."""
        for s in self.spaces:
            s.close()
            s.pt.release()
        self.memory.close()


class MachineFull(Exception):
    """Every core of the machine is in use."""


class Machine:
    def __init__(self):
        self.partitions: list[Partition] = []
        self._next_core = 0
        self.handler_tables = {}    # syscall tables its kernel instances share (kernels/kernel.py)

    def partition(self, ncores: int = 1, memory: int = DEFAULT_MEMORY) -> Partition:
        if not 1 <= ncores <= MAX_CORES - self._next_core:
            raise ValueError(f"a partition of {ncores} cores does not fit in a machine "
                             f"of at most {MAX_CORES} cores")
        if memory < MIN_MEMORY:
            raise ValueError(f"a partition needs at least {MIN_MEMORY >> 20} MiB of memory")
        cores = [Core(self._next_core + i) for i in range(ncores)]
        self._next_core += ncores
        phys = PhysicalMemory(memory, f"azemu-part{len(self.partitions)}")
        for core in cores:
            core.attach_memory(phys)
        part = Partition(len(self.partitions), cores, phys)
        self.partitions.append(part)
        return part

    def add_core(self, part: Partition) -> Core:
        """One more core for partition `part`, on its memory (a kernel that
        grows: a unikernel instance cloned for a new process)."""
        if self._next_core >= MAX_CORES:
            raise MachineFull(f"all {MAX_CORES} cores of the machine are in use")
        core = Core(self._next_core)
        self._next_core += 1
        core.attach_memory(part.memory)
        part.cores.append(core)
        return core
