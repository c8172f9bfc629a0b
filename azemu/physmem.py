"""Physical memory of a kernel instance: one host segment and its page frames.

Each kernel instance owns one host memory segment (a memfd, so that another
process such as the FWK proxy can map the very same frames), sized to the
instance's memory and allocated lazily by the host on first touch.  Every
core of the instance maps the whole segment once, at guest-physical address
0 (`Core.attach_memory`); what a guest virtual address means is then decided
by page tables kept in the segment itself (azemu/mmu.py).

Frames are 4 KiB.  Two ways to get them:

* `frame()` — one frame, for demand paging and page tables: from a stack of
  freed frames, else carved off the free extents (ascending, so that pages
  touched in order are physically contiguous and kernel I/O over them is one
  extent).
* `frame(shared=True)` — one frame for a page several mappings may reach at
  once (the page cache, shared memory): from the top of the segment down,
  so that every such frame lies in the *shared zone*, at or above
  `shared_low`.  A core keeps the guest's stores there on Unicorn's slow
  path, which looks for translated code to drop on every store — what a
  page written through one mapping and run through another needs — and
  lets stores everywhere else run at full speed (azemu/core.py,
  `Core._watch_stores`); `zone_watchers` hear when the zone grows down.
* `alloc(length)` — physically contiguous extents, for the kernel's own
  areas (the FWK offload scratch).

Freed frames are zeroed for their next user: a run of at least `_PUNCH`
frames is punched out of the memfd (which also returns it to the host), a
smaller one is kept on a stack of dirty frames and zeroed when given out
again (a punch is a syscall per run: too dear for a page).  A frame can have several owners
(copy-on-write after fork, the shared zero frame): `share` adds one, `release`
drops one and frees the frame with the last.  `used` counts frames in use;
past `size` allocation raises `OutOfMemory` — the host is never asked for
more than the instance's `--mem`.
"""
from __future__ import annotations

import bisect
import ctypes
import mmap
import os

PAGE = 4096
PAGE_MASK = ~(PAGE - 1)

_libc = ctypes.CDLL(None, use_errno=True)
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 1, 2
_CARVE = 64                    # frames taken off the extents at a time
_PUNCH = 16                    # freed runs at least this long go back to the host
_ZEROS = bytes(PAGE)


def page_up(n: int) -> int:
    return (n + PAGE - 1) & PAGE_MASK


def page_down(n: int) -> int:
    return n & PAGE_MASK


class OutOfMemory(Exception):
    """The kernel instance's memory partition has no frames left."""


class PhysicalMemory:
    """The host segment backing one kernel instance, and its frame allocator."""

    def __init__(self, size: int, name: str = "azemu-phys"):
        self.size = page_up(size)
        self.fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(self.fd, self.size)
        self.map = mmap.mmap(self.fd, self.size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.map)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        # Frame 0 is never handed out, so guest-physical address 0 can stand
        # for NULL wherever physical addresses travel (the FWK offload channel).
        self._free = [(PAGE, self.size - PAGE)]   # sorted (offset, length) extents
        self._frames: list[int] = []              # zeroed free frames, a stack
        self._dirty: list[int] = []               # free frames still holding data
        self.refs: dict[int, int] = {}            # frame -> owners beyond the first
        self.leaf_counts: dict[int, int] = {}     # frame of a shared leaf table -> its pages (mmu.py)
        self._shared: list[int] = []              # zeroed free frames of the shared zone
        self._shared_dirty: list[int] = []        # and those still holding data
        self.shared_low = self.size               # the shared zone is [shared_low, size)
        self.zone_watchers: list = []             # weakref.WeakMethod(f): f(shared_low) when it drops
        self.used = PAGE
        self.committed = 0                        # charged by the address spaces (azemu/memory.py)
        self.reclaim = None                       # frees cached frames when none is left (frame())
        # A frame of zeros every never-written page can read through (Linux's
        # empty_zero_page); never freed, never mapped writable.
        self.zero = self.frame()

    # ---- single frames ---------------------------------------------------------
    def frame(self, shared: bool = False) -> int:
        """One zeroed frame (its offset in the segment); with `shared`, one
        in the shared zone.  When none is left, `reclaim()` — set by the
        kernel: it drops what it keeps only as a cache, True if that freed
        any — is asked once before OutOfMemory."""
        take = self._frame_shared if shared else self._frame
        try:
            return take()
        except OutOfMemory:
            if self.reclaim is None or not self.reclaim():
                raise
        return take()

    def _frame(self) -> int:
        if self._dirty:
            if self.used + PAGE > self.size:
                raise OutOfMemory(PAGE)
            self.used += PAGE
            f = self._dirty.pop()
            self.view[f:f + PAGE] = _ZEROS
            return f
        if not self._frames:
            if not self._free:
                if self._shared or self._shared_dirty:
                    return self._frame_shared()   # a free frame of the zone (its stores slower)
                raise OutOfMemory(PAGE)
            off, ln = self._free[0]
            take = min(ln, _CARVE * PAGE)
            if take == ln:
                del self._free[0]
            else:
                self._free[0] = (off + take, ln - take)
            self._frames.extend(range(off + take - PAGE, off - 1, -PAGE))
        if self.used + PAGE > self.size:
            raise OutOfMemory(PAGE)
        self.used += PAGE
        return self._frames.pop()

    def _frame_shared(self) -> int:
        if self.used + PAGE > self.size:
            raise OutOfMemory(PAGE)
        if self._shared_dirty:
            f = self._shared_dirty.pop()
            self.view[f:f + PAGE] = _ZEROS
        elif self._shared:
            f = self._shared.pop()
        else:
            if self._free:                        # carved off the top of the highest extent
                off, ln = self._free[-1]
                take = min(ln, _CARVE * PAGE)
                if take == ln:
                    del self._free[-1]
                else:
                    self._free[-1] = (off, ln - take)
                lo = off + ln - take
                self._shared.extend(range(off + ln - PAGE, lo - 1, -PAGE))   # ascending pops
                f = self._shared.pop()
            else:                                 # none left: a private free frame joins the zone
                if not (self._dirty or self._frames):
                    raise OutOfMemory(PAGE)
                f = lo = self._frame()
                self.used -= PAGE
            if lo < self.shared_low:
                self._lower_zone(lo)
        self.used += PAGE
        return f

    def _lower_zone(self, low: int) -> None:
        self.shared_low = low
        for ref in list(self.zone_watchers):
            watcher = ref()
            if watcher is None:
                self.zone_watchers.remove(ref)
            else:
                watcher(low)

    def share(self, frame: int) -> None:
        self.refs[frame] = self.refs.get(frame, 0) + 1

    def share_all(self, frames) -> None:
        """One more owner for each of `frames` (the zero frame is nobody's)."""
        refs, get, zero = self.refs, self.refs.get, self.zero
        for f in frames:
            if f != zero:
                refs[f] = get(f, 0) + 1

    def owners(self, frame: int) -> int:
        return self.refs.get(frame, 0) + 1

    def release(self, frames) -> None:
        """Drop one owner of each frame; free those that had no other."""
        gone = []
        refs = self.refs
        for f in frames:
            n = refs.get(f)
            if n is not None:
                if n == 1:
                    del refs[f]
                else:
                    refs[f] = n - 1
            elif f != self.zero:
                gone.append(f)
        if self.leaf_counts:                      # a freed leaf table's count goes with it
            for f in gone:
                self.leaf_counts.pop(f, None)
        if not gone:
            return
        self.used -= PAGE * len(gone)
        low = self.shared_low
        if max(gone) >= low:                      # frames of the zone go back to it
            shared = [f for f in gone if f >= low]
            gone = [f for f in gone if f < low]
            self._free_frames(shared, self._shared, self._shared_dirty)
        self._free_frames(gone, self._frames, self._dirty)

    def _free_frames(self, gone: list[int], zeroed: list[int], dirty: list[int]) -> None:
        if len(gone) < _PUNCH:
            dirty.extend(gone)
            return
        gone.sort()
        run = [gone[0]]
        for f in gone[1:] + [None]:
            if f is not None and f == run[-1] + PAGE:
                run.append(f)
                continue
            if len(run) >= _PUNCH:
                self.discard(run[0], len(run) * PAGE)
                zeroed.extend(reversed(run))
            else:
                dirty.extend(run)
            if f is not None:
                run = [f]

    # ---- contiguous extents ------------------------------------------------------
    def alloc(self, length: int) -> list[tuple[int, int]]:
        """Frames for `length` bytes: one extent if possible, else several."""
        length = page_up(length)
        if length > self.size - self.used:
            raise OutOfMemory(length)
        for i, (off, ln) in enumerate(self._free):
            if ln >= length:
                if ln == length:
                    del self._free[i]
                else:
                    self._free[i] = (off + length, ln - length)
                self.used += length
                return [(off, length)]
        pieces, need = [], length            # fragmented: gather several extents
        while need and self._free:
            off, ln = self._free[0]
            take = min(ln, need)
            if take == ln:
                del self._free[0]
            else:
                self._free[0] = (off + take, ln - take)
            pieces.append((off, take))
            need -= take
        while need:                          # and single frames
            pieces.append((self.frame(), PAGE))
            self.used -= PAGE                # counted below with the rest
            need -= PAGE
        self.used += length
        return pieces

    def discard(self, off: int, length: int) -> None:
        """Give the frames' host memory back; they read as zeros afterwards."""
        if _libc.fallocate(self.fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE,
                           ctypes.c_long(off), ctypes.c_long(length)) != 0:
            self.view[off:off + length] = bytes(length)

    def free(self, off: int, length: int) -> None:
        """Return an extent to the allocator; its contents are discarded (zeroed)."""
        assert off >= PAGE, "frame 0 is reserved"
        self.discard(off, length)
        self.used -= length
        i = bisect.bisect(self._free, (off, 0))
        self._free.insert(i, (off, length))
        # coalesce with neighbours
        if i + 1 < len(self._free) and off + length == self._free[i + 1][0]:
            self._free[i] = (off, length + self._free[i + 1][1])
            del self._free[i + 1]
        if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == off:
            poff, plen = self._free[i - 1]
            self._free[i - 1] = (poff, plen + self._free[i][1])
            del self._free[i]

    def close(self) -> None:
        self.view.release()
        try:
            self.map.close()
        except BufferError:
            pass        # ctypes and numpy exports pin the map until exit; harmless
        os.close(self.fd)
