"""exit and exit_group (Linux kernel/exit.c)."""
from ..errors import GuestExit


def exit_group(p, status):
    raise GuestExit(status & 0xFF)


def exit(p, status):
    # One thread per process in this kernel: the thread's exit is the process's.
    raise GuestExit(status & 0xFF)
