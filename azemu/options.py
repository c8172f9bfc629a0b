"""What a good value of each command-line option is, and the one line a bad one gets.

Each function here is an argparse `type=`: it turns the text into a value or
raises `argparse.ArgumentTypeError` with a message that names the option's
limit, which the command line prints as one line with exit status 2.  The
limits themselves are the machine's (azemu/limits.py).  Machine files
(`azemu run`) use the same parsers, so a bad size reads the same there.
"""
from __future__ import annotations

import argparse

from .limits import MAX_CORES, MIN_MEMORY, host_memory

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _human(n: int) -> str:
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n // size}{unit}" if n % size == 0 else f"{n / size:.1f}{unit}"
    return str(n)


def parse_size(text) -> int:
    """A memory size: bytes, or a number with K, M, G or T (KiB, MiB, ...)."""
    if isinstance(text, int):
        return text
    t = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    try:
        n = int(float(t[:-1]) * _UNITS[t[-1]]) if t and t[-1] in _UNITS else int(t)
    except (ValueError, KeyError, OverflowError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (try 256M or 2G)") from None
    return n


def memory(text) -> int:
    """The memory of a kernel instance or a machine: at least MIN_MEMORY, at
    most what the host has (guest memory is host memory)."""
    n = parse_size(text)
    if n < MIN_MEMORY:
        raise argparse.ArgumentTypeError(f"{text}: a kernel instance needs at least "
                                         f"{_human(MIN_MEMORY)}")
    limit = host_memory()
    if n > limit:
        raise argparse.ArgumentTypeError(f"{text}: more than this host's memory "
                                         f"({_human(limit)}), the limit")
    return n


def _integer(text, what: str) -> int:
    try:
        return int(str(text), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None


def cores(text) -> int:
    n = _integer(text, "cores")
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: a kernel instance needs at least 1 core")
    if n > MAX_CORES:
        raise argparse.ArgumentTypeError(f"{text}: a machine has at most {MAX_CORES} cores")
    return n


def positive(what: str):
    """A count of `what` that must be at least 1."""
    def parse(text) -> int:
        n = _integer(text, what)
        if n < 1:
            raise argparse.ArgumentTypeError(f"{text}: needs at least 1 {what.rstrip('s')}")
        return n
    parse.__name__ = what
    return parse


def microseconds(text) -> int:
    n = _integer(text, "microseconds")
    if n < 0:
        raise argparse.ArgumentTypeError(f"{text}: a time cannot be negative")
    if n > 10_000_000:
        raise argparse.ArgumentTypeError(f"{text}: more than 10 s (10000000 µs), the limit")
    return n


def timeout_seconds(text) -> float:
    """A timeout in seconds: more than 0, at most an hour."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a number of seconds") from None
    if not 0 < x <= 3600:
        raise argparse.ArgumentTypeError(f"{text}: a timeout is more than 0 s and at most 3600 s")
    return x


def port(text) -> int:
    """A TCP port on localhost, 0 (any free one) to 65535."""
    n = _integer(text, "port")
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{n}: a port is 0 to 65535")
    return n
