"""The page cache: one set of frames per mapped file.

Linux keeps a file's pages in its page cache, and every mapping of the file
maps those same pages: a store through a MAP_SHARED mapping is seen by every
other mapping at once and by read(), a write() or pwrite() is seen by every
mapping, and a MAP_PRIVATE mapping (a program's text and data, a library
ld.so maps) shares the pages until it writes one (copy on write).  azemu's
files live on the host (the FWK serves them), so a kernel instance keeps a
`CachedFile` for each mapped file, keyed by the host's (st_dev, st_ino),
and the mappings take their frames from it (it is their pager,
azemu/memory.py):

* a page is read from the file on its first touch (with up to
  READAHEAD pages after it in the same call); a page wholly past the end
  of the file is not given — the touch is a SIGBUS;
* pages the guest wrote through a shared mapping (the page-table dirty
  bit) are written back to the file on msync, munmap, exit, fsync, and
  before any read or write of the file's bytes they cover — so read() sees
  stores made through a mapping;
* after a write or pwrite of the file, the cached pages it covered are read
  again, so every mapping sees the new bytes.

The files programs run from (executables, their interpreter, the libraries
mapped executable) stay cached after their last process ends — the
RECENT most recently run, as Linux's page cache keeps them — so the next
process maps the same frames, and the code the cores translated from them
is still there: a new process of the same program translates nothing twice.
A file changed on the host while nothing maps it (its size, mtime or ctime
differ) is read afresh.

What is not modelled: truncating a file does not drop its cached pages
(touching them past the new end reads what they held, not SIGBUS), and a
write by a host process outside azemu while the file is mapped is seen only
by pages not yet cached.  When a CachedFile goes, its frames go back to the
instance (and the code translated from them, from every core), and its host
descriptors are closed.

Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, and MAP_SHARED of
/dev/zero) has a pager too, `SharedMemory` (Linux's shmem object): the
frames of its pages, given zeroed on first touch, so that processes made
by fork map the same frames even for pages nobody had touched before.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict

from azemu.memory import PAGE, OutOfMemory

from .abi import linux as L
from .abi.syscall_numbers import SYSCALL_NUMBERS as NR
from .errors import LinuxError
from .fwk.channel import FWK_DUP, KIND_FILE
from .hostio import Scratch

READAHEAD = 16                       # pages read with a faulting one (Linux: ra_pages)
RECENT = 32                          # files run from, kept cached after their last mapping
# Offsets in the x86-64 struct stat: st_dev, st_ino, st_size, st_mtim, st_ctim.
_ST_FIELDS = (0, 8, 48, 88, 96, 104, 112)


def _stat(io, scratch, hfd) -> tuple[int, ...]:
    """(st_dev, st_ino, st_size, mtime s, ns, ctime s, ns) of a host descriptor."""
    buf = scratch.alloc(L.STAT.size)
    io.call(NR["fstat"], hfd, buf)
    raw = scratch.get(buf, L.STAT.size)
    return tuple(int.from_bytes(raw[o:o + 8], "little") for o in _ST_FIELDS)


class CachedFile:
    """The cached pages of one host file, and the pager of its mappings."""

    writes_back = True                           # dirty pages go to the file

    def __init__(self, key, io, phys, hfd: int, writable: bool, version=None, forget=None):
        self.key, self.io, self.phys = key, io, phys
        self.version = version                   # (size, mtime, ctime) when it was made
        self.pages: dict[int, int] = {}          # page index -> frame (one owner: the cache)
        self.spaces = weakref.WeakSet()          # address spaces that map it
        (at, _), = phys.alloc(PAGE)
        self.scratch = Scratch(phys, at, PAGE)   # its own: it runs inside others' calls
        self.fds = [hfd, hfd if writable else None]   # a descriptor to read, one to write
        self.ran = [False]                       # mapped executable: code may be translated from it
        weakref.finalize(self, _release, phys, self.pages, io, self.fds, at,
                         forget, self.ran).atexit = False

    # ---- the pager of the mappings (azemu/memory.py) -----------------------------
    def mapped_by(self, mm) -> None:
        self.spaces.add(mm)

    def mapped(self) -> bool:
        """Does a live address space map it (or did, and has not ended)?"""
        return any(not mm.closed for mm in list(self.spaces))

    def cached(self, index: int) -> int | None:
        """The frame of page `index` if it is cached (nothing is read)."""
        return self.pages.get(index)

    def fill(self, fd: int, size: int) -> None:
        """Cache every page of the file at once from `fd`, a host descriptor
        of this process open on the same file (a program's file at execve:
        one read rather than a fault and an FWK call per 16 pages)."""
        import os
        view = self.phys.view
        for index in range((size + PAGE - 1) // PAGE):
            if index in self.pages:
                continue
            f = self.phys.frame(shared=True)
            got = os.preadv(fd, [view[f:f + PAGE]], index * PAGE)
            if got <= 0:
                self.phys.release([f])
                break
            self.pages[index] = f

    def frame(self, index: int) -> int | None:
        frame = self.pages.get(index)
        if frame is not None:
            return frame
        want = [index]
        while len(want) < READAHEAD and index + len(want) not in self.pages:
            want.append(index + len(want))
        frames = []
        try:
            for _ in want:
                frames.append(self.phys.frame(shared=True))
            got = self._move(NR["preadv"], self.fds[0], frames, index * PAGE)
        except OutOfMemory:
            self.phys.release(frames)
            raise
        except LinuxError:
            got = 0
        filled = (got + PAGE - 1) // PAGE
        self.phys.release(frames[filled:])
        for i, f in zip(want, frames[:filled]):
            self.pages[i] = f
        return self.pages.get(index)

    def dirtied(self, indices) -> None:
        """Write the pages back, none past the end of the file (a store
        beyond it, in its last page, is not written: Linux's rule)."""
        wfd = self.fds[1]
        if wfd is None:
            return
        self.scratch.reset()
        try:
            size = _stat(self.io, self.scratch, wfd)[2]
            for run in _runs(sorted(i for i in indices if i in self.pages and i * PAGE < size)):
                frames = [self.pages[i] for i in run]
                length = min(len(run) * PAGE, size - run[0] * PAGE)
                self._move(NR["pwritev"], wfd, frames, run[0] * PAGE, length)
        except LinuxError:
            pass                                 # the FWK is gone or the file: nothing to do

    # ---- coherence with read and write ----------------------------------------------
    def flush(self, start: int, end: int) -> None:
        """Write back the dirty pages covering bytes [start, end) of the file."""
        first, last = start // PAGE, (end + PAGE - 1) // PAGE
        if not any(first <= i < last for i in self.pages):
            return
        for mm in list(self.spaces):
            mm.write_back(pager=self, first=first, last=last)

    def refresh(self, start: int, end: int) -> None:
        """Read again the cached pages covering bytes [start, end) of the file."""
        first, last = start // PAGE, (end + PAGE - 1) // PAGE
        hit = sorted(i for i in self.pages if first <= i < last)
        try:
            for run in _runs(hit):
                self._move(NR["preadv"], self.fds[0], [self.pages[i] for i in run], run[0] * PAGE)
        except LinuxError:
            pass

    def _move(self, function, hfd, frames, offset, length=None) -> int:
        """preadv/pwritev between the file at `offset` and whole frames."""
        self.scratch.reset()
        if length is None:
            length = len(frames) * PAGE
        extents, left = [], length
        for f in frames:
            if left <= 0:
                break
            extents.append((f, min(PAGE, left)))
            left -= PAGE
        iov, n = self.scratch.iov(extents)
        return self.io.call(function, hfd, iov, n, offset)


class SharedMemory:
    """The pages of one shared anonymous mapping, and its pager."""

    writes_back = False

    def __init__(self, phys):
        self.phys = phys
        self.pages: dict[int, int] = {}          # page index -> frame (one owner: this)
        weakref.finalize(self, _free_frames, phys, self.pages).atexit = False

    def mapped_by(self, mm) -> None:
        pass

    def frame(self, index: int) -> int:
        frame = self.pages.get(index)
        if frame is None:
            frame = self.pages[index] = self.phys.frame(shared=True)   # zeroed; OutOfMemory past --mem
        return frame

    def cached(self, index: int) -> int | None:
        return self.pages.get(index)

    def dirtied(self, indices) -> None:
        pass


def _free_frames(phys, pages) -> None:
    try:
        phys.release(list(pages.values()))
    except Exception:                            # the instance already closed
        pass


def _runs(indices):
    """Consecutive runs of sorted page indices."""
    run = []
    for i in indices:
        if run and i != run[-1] + 1:
            yield run
            run = []
        run.append(i)
    if run:
        yield run


def _release(phys, pages, io, fds, scratch_at, forget=None, ran=(False,)) -> None:
    try:
        if forget is not None and pages and ran[0]:
            forget()                             # its frames may come back as other code
        phys.release(list(pages.values()))
        phys.free(scratch_at, PAGE)
        for hfd in {fd for fd in fds if fd is not None}:
            io.call(NR["close"], hfd)
    except Exception:                            # the instance or the FWK already closed
        pass


# ---- what the syscalls call -------------------------------------------------------
def ident(p, f) -> tuple[int, int]:
    """The (st_dev, st_ino) of an open file, asked once."""
    key = f.ident
    if key is None:
        st = _stat(p.io, p.scratch, f.hfd)       # a bump allocation: the call's iovs stay
        key = f.ident = st[:2]
    return key


def for_mapping(p, f, private: bool = False) -> CachedFile:
    """The cache of the file open as `f`, made for a mapping of it."""
    writable = not private and (f.flags & L.O_ACCMODE) == L.O_RDWR
    cache = _cached(p, ident(p, f), f.hfd)
    if cache is None:
        hfd = p.io.call(FWK_DUP, f.hfd) & 0xFFFFFFFF
        cache = _new(p, ident(p, f), hfd, writable)
    elif writable and cache.fds[1] is None:
        cache.fds[1] = p.io.call(FWK_DUP, f.hfd) & 0xFFFFFFFF
    return cache


def program_pager(p):
    """What the loader asks for a program's file (azemu/loader.py: pager_of)."""
    import os

    def pager_of(path, f):
        st = os.fstat(f.fileno())
        cache = for_program(p, os.fsencode(path))
        if cache is None or cache.key != (st.st_dev, st.st_ino):
            return None
        if not cache.pages:
            try:
                cache.fill(f.fileno(), st.st_size)
            except (OSError, OutOfMemory):
                pass                             # the rest is read as it is touched
        return cache
    return pager_of


def for_program(p, path: bytes) -> CachedFile | None:
    """The cache of the program file at guest path `path` (execve and its
    interpreter), kept among the recent ones; None where the FWK cannot open
    it (the loader then copies it in)."""
    p.scratch.reset()
    try:
        hfd = p.io.call(NR["openat"], L.AT_FDCWD, p.scratch.put(path + b"\0"),
                        L.O_RDONLY | L.O_CLOEXEC, 0) & 0xFFFFFFFF
    except (LinuxError, OSError):
        return None
    try:
        st = _stat(p.io, p.scratch, hfd)
    except (LinuxError, OSError):
        p.io.call(NR["close"], hfd)
        return None
    cache = _cached(p, st[:2], hfd, st)
    if cache is not None:
        p.io.call(NR["close"], hfd)
    else:
        cache = _new(p, st[:2], hfd, False, st)
    keep(p, cache)
    return cache


def keep(p, cache) -> None:
    """Keep `cache` after its last mapping: a program's file, run again soon."""
    cache.ran[0] = True
    recent = _recent(p.kernel)
    recent[cache.key] = cache
    recent.move_to_end(cache.key)
    while len(recent) > RECENT:
        recent.popitem(last=False)


def reclaim(k) -> bool:
    """Memory is short: drop the kept files that nothing maps (their frames
    go back at once); True if there were any."""
    recent = _recent(k)
    idle = [c for c in recent.values() if not c.mapped()]
    for cache in idle:
        _drop(k, cache)
    return bool(idle)


def _recent(k) -> OrderedDict:
    recent = getattr(k, "recent_files", None)
    if recent is None:
        recent = k.recent_files = OrderedDict()
    return recent


def _cached(p, key, hfd: int, st=None) -> CachedFile | None:
    """The cache of `key`, unless nothing maps it and the file changed since
    it was made (then it is dropped: a new one reads the file afresh)."""
    cache = p.kernel.page_cache.get(key)
    if cache is None or cache.mapped():
        return cache
    if st is None:
        st = _stat(p.io, p.scratch, hfd)
    if cache.version == st[2:]:
        return cache
    _drop(p.kernel, cache)
    return None


def _drop(k, cache) -> None:
    _recent(k).pop(cache.key, None)
    if k.page_cache.get(cache.key) is cache:
        del k.page_cache[cache.key]


def _new(p, key, hfd: int, writable: bool, st=None) -> CachedFile:
    k = p.kernel
    if st is None:
        st = _stat(p.io, p.scratch, hfd)
    cores = k.part.cores

    def forget():
        for core in cores:
            core.forget_code()
    phys = p.mm.phys
    if phys.reclaim is None:
        phys.reclaim = lambda: reclaim(k)
    cache = k.page_cache[key] = CachedFile(key, p.io, phys, hfd, writable, st[2:], forget)
    return cache


def lookup(p, f) -> CachedFile | None:
    """The cache of an open file, if some mapping has one."""
    caches = p.kernel.page_cache
    if f.kind != KIND_FILE or not caches:
        return None
    return caches.get(ident(p, f))


def transfer(p, f, call, count: int, offset: int | None, write: bool) -> int:
    """A read or write of `count` bytes of `f` (at `offset`, or at its file
    position) by `call()`, kept coherent with the file's cached pages."""
    cache = lookup(p, f)
    if cache is None:
        return call()
    if not cache.mapped():                       # only kept: drop it rather than keep it coherent
        _drop(p.kernel, cache)
        return call()
    if offset is None:
        if write and f.flags & L.O_APPEND:
            offset = _stat(p.io, p.scratch, f.hfd)[2]
        else:
            offset = p.io.call(NR["lseek"], f.hfd, 0, L.SEEK_CUR)
    cache.flush(offset, offset + count)
    done = call()
    if write and done > 0:
        cache.refresh(offset, offset + done)
    return done


def sync(p, f) -> None:
    """fsync/fdatasync: the file's dirty mapped pages reach it."""
    cache = lookup(p, f)
    if cache is not None:
        cache.flush(0, 1 << 62)
