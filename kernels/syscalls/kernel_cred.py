"""setuid and friends (Linux kernel/sys.c): the guest's credentials.

The credentials are the kernel model's, per process, inherited across fork
and kept across exec: a guest that is root may take any ids, any other may
only move between its real, effective and saved ids (EPERM otherwise), as
Linux checks without CAP_SETUID.  The host process is never changed: what
the guest may touch on the host stays what azemu's own user may (and
--root allows), whatever ids the guest holds.
"""
from __future__ import annotations

import struct

from ..abi.linux_errno import EINVAL, EPERM, ESRCH
from ..errors import LinuxError

KEEP = 0xFFFFFFFF                         # -1: leave this id as it is


def _ids(p, kind):
    proc = p.proc
    if kind == "u":
        return [proc.uid, proc.euid, getattr(proc, "suid", proc.euid)]
    return [proc.gid, proc.egid, getattr(proc, "sgid", proc.egid)]


def _store(p, kind, ids) -> None:
    proc = p.proc
    if kind == "u":
        proc.uid, proc.euid, proc.suid = ids
    else:
        proc.gid, proc.egid, proc.sgid = ids


def _setres(p, kind, wanted) -> int:
    now = _ids(p, kind)
    wanted = [w & 0xFFFFFFFF for w in wanted]
    privileged = p.proc.euid == 0
    for w in wanted:
        if w != KEEP and not privileged and w not in now:
            raise LinuxError(EPERM)
    _store(p, kind, [n if w == KEEP else w for n, w in zip(now, wanted)])
    return 0


def setresuid(p, ruid, euid, suid):
    return _setres(p, "u", (ruid, euid, suid))


def setresgid(p, rgid, egid, sgid):
    return _setres(p, "g", (rgid, egid, sgid))


def setreuid(p, ruid, euid):
    return _setreid(p, "u", ruid & 0xFFFFFFFF, euid & 0xFFFFFFFF)


def setregid(p, rgid, egid):
    return _setreid(p, "g", rgid & 0xFFFFFFFF, egid & 0xFFFFFFFF)


def _setreid(p, kind, r, e):
    real, eff, saved = _ids(p, kind)
    if p.proc.euid != 0 and (r not in (KEEP, real, eff) or e not in (KEEP, real, eff, saved)):
        raise LinuxError(EPERM)
    new_r = real if r == KEEP else r
    new_e = eff if e == KEEP else e
    if r != KEEP or (e != KEEP and e != real):
        saved = new_e                             # Linux: the saved id follows
    _store(p, kind, [new_r, new_e, saved])
    return 0


def setuid(p, uid):
    return _setid(p, "u", uid & 0xFFFFFFFF)


def setgid(p, gid):
    return _setid(p, "g", gid & 0xFFFFFFFF)


def _setid(p, kind, v):
    real, eff, saved = _ids(p, kind)
    if p.proc.euid == 0:
        _store(p, kind, [v, v, v])
    elif v in (real, saved):
        _store(p, kind, [real, v, saved])
    else:
        raise LinuxError(EPERM)
    return 0


def setfsuid(p, uid):
    return p.proc.euid                            # the old fsuid: the effective id


def setfsgid(p, gid):
    return p.proc.egid


# ---- supplementary groups -------------------------------------------------------------
NGROUPS_MAX = 65536


def groups_of(p) -> list[int]:
    """The process's supplementary groups: azemu's own until the guest sets them."""
    proc = p.proc
    if getattr(proc, "groups", None) is None:
        import os
        proc.groups = sorted(set(os.getgroups()))
    return proc.groups


def getgroups(p, size, list_):
    groups = groups_of(p)
    size = size if size < 0x80000000 else -1
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise LinuxError(EINVAL)
    p.mm.write(list_, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


def setgroups(p, size, list_):
    if size > NGROUPS_MAX:
        raise LinuxError(EINVAL)
    if p.proc.euid != 0:                          # CAP_SETGID
        raise LinuxError(EPERM)
    p.proc.groups = sorted(set(struct.unpack(f"<{size}I", p.mm.read(list_, 4 * size)))) if size else []
    return 0


# ---- capabilities -----------------------------------------------------------------------
# Linux's capability sets: root's processes hold them all (CAP_LAST_CAP 40
# in Linux 6.x), others none; capset may only give some up.  They are kept
# and reported; azemu's own checks look at the effective uid, as they stand
# for the capabilities of a root without restrictions.
_CAP_V1, _CAP_V2, _CAP_V3 = 0x19980330, 0x20071026, 0x20080522
ALL_CAPS = (1 << 41) - 1
_HEADER = struct.Struct("<Ii")
_DATA = struct.Struct("<III")                    # effective, permitted, inheritable


def _caps(proc) -> tuple[int, int, int]:
    """(effective, permitted, inheritable), followed through the uid changes
    since last asked as capabilities(7) says: all three ids nonzero where one
    was 0 clears permitted and effective; the effective uid leaving 0 clears
    effective, coming back to 0 gives effective the permitted set."""
    ids = (proc.uid, proc.euid, getattr(proc, "suid", proc.euid))
    caps = getattr(proc, "caps", None)
    if caps is None:
        full = ALL_CAPS if proc.euid == 0 else 0
        caps = proc.caps = (full, full, 0, ids)
    eff, perm, inh, was = caps
    if was != ids:
        if 0 in was and 0 not in ids:
            eff = perm = 0
        elif was[1] == 0 and ids[1] != 0:
            eff = 0
        elif was[1] != 0 and ids[1] == 0:
            eff = perm
        proc.caps = (eff, perm, inh, ids)
    return eff, perm, inh


def _header(p, hdrp):
    version, pid = _HEADER.unpack(p.mm.read(hdrp, _HEADER.size))
    if version not in (_CAP_V1, _CAP_V2, _CAP_V3):
        p.mm.write(hdrp, struct.pack("<I", _CAP_V3))
        raise LinuxError(EINVAL)
    if pid < 0:
        raise LinuxError(EINVAL)
    target = p.proc if pid in (0, p.pid) else p.kernel.procs.get(pid)
    if target is None:
        raise LinuxError(ESRCH)
    return (1 if version == _CAP_V1 else 2), target


def capget(p, hdrp, datap):
    words, target = _header(p, hdrp)
    if not datap:
        return 0
    eff, perm, inh = _caps(target)
    p.mm.write(datap, b"".join(_DATA.pack((eff >> 32 * i) & 0xFFFFFFFF, (perm >> 32 * i) & 0xFFFFFFFF,
                                          (inh >> 32 * i) & 0xFFFFFFFF) for i in range(words)))
    return 0


def capset(p, hdrp, datap):
    words, target = _header(p, hdrp)
    if target is not p.proc:
        raise LinuxError(EPERM)
    raw = p.mm.read(datap, _DATA.size * words)
    eff = perm = inh = 0
    for i in range(words):
        e, pm, ih = _DATA.unpack_from(raw, _DATA.size * i)
        eff, perm, inh = eff | e << 32 * i, perm | pm << 32 * i, inh | ih << 32 * i
    old_eff, old_perm, old_inh = _caps(p.proc)
    if perm & ~old_perm or eff & ~perm or inh & ~(old_inh | old_perm):
        raise LinuxError(EPERM)
    proc = p.proc
    proc.caps = (eff, perm, inh, (proc.uid, proc.euid, getattr(proc, "suid", proc.euid)))
    return 0
