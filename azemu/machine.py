"""The emulated machine: cores and physical memory, split into partitions.

A `Partition` is what one kernel instance owns: a set of cores (one Unicorn
instance each) and one physical memory segment of the size asked for — as
Azalea's `start.sh -i idx -c cpus -m mem` gives each kernel its cores and
memory.  Kernels use the machine only through this interface.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .core import Core
from .memory import AddressSpace, PhysicalMemory

DEFAULT_MEMORY = 1 << 30


@dataclass
class Partition:
    index: int
    cores: list[Core]
    memory: PhysicalMemory
    spaces: list[AddressSpace] = field(default_factory=list)

    def new_address_space(self, **kw) -> AddressSpace:
        aspace = AddressSpace(self.memory, **kw)
        self.spaces.append(aspace)
        return aspace

    def close(self) -> None:
        for s in self.spaces:
            s.close()
        self.memory.close()


class Machine:
    def __init__(self):
        self.partitions: list[Partition] = []
        self._next_core = 0

    def partition(self, ncores: int = 1, memory: int = DEFAULT_MEMORY) -> Partition:
        cores = [Core(self._next_core + i) for i in range(ncores)]
        self._next_core += ncores
        part = Partition(len(self.partitions), cores,
                         PhysicalMemory(memory, f"azemu-part{len(self.partitions)}"))
        self.partitions.append(part)
        return part
