"""The Azalea multikernel model hosted on the azemu machine.

Public entry points: `Kernel` (one kernel instance running one program) and
`ExecError` (a program that cannot be started).  They are loaded on first
use, so that a process needing only a part of the package — the FWK proxy,
which serves I/O and never emulates — does not import the emulator.
"""
__all__ = ["Kernel", "ExecError", "MODES", "run_program"]


def __getattr__(name):
    if name in __all__:
        from . import kernel
        return getattr(kernel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
