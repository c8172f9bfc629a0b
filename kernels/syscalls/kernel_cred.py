"""setuid and friends (Linux kernel/sys.c): the guest's credentials.

The credentials are the kernel model's, per process, inherited across fork
and kept across exec: a guest that is root may take any ids, any other may
only move between its real, effective and saved ids (EPERM otherwise), as
Linux checks without CAP_SETUID.  The host process is never changed: what
the guest may touch on the host stays what azemu's own user may (and
--root allows), whatever ids the guest holds.
"""
from __future__ import annotations

from ..abi.linux_errno import EPERM
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
