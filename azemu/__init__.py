"""azemu: an x86-64 machine emulator on Unicorn hosting the Azalea multikernel model.

The machine side lives here (cores, memory, ELF loading, crash reports, the
command line); the kernels it hosts live in the `kernels` package.
"""
__version__ = "0.1.0"
