"""The emulated machine's limits: how many cores, how much memory.

Kept apart from machine.py (which creates Unicorn instances) so that the
command line can check a value without loading the emulator.
"""
from __future__ import annotations

import os

DEFAULT_MEMORY = 1 << 30    # a kernel instance's memory unless told otherwise
MIN_MEMORY = 16 << 20       # room for the 8 MiB stack and a small program
# The most cores one machine has: the paper's manycore target.  Each core is
# one Unicorn instance, made when the core first runs (about 0.9 MiB and under
# 1 ms then, its translated code apart: azemu/core.py).
MAX_CORES = 1024


def host_memory() -> int:
    """The host's physical memory: the most an emulated machine can have,
    since every guest frame is a host page."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 1 << 40
