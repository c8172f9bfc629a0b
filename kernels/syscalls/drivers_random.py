"""getrandom (Linux drivers/char/random.c): bytes from the host's generator."""
import os

from ..abi import linux as L
from ..abi.linux_errno import EINVAL
from ..errors import LinuxError


def getrandom(p, buf, buflen, flags):
    if flags & ~(L.GRND_NONBLOCK | L.GRND_RANDOM | L.GRND_INSECURE) or \
            flags & (L.GRND_RANDOM | L.GRND_INSECURE) == (L.GRND_RANDOM | L.GRND_INSECURE):
        raise LinuxError(EINVAL)
    n = min(buflen, 1 << 25)
    p.mm.write(buf, os.urandom(n))
    return n
