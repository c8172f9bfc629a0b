"""The guest's /proc, /dev and /sys: made by the kernel model, never the host's.

The host's /proc is azemu (or its FWK proxy): its memory, its descriptors
(the instance's memory segment, the offload channels), its maps; its /dev
holds the host's disks; its /sys describes the host.  A guest sees none of
them.  Every guest path under /proc, /dev or /sys — however it was reached:
an absolute path, a relative one from the root, a symlink such as
/etc/mtab -> ../proc/self/mounts (the FWK's walk hands such a path back,
kernels/fwk/sandbox.py) — is looked up here, in a tree of `Node`s:

* /proc: a directory per guest process (and task/TID per thread) with stat,
  status, statm, cmdline, comm, environ, auxv, limits, maps, mounts,
  mountinfo, io, fd/ and fdinfo/, the links exe, cwd and root, and mem
  (the process's own memory, read and written through its page table);
  self and thread-self; meminfo, cpuinfo (the emulated cores), stat,
  uptime, loadavg, version, filesystems, sys/kernel/... — made from the
  kernel's state (kernels/procfs_files.py, kernels/procfs_system.py);
* /dev: null, zero, full, random, urandom, tty, ptmx and the pts the guest
  holds (the host's devices of those names, opened by the FWK from a fixed
  list), fd/ and stdin/stdout/stderr as links into /proc/self/fd, and shm —
  a directory of its own per machine, shared by the instance's processes;
* /sys: devices/system/cpu/{online,possible,present,cpuN} of the emulated
  machine.

Files are made when opened, as Linux makes a seq_file, and read like any
file; directories list what exists when they are opened.  Nothing here
reaches the host except through the FWK's fixed entry points.
"""
from __future__ import annotations

import posixpath
import zlib

from .abi import linux as L
from .abi.linux_errno import EACCES, ELOOP, ENOENT, ENOTDIR

DIR, FILE, LINK, OPEN, HOST, HOSTAT, DEVICE, MEM = range(8)
TOPS = (b"proc", b"dev", b"sys")
# Host devices a guest may open (by these names only: kernels/fwk/server_model.py)
DEVICES = (b"null", b"zero", b"full", b"random", b"urandom", b"tty", b"ptmx")


class Node:
    """One entry of the tree: what a lookup found."""
    __slots__ = ("kind", "what", "path", "mode", "owner", "to")

    def __init__(self, kind, what, path=b"", mode=0, owner=None, to=None):
        self.kind = kind        # DIR, FILE, LINK, OPEN, HOST, HOSTAT, DEVICE, MEM
        self.what = what        # entries (DIR), bytes (FILE), target (LINK), OpenFile (OPEN)...
        self.path = path        # its canonical guest path
        self.mode = mode        # st_mode
        self.owner = owner      # the process it describes (uid, gid, times), or None
        self.to = to            # LINK: a guest path to walk, or the Node it leads to

    @property
    def ino(self) -> int:
        return zlib.crc32(self.path) | 1 << 32

    @property
    def dtype(self) -> int:
        return {DIR: L.DT_DIR, LINK: L.DT_LNK, DEVICE: 2}.get(self.kind, L.DT_REG)


class Entries(dict):
    """A directory's entries, plus names it answers without listing them
    (Linux's /proc/TID of a thread, /dev/pts/N): `more(name)` gives
    (d_type, maker) or None."""

    def __init__(self, listed, more):
        super().__init__(listed)
        self.more = more

    def get(self, name, default=None):
        hit = super().get(name)
        return hit if hit is not None else (self.more(name) or default)


def dir_node(path, entries, owner=None, mode=0o40555):
    """A directory: `entries` maps each name to (its d_type, a function
    making its Node): a listing makes none of them."""
    return Node(DIR, entries, path, mode, owner)


def file_node(path, data: bytes, owner=None, mode=0o100444):
    return Node(FILE, data, path, mode, owner)


def link_node(path, target: bytes, to, owner=None):
    return Node(LINK, target, path, 0o120777, owner, to)


def owns(path: bytes) -> bool:
    """Is this absolute guest path one the kernel answers (cheap test)?
    /dev/shm/... is a host directory: the walk's."""
    if path.startswith(b"/dev/shm/"):
        return False
    for top in (b"/proc", b"/dev", b"/sys"):
        if path.startswith(top) and path[len(top):len(top) + 1] in (b"", b"/"):
            return True
    return False


NO_MAGICLINKS, NO_SYMLINKS = 1, 2      # what openat2's RESOLVE_* refuse to follow (ELOOP)


MAX_LINKS = 40          # links one walk follows before ELOOP, as Linux's


def lookup(p, path: bytes, follow: bool = True, refuse: int = 0) -> Node:
    """The node absolute guest path `path` names (LinuxError when none);
    symlinks are followed inside the tree, and the last one when `follow`
    — none with NO_SYMLINKS in `refuse`, and none of those that lead out of
    the tree (/proc/PID/fd/N, exe, cwd: magic links) with NO_MAGICLINKS."""
    links = 0
    while links < MAX_LINKS:
        comps = [c for c in path.split(b"/") if c and c != b"."]
        label = posixpath.normpath(b"/" + b"/".join(comps))
        if not owns(b"/" + b"/".join(comps)):   # `..` led out of the tree: the host's walk goes on
            return Node(HOST, b"/" + b"/".join(comps), label)
        node, walked = _root(p), []              # `walked`: the tree's directories so far
        for i, c in enumerate(comps):
            if node.kind != DIR:
                # Under a host directory (/dev/shm, a cwd or fd link...): the host's
                # walk takes the rest, `..` included, from where the link led.
                if node.kind == HOST:
                    return Node(HOST, node.what + b"/" + b"/".join(comps[i:]), label)
                if node.kind == OPEN and node.what.is_dir:
                    return Node(HOSTAT, (node.what, b"/".join(comps[i:])), label)
                raise _err(ENOTDIR)
            if c == b"..":                       # after the links followed, as Linux does
                path = b"/" + b"/".join(walked[:-1] + comps[i + 1:])
                break
            walked.append(c)
            entry = node.what.get(c)
            if entry is None:
                raise _err(ENOENT)
            node = entry[1]()
            last = i == len(comps) - 1
            if node.kind == LINK and (follow or not last):
                if refuse & NO_SYMLINKS or refuse & NO_MAGICLINKS and isinstance(node.to, Node):
                    raise _err(ELOOP)
                if isinstance(node.to, Node):        # leads out of the tree
                    node = node.to
                    continue
                path = node.to + b"/" + b"/".join(comps[i + 1:])
                links += 1
                break
        else:
            return node
    raise _err(ELOOP)


def _err(e):
    from .errors import LinuxError
    return LinuxError(e)


def entries(p, node: Node) -> list[tuple[bytes, int, int]]:
    """A directory's listing: (name, ino, d_type), "." and ".." first."""
    out = [(b".", node.ino, L.DT_DIR), (b"..", zlib.crc32(posixpath.dirname(node.path)) | 1 << 32,
                                        L.DT_DIR)]
    for name, (dtype, _) in node.what.items():
        out.append((name, zlib.crc32(node.path.rstrip(b"/") + b"/" + name) | 1 << 32, dtype))
    return out


def _root(p) -> Node:
    from . import procfs_system
    return dir_node(b"/", {b"proc": (L.DT_DIR, lambda: procfs_system.proc_root(p)),
                           b"dev": (L.DT_DIR, lambda: procfs_system.dev_root(p)),
                           b"sys": (L.DT_DIR, lambda: procfs_system.sys_root(p))}, mode=0o40755)


def may_look(p, target) -> None:
    """Another process's private entries (mem, environ, fd/...): the same
    user's processes of the instance only, as ptrace_may_access allows."""
    if target.proc is not p.proc and p.proc.euid not in (0, target.proc.uid):
        raise _err(EACCES)
