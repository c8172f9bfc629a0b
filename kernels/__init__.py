"""The Azalea multikernel model hosted on the azemu machine.

Public entry points: `Kernel` (one kernel instance running one program) and
`ExecError` (a program that cannot be started).
"""
from .kernel import MODES, ExecError, Kernel, run_program

__all__ = ["Kernel", "ExecError", "MODES", "run_program"]
