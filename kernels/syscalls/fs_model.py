"""Opening, stat'ing and reading links of what the kernel's /proc, /dev and
/sys name (kernels/procfs.py), for the path syscalls of fs_open.py and
fs_stat.py.

A path reaches the tree three ways: an absolute guest path under one of
them (looked up here before the host is asked); a path relative to a
directory opened from the tree; any other path whose walk on the host side
arrives at /proc, /dev or /sys of the guest's root — a relative path, a
symlink — which the FWK hands back (`ModelPath`, kernels/fwk/sandbox.py)
to be looked up here.  What the tree makes is opened through the FWK's
fixed entry points: a made file is a sealed read-only copy of its bytes, a
made directory a listing, a device one of a fixed list of host devices.
"""
from __future__ import annotations

import os
import struct
import time

from .. import procfs
from ..abi import linux as L
from ..abi.linux_errno import EACCES, EINVAL, EISDIR, ELOOP, ENOTDIR
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import LinuxError, ModelPath
from ..fwk.channel import FWK_DEVICE, FWK_MADE, FWK_MADE_DIR, FWK_REDIRECTED, FWK_REOPEN, KIND_DIR
from ..process import OpenFile
from ..procfs import DEVICE, DIR, FILE, HOST, HOSTAT, LINK, MEM, OPEN
from .util import host_open_flags, s32

_FACCESSAT2 = NR["faccessat2"]

_ENTRY = struct.Struct("<QBH")
_WRITE = L.O_WRONLY | L.O_RDWR | L.O_CREAT | L.O_TRUNC
_DEVS = {b"/proc": (0, 21), b"/sys": (0, 22), b"/dev": (0, 6)}
_MAGIC = {b"/proc": 0x9FA0, b"/sys": 0x62656572, b"/dev": 0x01021994}
_STATFS = struct.Struct("<qqqqqqqiiqqq32x")


def node_at(p, dirfd: int, raw: bytes, follow: bool = True, refuse: int = 0):
    """The tree's node for (dirfd, path), or None when the host walks it
    (`refuse`: the links not to follow, procfs.lookup)."""
    if raw[:1] == b"/":
        return settle(p, procfs.lookup(p, raw, follow, refuse), follow, refuse) if procfs.owns(raw) else None
    if dirfd != L.AT_FDCWD and raw:
        f = p.fds.files.get(dirfd)
        if f is not None and f.model is not None:
            if f.model.kind != DIR:
                raise LinuxError(ENOTDIR)
            return settle(p, procfs.lookup(p, f.model.path + b"/" + raw, follow, refuse), follow, refuse)
    return None


def redirected(p, follow: bool = True, refuse: int = 0):
    """The node of the path the FWK's walk just handed back (ModelPath)."""
    return settle(p, _handed_back(p, follow, refuse), follow, refuse)


def _handed_back(p, follow: bool, refuse: int):
    out = p.scratch.alloc(4096)
    n = p.io.call(FWK_REDIRECTED, out, 4096)
    return procfs.lookup(p, p.scratch.get(out, n), follow, refuse)


def settle(p, node, follow: bool = True, refuse: int = 0):
    """`node`, or, when it leads out of the tree (a magic link and what
    follows it: /proc/self/root/proc, /proc/self/cwd/.. with the working
    directory in /proc) to a path whose walk on the host arrives back in the
    tree, the tree's node it arrives at — as Linux's walk goes on from
    where a link led.  The host's walk is asked with an access check."""
    for _ in range(procfs.MAX_LINKS):
        if node.kind == HOST:
            where, path = L.AT_FDCWD & 0xFFFFFFFF, node.what
        elif node.kind == HOSTAT:
            where, path = node.what[0].hfd, node.what[1]
        else:
            return node
        try:
            p.io.call(_FACCESSAT2, where, p.scratch.put(path + b"\0"), os.F_OK,
                      0 if follow else L.AT_SYMLINK_NOFOLLOW)
        except ModelPath:
            node = _handed_back(p, follow, refuse)
            continue
        except LinuxError:
            pass                                    # the call to come says what is wrong
        return node
    raise LinuxError(ELOOP)


def host_call(p, node, call, *, follow=True):
    """Run `call()` (a host path call); if its walk arrived in the tree, the
    node it arrived at instead; (result, None) or (None, node)."""
    if node is not None:
        return None, node
    try:
        return call(), None
    except ModelPath:
        return None, redirected(p, follow)


# ---- open ------------------------------------------------------------------------------

def open_node(p, node, flags: int, mode: int, open_host) -> int:
    """Open `node` for the guest; `open_host(dir handle, path bytes)` opens a
    host path (fs_open._open_host)."""
    cloexec = bool(flags & L.O_CLOEXEC)
    kind = node.kind
    if kind == HOST:
        return open_host(L.AT_FDCWD & 0xFFFFFFFF, node.what)
    if kind == HOSTAT:
        f, rest = node.what
        return open_host(f.hfd, rest)
    if kind == LINK:
        raise LinuxError(ELOOP)                     # O_NOFOLLOW on a link
    fd = p.fds.lowest_free()
    if kind == OPEN:                                # /proc/PID/fd/N: the file anew
        what = node.what
        nb = L.O_NONBLOCK if what.hostnb else 0
        ret = p.io.call(FWK_REOPEN, what.hfd, host_open_flags(flags & ~L.O_CREAT) | nb)
        new = _install(p, ret, flags, cloexec, fd)
        p.fds.get(new).hostnb = what.hostnb
        return new
    if kind == DEVICE:
        name = p.scratch.put(node.what + b"\0")
        ret = p.io.call(FWK_DEVICE, name, host_open_flags(flags & ~L.O_CREAT))
        return _install(p, ret, flags, cloexec, fd)
    if flags & L.O_DIRECTORY and kind != DIR:
        raise LinuxError(ENOTDIR)
    if kind == DIR:
        if flags & _WRITE:
            raise LinuxError(EISDIR)
        listing = procfs.entries(p, node)
        if node.path.endswith(b"/fd") and node.owner is p.proc:   # as Linux lists it when read:
            listing.append((b"%d" % fd, node.ino + fd + 1, L.DT_LNK))   # with the fd reading it
            listing[2:] = sorted(listing[2:], key=lambda e: int(e[0]))
        blob = b"".join(_ENTRY.pack(ino, dt, len(name)) + name for name, ino, dt in listing)
        ret = p.io.call(FWK_MADE_DIR, p.scratch.put(blob), len(blob), p.scratch.put(node.path + b"\0"))
    elif kind == MEM:
        procfs.may_look(p, node.what)
        ret = p.io.call(FWK_MADE, p.scratch.put(b""), 0, p.scratch.put(node.path + b"\0"))
    else:                                           # FILE
        if flags & _WRITE:
            raise LinuxError(EACCES)
        data = node.what
        ret = p.io.call(FWK_MADE, p.scratch.put(data), len(data), p.scratch.put(node.path + b"\0"))
    new = _install(p, ret, flags, cloexec, fd)
    p.fds.get(new).model = node
    return new


def _install(p, ret, flags, cloexec, fd) -> int:
    handle, kind = ret & 0xFFFFFFFF, (ret >> 32) & 0xFF
    keep = flags & ~(L.O_CLOEXEC | L.O_CREAT | L.O_EXCL | L.O_NOCTTY | L.O_TRUNC)
    return p.fds.install(OpenFile(handle, keep, b"", kind == KIND_DIR, kind), at=fd, cloexec=cloexec)


# ---- stat --------------------------------------------------------------------------------

def _times(node):
    who = node.owner
    if who is not None:
        t = who.start_time - time.monotonic() + time.time()
    else:
        t = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return int(t), int(t % 1 * 1e9)


def _ids(node):
    who = node.owner
    return (who.uid, who.gid) if who is not None else (0, 0)


def _dev(node):
    for top, dev in _DEVS.items():
        if node.path.startswith(top):
            return dev
    return (0, 21)


def _nlink(node) -> int:
    if node.kind != DIR:
        return 1
    return 2 + sum(1 for dt, _ in node.what.values() if dt == L.DT_DIR)


def _size(node) -> int:
    return len(node.what) if node.kind == LINK else 0


def pack_stat(node) -> bytes:
    s, ns = _times(node)
    uid, gid = _ids(node)
    dev = os.makedev(*_dev(node))
    return L.STAT.pack(dev, node.ino, _nlink(node), node.mode, uid, gid, 0, 0, _size(node), 1024, 0,
                       s, ns, s, ns, s, ns)


def pack_statx(node) -> bytes:
    s, ns = _times(node)
    uid, gid = _ids(node)
    major, minor = _dev(node)
    return L.STATX.pack(L.STATX_BASIC_STATS, 1024, 0, _nlink(node), uid, gid, node.mode, 0,
                        node.ino, _size(node), 0, 0, s, ns, 0, 0, 0, 0, s, ns, 0, s, ns, 0,
                        0, 0, major, minor)


def pack_statfs(node) -> bytes:
    top = next((t for t in _DEVS if node.path.startswith(t)), b"/proc")
    return _STATFS.pack(_MAGIC[top], 4096, 0, 0, 0, 0, 0, 0, _DEVS[top][1], 255, 4096,
                        0x26 if top != b"/sys" else 0x27)


def readlink_of(node) -> bytes:
    if node.kind != LINK:
        raise LinuxError(EINVAL)
    return node.what


def access_of(node, mode: int) -> int:
    if node.kind in (DIR, FILE, MEM):
        allowed = node.mode & 0o7
        if node.owner is not None:
            allowed |= node.mode >> 6 & 0o7
        if mode & ~allowed & 0o7:
            raise LinuxError(EACCES)
    return 0


def dirfd_node(p, dirfd: int):
    """The model node an fd (AT_EMPTY_PATH, fstat) was opened from, if any."""
    f = p.fds.files.get(s32(dirfd))
    return f.model if f is not None else None
