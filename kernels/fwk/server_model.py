"""The FWK's side of the kernel's /proc, /dev and /sys (kernels/procfs.py):
the few fixed ways the kernel's tree reaches the host.

* a made directory: a handle listing the entries the kernel gave (its host
  descriptor is an empty private directory, never the host's /proc);
* a device: the host's device of that name, from a fixed list — null,
  zero, full, random, urandom, tty, ptmx — or a pseudo-terminal the guest
  may use: the one azemu's own stdio is on, or one whose master the
  guest's instance opened through /dev/ptmx;
* the guest path a walk handed back (sandbox.Redirect), asked for by the
  kernel right after the call that failed with EMODEL;
* another process's working directory, for /proc/PID/cwd (same instance).
"""
from __future__ import annotations

import errno
import fcntl
import os
import struct
import tempfile

from ..procfs import DEVICES
from . import channel as C
_ENTRY = struct.Struct("<QBH")
TIOCGPTN = 0x80045430
_empty = None


def _empty_dir() -> bytes:
    global _empty
    if _empty is None:
        import atexit
        _empty = tempfile.mkdtemp(prefix="azemu-dir-").encode()
        atexit.register(os.rmdir, _empty)
    return _empty


def register(server) -> None:
    server.redirects = {}
    server.ops.update({C.FWK_MADE_DIR: lambda *a: made_dir(server, *a),
                       C.FWK_DEVICE: lambda *a: device(server, *a),
                       C.FWK_REDIRECTED: lambda *a: redirected(server, *a),
                       C.FWK_CWD_OF: lambda *a: cwd_of(server, *a)})


def made_dir(server, tid, phys, length, path_phys, *_):
    blob = bytes(server._range(phys, length))
    entries, at = [], 0
    while at < len(blob):
        ino, dtype, n = _ENTRY.unpack_from(blob, at)
        at += _ENTRY.size
        entries.append((blob[at:at + n], ino, dtype))
        at += n
    fd = os.open(_empty_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    handle = server.new_handle(tid, fd, server.cstr(path_phys), C.KIND_DIR)
    hd = server.handles[fd]
    hd.dirents = entries
    hd.made = True
    return handle


def _ptys_of(server, domain) -> set:
    """Pseudo-terminal numbers the guest may open: azemu's own terminal's
    and those whose masters its instance holds."""
    allowed = set()
    for fd in (0, 1, 2):
        try:
            name = os.ttyname(fd)
        except OSError:
            continue
        if name.startswith("/dev/pts/"):
            allowed.add(name[len("/dev/pts/"):].encode())
    for hd in server.handles.values():
        if hd.domain == domain and hd.kind == C.KIND_CHAR and hd.path == b"/dev/ptmx":
            try:
                allowed.add(b"%d" % struct.unpack("I", fcntl.ioctl(hd.fd, TIOCGPTN, b"\0" * 4))[0])
            except OSError:
                pass
    return allowed


def device(server, tid, name_phys, flags, *_):
    name = server.cstr(name_phys)
    flags &= 0xFFFFFFFF
    if name.startswith(b"pts/"):
        if name[4:] == b"ptmx":
            name = b"ptmx"
        elif not name[4:].isdigit() or name[4:] not in _ptys_of(server, server.guest(tid).domain):
            raise OSError(errno.EACCES, "not a terminal of this guest")
    elif name not in DEVICES:
        raise OSError(errno.ENOENT, "no such device")
    if flags & (os.O_WRONLY | os.O_RDWR) and name not in (b"null", b"zero", b"full", b"tty", b"ptmx") \
            and not name.startswith(b"pts/"):
        server.box.check_writable()
    path = b"/dev/" + name
    fd = os.open(path, (flags & ~(os.O_CREAT | os.O_EXCL | os.O_DIRECTORY)) | os.O_CLOEXEC | os.O_NOFOLLOW)
    return server.new_handle(tid, fd, path)


def redirected(server, tid, out, size, *_):
    path = server.redirects.pop(tid, None)
    if path is None:
        raise OSError(errno.ENOENT, "no walk was handed back")
    path = path[:size]
    server.put(out, path)
    return len(path)


def cwd_of(server, tid, pid, out, size, *_):
    me, them = server.guest(tid), server.guests.get(int(pid))
    if them is None or them.domain != me.domain:
        raise OSError(errno.ENOENT, "no such process here")
    cwd = them.cwd[:size]
    server.put(out, cwd)
    return len(cwd)
