"""Sockets (Linux net/socket.c): every call is served by the FWK's network
service (kernels/fwk/server_net.py) on a host socket.  The kernel keeps the
guest's fd table and moves small structures (socket addresses, options,
msghdr) through its scratch area; data buffers travel as guest-physical
extents, never copied."""
from __future__ import annotations

import struct

from .. import blocking
from ..abi import linux as L
from ..abi.linux_errno import EBADF, EINVAL, ENOBUFS
from ..abi.syscall_numbers import SYSCALL_NUMBERS as NR
from ..errors import Block, LinuxError
from ..fwk.channel import FWK_FD_KIND
from ..process import release_reserved
from .fs_open import install_handle
from .fs_read_write import CHUNK
from .util import s32

SOCK_NONBLOCK, SOCK_CLOEXEC = L.O_NONBLOCK, L.O_CLOEXEC
SOCKADDR_MAX = 128
_MSGHDR = struct.Struct("<QI4xQQQQi4x")
_U32 = struct.Struct("<I")


MSG_DONTWAIT = 0x40
MSG_CMSG_CLOEXEC = 0x40000000
SOL_SOCKET, SCM_RIGHTS = 1, 1
OPTMEM_MAX = 20480                 # net.core.optmem_max: the most control data a send carries
CONTROL_MAX = 64 << 10             # the most control data a receive is given room for


def _rights(p, raw: bytes, move) -> bytes:
    """A control buffer with the fds of its SCM_RIGHTS messages passed
    through `move(p, fd)`: guest fds to host handles for a send, received
    host handles to new guest fds for a receive."""
    out, at = bytearray(raw), 0
    while at + 16 <= len(raw):
        clen, level, type_ = struct.unpack_from("<Qii", raw, at)
        if clen < 16 or at + clen > len(raw):
            break
        if level == SOL_SOCKET and type_ == SCM_RIGHTS:
            for i in range((clen - 16) // 4):
                fd = struct.unpack_from("<i", raw, at + 16 + 4 * i)[0]
                struct.pack_into("<i", out, at + 16 + 4 * i, move(p, fd))
        at += (clen + 7) & ~7
    return bytes(out)


def _to_host(p, fd: int) -> int:
    f = p.fds.get(fd)                                 # EBADF for a guest fd not open
    if f.model is not None and f.hfd < 0:
        raise LinuxError(EBADF)                       # the kernel's own file: none on the host
    return f.hfd


def _to_guest(p, h: int, cloexec: bool) -> int:
    kind = p.io.call(FWK_FD_KIND, h)
    return install_handle(p, (h & 0xFFFFFFFF) | kind << 32, L.O_RDWR, cloexec)


def _install(p, ret, type_or_flags, at=None):
    flags = L.O_RDWR | (L.O_NONBLOCK if type_or_flags & SOCK_NONBLOCK else 0)
    return install_handle(p, ret, flags, bool(type_or_flags & SOCK_CLOEXEC), at=at)


def _sockaddr_in(p, addr, length):
    length = s32(length)
    if length < 0 or length > SOCKADDR_MAX:
        raise LinuxError(EINVAL)
    return (p.scratch.put(p.mm.read(addr, length)) if addr else 0), length


def _sockaddr_out(p, addr, lenp):
    """Scratch room for a returned address and its in/out length."""
    if not addr:
        return 0, 0, 0
    want = _U32.unpack(p.mm.read(lenp, 4))[0]
    if s32(want) < 0:
        raise LinuxError(EINVAL)
    out = p.scratch.alloc(SOCKADDR_MAX)
    lenp_s = p.scratch.put(_U32.pack(SOCKADDR_MAX))
    return out, lenp_s, want


def _sockaddr_back(p, addr, lenp, out, lenp_s, want):
    if out:
        got = _U32.unpack(p.scratch.get(lenp_s, 4))[0]
        p.mm.write(addr, p.scratch.get(out, min(want, got)))
        p.mm.write(lenp, _U32.pack(got))


def socket(p, domain, type_, protocol):
    p.fds.lowest_free()
    ret = p.io.call(NR["socket"], domain, s32(type_) & ~(SOCK_NONBLOCK | SOCK_CLOEXEC) | (s32(type_) & SOCK_NONBLOCK), protocol)
    return _install(p, ret, s32(type_))


def socketpair(p, domain, type_, protocol, sv):
    p.mm.views(sv, 8, write=True)
    ret = p.io.call(NR["socketpair"], domain, s32(type_) & ~SOCK_CLOEXEC, protocol)
    a = _install(p, (ret & 0xFFFFFFFF) | (3 << 32), s32(type_))
    b = _install(p, (ret >> 32) | (3 << 32), s32(type_))
    p.mm.write(sv, _U32.pack(a) + _U32.pack(b))
    return 0


def bind(p, fd, addr, addrlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    return p.io.call(NR["bind"], f.hfd, *_sockaddr_in(p, addr, addrlen))


def connect(p, fd, addr, addrlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    return p.io.call(NR["connect"], f.hfd, *_sockaddr_in(p, addr, addrlen))


def listen(p, fd, backlog):
    return p.io.call(NR["listen"], p.fds.get(s32(fd)).hfd, backlog)


def accept4(p, fd, addr, addrlen, flags):
    f = p.fds.get(s32(fd))
    flags = s32(flags)
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise LinuxError(EINVAL)
    s = p.sched
    if s.reserved is None:                       # the number first, as Linux: kept while it waits
        s.reserved = (p.fds, p.fds.reserve())
    fd = s.reserved[1]
    try:
        p.scratch.reset()
        blocking.wait_ready(p, f, blocking.POLLIN)   # the client may be another guest thread
        p.scratch.reset()
        out, lenp_s, want = _sockaddr_out(p, addr, addrlen)
        ret = p.io.call(NR["accept4"], f.hfd, out, lenp_s, flags & SOCK_NONBLOCK)
    except Block:
        raise                                    # the call runs again with the same number
    except BaseException:
        release_reserved(p)
        raise
    s.reserved = None
    newfd = _install(p, ret, flags, at=fd)
    _sockaddr_back(p, addr, addrlen, out, lenp_s, want)
    return newfd


def accept(p, fd, addr, addrlen):
    return accept4(p, fd, addr, addrlen, 0)


def _msg_from(p, iov_extents, name=0, namelen=0, control=0, controllen=0):
    iov, n = p.scratch.iov(iov_extents)
    return p.scratch.put(_MSGHDR.pack(name, namelen, iov, n, control, controllen, 0))


def sendto(p, fd, buf, length, flags, addr, addrlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    name, namelen = _sockaddr_in(p, addr, addrlen)
    mark = p.scratch.used

    def call(offset, flags):
        p.scratch.used = mark
        count = min(length - offset, CHUNK)
        ext = p.mm.extents(buf + offset, count) if count > 0 else []
        if len(ext) <= 1:
            return p.io.call(NR["sendto"], f.hfd, ext[0][0] if ext else 0, max(count, 0),
                             flags, name, namelen)
        return p.io.call(NR["sendmsg"], f.hfd, _msg_from(p, ext, name, namelen), flags)
    return blocking.send(p, f, length, s32(flags), call)


def recvfrom(p, fd, buf, length, flags, addr, addrlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    if not s32(flags) & MSG_DONTWAIT:
        blocking.wait_ready(p, f, blocking.POLLIN)
        p.scratch.reset()
    out, lenp_s, want = _sockaddr_out(p, addr, addrlen)
    ext = p.mm.extents(buf, length, write=True, partial=True) if length else []
    if len(ext) <= 1:
        n = p.io.call(NR["recvfrom"], f.hfd, ext[0][0] if ext else 0, length, flags, out, lenp_s)
    else:
        msg = _msg_from(p, ext, out, SOCKADDR_MAX if out else 0)
        n = p.io.call(NR["recvmsg"], f.hfd, msg, flags)
        if out:
            p.scratch.phys.view[lenp_s:lenp_s + 4] = p.scratch.get(msg + 8, 4)
    _sockaddr_back(p, addr, addrlen, out, lenp_s, want)
    return n


def _guest_msghdr(p, msg, write):
    name, namelen, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(p.mm.read(msg, _MSGHDR.size))
    if iovlen > L.IOV_MAX or namelen > SOCKADDR_MAX:
        raise LinuxError(EINVAL)
    if write:
        controllen = min(controllen, CONTROL_MAX)    # room for what can come (no more is sent)
    elif controllen > OPTMEM_MAX:
        raise LinuxError(ENOBUFS)                     # Linux: net.core.optmem_max
    raw = p.mm.read(iov, 16 * iovlen)
    ext = []
    for i in range(iovlen):
        b, n = L.IOVEC.unpack_from(raw, 16 * i)
        if n:
            ext += p.mm.extents(b, n, write)
    return name, namelen, control, controllen, ext


def sendmsg(p, fd, msg, flags):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    name, namelen, control, controllen, ext = _guest_msghdr(p, msg, False)
    sname = p.scratch.put(p.mm.read(name, namelen)) if name and namelen else 0
    sctl = p.scratch.put(_rights(p, p.mm.read(control, controllen), _to_host)) \
        if control and controllen else 0
    length, mark = sum(n for _, n in ext), p.scratch.used

    def call(offset, flags):
        p.scratch.used = mark
        rest, skip = [], offset
        for at, n in ext:                        # the extents from `offset` on
            if skip >= n:
                skip -= n
                continue
            rest.append((at + skip, n - skip))
            skip = 0
        ctl = (sctl, controllen if sctl else 0) if not offset else (0, 0)  # (sent with the first part)
        return p.io.call(NR["sendmsg"], f.hfd, _msg_from(p, rest, sname, namelen if sname else 0,
                                                         *ctl), flags)
    return blocking.send(p, f, length, s32(flags), call)


def recvmsg(p, fd, msg, flags):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    if not s32(flags) & MSG_DONTWAIT:
        blocking.wait_ready(p, f, blocking.POLLIN)
        p.scratch.reset()
    name, namelen, control, controllen, ext = _guest_msghdr(p, msg, True)
    sname = p.scratch.alloc(SOCKADDR_MAX) if name else 0
    sctl = p.scratch.alloc(controllen) if control and controllen else 0
    smsg = _msg_from(p, ext, sname, namelen if name else 0, sctl, controllen if sctl else 0)
    n = p.io.call(NR["recvmsg"], f.hfd, smsg, flags)
    _, got_namelen, _, _, _, got_ctl, mflags = _MSGHDR.unpack(p.scratch.get(smsg, _MSGHDR.size))
    if name:
        p.mm.write(name, p.scratch.get(sname, min(namelen, got_namelen)))
    if sctl:
        cloexec = bool(s32(flags) & MSG_CMSG_CLOEXEC)
        p.mm.write(control, _rights(p, p.scratch.get(sctl, got_ctl),
                                    lambda p, h: _to_guest(p, h, cloexec)))
    raw = bytearray(p.mm.read(msg, _MSGHDR.size))
    struct.pack_into("<I", raw, 8, got_namelen if name else 0)
    struct.pack_into("<Q", raw, 40, got_ctl if sctl else 0)
    struct.pack_into("<i", raw, 48, mflags)
    p.mm.write(msg, bytes(raw))
    return n


def shutdown(p, fd, how):
    return p.io.call(NR["shutdown"], p.fds.get(s32(fd)).hfd, how)


def _name(p, function, fd, addr, addrlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    out, lenp_s, want = _sockaddr_out(p, addr, addrlen)
    ret = p.io.call(function, f.hfd, out, lenp_s)
    _sockaddr_back(p, addr, addrlen, out, lenp_s, want)
    return ret


def getsockname(p, fd, addr, addrlen):
    return _name(p, NR["getsockname"], fd, addr, addrlen)


def getpeername(p, fd, addr, addrlen):
    return _name(p, NR["getpeername"], fd, addr, addrlen)


def setsockopt(p, fd, level, optname, optval, optlen):
    f = p.fds.get(s32(fd))
    optlen = s32(optlen)
    if optlen < 0 or optlen > 4096:
        raise LinuxError(EINVAL)
    p.scratch.reset()
    val = p.scratch.put(p.mm.read(optval, optlen)) if optval and optlen else 0
    return p.io.call(NR["setsockopt"], f.hfd, level, optname, val, optlen)


def getsockopt(p, fd, level, optname, optval, optlen):
    f = p.fds.get(s32(fd))
    p.scratch.reset()
    want = _U32.unpack(p.mm.read(optlen, 4))[0]
    if s32(want) < 0:
        raise LinuxError(EINVAL)
    want = min(want, 4096)
    out = p.scratch.alloc(max(want, 8))
    lenp_s = p.scratch.put(_U32.pack(want))
    ret = p.io.call(NR["getsockopt"], f.hfd, level, optname, out, lenp_s)
    got = _U32.unpack(p.scratch.get(lenp_s, 4))[0]
    p.mm.write(optval, p.scratch.get(out, min(got, want)))
    p.mm.write(optlen, _U32.pack(got))
    return ret


_MMSGHDR_SIZE = _MSGHDR.size + 8          # struct mmsghdr: msghdr, msg_len, padding
MSG_WAITFORONE = 0x10000


def sendmmsg(p, fd, msgvec, vlen, flags):
    """sendmsg for each of `vlen` messages; how many went (an error only if
    the first did not)."""
    sent = 0
    for i in range(min(vlen, 1024)):
        at = msgvec + i * _MMSGHDR_SIZE
        try:
            n = sendmsg(p, fd, at, flags)
        except LinuxError:
            if sent:
                break
            raise
        p.mm.write(at + _MSGHDR.size, struct.pack("<I", n))
        sent += 1
    return sent


def recvmmsg(p, fd, msgvec, vlen, flags, timeout):
    """recvmsg for up to `vlen` messages: the first as asked, the rest only
    while more are there (as MSG_WAITFORONE); the timeout is not used."""
    flags = s32(flags) & ~MSG_WAITFORONE
    got = 0
    for i in range(min(vlen, 1024)):
        at = msgvec + i * _MMSGHDR_SIZE
        try:
            n = recvmsg(p, fd, at, flags | (MSG_DONTWAIT if got else 0))
        except LinuxError:
            if got:
                break
            raise
        p.mm.write(at + _MSGHDR.size, struct.pack("<I", n))
        got += 1
    return got
