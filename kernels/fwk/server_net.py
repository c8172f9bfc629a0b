"""The FWK's network service: sockets, polling and epoll, executed with the
host's own system calls on the guest's memory.

Pointer parameters arrive as guest-physical addresses; the host's libc is
called with the host address of those same bytes (the segment is mapped
here), so socket addresses, buffers and poll arrays are never copied.  The
kernel has already put guest fds through its fd table: every fd in a
parameter or in a poll array / fd_set / msghdr is a handle of this process.
A msghdr's pointers (name, iov, iov bases, control) are guest-physical too,
and are rebased here into a private copy before the host call.

AF_UNIX sockets with a path name are confined like any path: under --root
they are refused (EACCES) rather than resolved on the host.
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket as _socket
import struct

from ..abi.syscall_numbers import SYSCALL_NAMES
from . import channel as C
from .server_files import _check, _s32

_libc = ctypes.CDLL(None, use_errno=True)
MSG_CMSG_CLOEXEC = 0x40000000
_MSGHDR = struct.Struct("<QI4xQQQQi4x")       # name, namelen, iov, iovlen, control, controllen, flags
_IOV = struct.Struct("<QQ")
SOCK_TYPE_MASK = 0xF


AF_VSOCK = 40
# Families a guest may not have: AF_VSOCK talks to the hypervisor of the machine
# azemu runs on, past the host network stack a guest is given (EAFNOSUPPORT, as
# a kernel without it answers; the guest's /dev has no vsock either).
_REFUSED_FAMILIES = frozenset((AF_VSOCK,))


def _family_allowed(domain) -> None:
    if _s32(domain) in _REFUSED_FAMILIES:
        raise OSError(errno.EAFNOSUPPORT, "address family not given to guests")


def register(server):
    """Serve the network calls (server.NET_CALLS) on `server`."""
    from .server import NET_CALLS
    n = Net(server)
    for nr in NET_CALLS:
        server.ops[nr] = getattr(n, SYSCALL_NAMES[nr])


class Net:
    def __init__(self, server):
        self.s = server

    def ptr(self, phys, n=1):
        """Host address of guest-physical [phys, phys+n); 0 stays NULL."""
        if not phys:
            return None
        self.s._range(phys, n)
        return ctypes.c_void_p(self.s.base + phys)

    def fd(self, tid, h):
        return self.s.h(tid, h).fd

    def _unix_path_allowed(self, addr_phys, length):
        if not addr_phys or length < 3:
            return
        fam = struct.unpack("<H", bytes(self.s._range(addr_phys, 2)))[0]
        if fam == _socket.AF_UNIX and bytes(self.s._range(addr_phys + 2, 1)) != b"\0" \
                and self.s.box.root != b"/":
            raise OSError(errno.EACCES, "AF_UNIX path names are not offered under --root")

    # ---- sockets ---------------------------------------------------------------
    def socket(self, tid, domain, type_, proto, *_):
        _family_allowed(domain)
        fd = _check(_libc.socket(_s32(domain), _s32(type_) | _socket.SOCK_CLOEXEC, _s32(proto)))
        return self.s.new_handle(tid, fd, None, C.KIND_SOCKET)

    def socketpair(self, tid, domain, type_, proto, *_):
        _family_allowed(domain)
        sv = (ctypes.c_int * 2)()
        _check(_libc.socketpair(_s32(domain), _s32(type_) | _socket.SOCK_CLOEXEC, _s32(proto), sv))
        self.s.new_handle(tid, sv[0], None, C.KIND_SOCKET)
        self.s.new_handle(tid, sv[1], None, C.KIND_SOCKET)
        return sv[0] | (sv[1] << 32)

    def bind(self, tid, h, addr, length, *_):
        self._unix_path_allowed(addr, length)
        return _check(_libc.bind(self.fd(tid, h), self.ptr(addr, length), ctypes.c_uint(length)))

    def connect(self, tid, h, addr, length, *_):
        self._unix_path_allowed(addr, length)
        return _check(_libc.connect(self.fd(tid, h), self.ptr(addr, length), ctypes.c_uint(length)))

    def listen(self, tid, h, backlog, *_):
        return _check(_libc.listen(self.fd(tid, h), _s32(backlog)))

    def accept4(self, tid, h, addr, lenp, flags, *_):
        fd = _check(_libc.accept4(self.fd(tid, h), self.ptr(addr, 16), self.ptr(lenp, 4),
                                  _s32(flags) | _socket.SOCK_CLOEXEC))
        return self.s.new_handle(tid, fd, None, C.KIND_SOCKET)

    def sendto(self, tid, h, buf, length, flags, addr, alen):
        return _check(_libc.sendto(self.fd(tid, h), self.ptr(buf, length), ctypes.c_size_t(length),
                                   _s32(flags), self.ptr(addr, alen), ctypes.c_uint(alen)))

    def recvfrom(self, tid, h, buf, length, flags, addr, alenp):
        return _check(_libc.recvfrom(self.fd(tid, h), self.ptr(buf, length), ctypes.c_size_t(length),
                                     _s32(flags), self.ptr(addr, 1), self.ptr(alenp, 4)))

    def _msghdr(self, phys):
        """A host msghdr rebuilt from a guest-physical one; returns (buffer, keep)."""
        name, namelen, iov, iovlen, control, controllen, flags = _MSGHDR.unpack(
            bytes(self.s._range(phys, _MSGHDR.size)))
        iovs = (ctypes.c_uint64 * (2 * max(iovlen, 1)))()
        raw = bytes(self.s._range(iov, 16 * iovlen)) if iovlen else b""
        for i in range(iovlen):
            b, n = _IOV.unpack_from(raw, 16 * i)
            iovs[2 * i] = self.s.base + b if n else 0
            self.s._range(b, n)
            iovs[2 * i + 1] = n
        host = ctypes.create_string_buffer(_MSGHDR.pack(
            self.s.base + name if name else 0, namelen, ctypes.addressof(iovs), iovlen,
            self.s.base + control if control else 0, controllen, flags))
        return host, iovs

    def _rights(self, control: int, controllen: int) -> list[int]:
        """The fds of the SCM_RIGHTS messages in a control buffer."""
        raw = bytes(self.s._range(control, controllen)) if control and controllen else b""
        fds, at = [], 0
        while at + 16 <= len(raw):
            clen, level, type_ = struct.unpack_from("<Qii", raw, at)
            if clen < 16 or at + clen > len(raw):
                break
            if level == 1 and type_ == 1:        # SOL_SOCKET, SCM_RIGHTS
                fds += struct.unpack_from(f"<{(clen - 16) // 4}i", raw, at + 16)
            at += (clen + 7) & ~7
        return fds

    def sendmsg(self, tid, h, msg, flags, *_):
        host, keep = self._msghdr(msg)
        _, _, _, _, control, controllen, _ = _MSGHDR.unpack(bytes(self.s._range(msg, _MSGHDR.size)))
        for fd in self._rights(control, controllen):
            self.s.h(tid, fd)                    # only this guest's own handles travel (EBADF)
        return _check(_libc.sendmsg(self.fd(tid, h), host, _s32(flags)))

    def recvmsg(self, tid, h, msg, flags, *_):
        host, keep = self._msghdr(msg)
        n = _check(_libc.recvmsg(self.fd(tid, h), host, _s32(flags) | MSG_CMSG_CLOEXEC))
        # copy back what recvmsg updates: namelen, controllen, flags
        _, namelen, _, _, _, controllen, mflags = _MSGHDR.unpack(host.raw[:_MSGHDR.size])
        mflags &= ~MSG_CMSG_CLOEXEC | _s32(flags)  # (the host's own cloexec is not the guest's)
        control = _MSGHDR.unpack(bytes(self.s._range(msg, _MSGHDR.size)))[4]
        for fd in self._rights(control, controllen):
            self.s.new_handle(tid, fd, b"")      # fds received: this guest's handles now
        raw = bytearray(self.s._range(msg, _MSGHDR.size))
        struct.pack_into("<I", raw, 8, namelen)
        struct.pack_into("<Q", raw, 40, controllen)
        struct.pack_into("<i", raw, 48, mflags)
        self.s.put(msg, bytes(raw))
        return n

    def shutdown(self, tid, h, how, *_):
        return _check(_libc.shutdown(self.fd(tid, h), _s32(how)))

    def getsockname(self, tid, h, addr, lenp, *_):
        return _check(_libc.getsockname(self.fd(tid, h), self.ptr(addr, 1), self.ptr(lenp, 4)))

    def getpeername(self, tid, h, addr, lenp, *_):
        return _check(_libc.getpeername(self.fd(tid, h), self.ptr(addr, 1), self.ptr(lenp, 4)))

    def setsockopt(self, tid, h, level, opt, val, length, *_):
        return _check(_libc.setsockopt(self.fd(tid, h), _s32(level), _s32(opt),
                                       self.ptr(val, length), ctypes.c_uint(length)))

    def getsockopt(self, tid, h, level, opt, val, lenp, *_):
        return _check(_libc.getsockopt(self.fd(tid, h), _s32(level), _s32(opt),
                                       self.ptr(val, 1), self.ptr(lenp, 4)))

    # ---- waiting ------------------------------------------------------------------
    def _owned(self, tid, fds):
        for fd in fds:
            if fd >= 0:
                self.s.h(tid, fd)

    def poll(self, tid, fds, nfds, timeout, *_):
        raw = bytes(self.s._range(fds, 8 * nfds))
        self._owned(tid, [struct.unpack_from("<i", raw, 8 * i)[0] for i in range(nfds)])
        return _check(_libc.poll(self.ptr(fds, 8 * nfds), ctypes.c_ulong(nfds), _s32(timeout)))

    def ppoll(self, tid, fds, nfds, tsp, *_):
        raw = bytes(self.s._range(fds, 8 * nfds))
        self._owned(tid, [struct.unpack_from("<i", raw, 8 * i)[0] for i in range(nfds)])
        return _check(_libc.ppoll(self.ptr(fds, 8 * nfds), ctypes.c_ulong(nfds), self.ptr(tsp, 16), None))

    def select(self, tid, nfds, r, w, e, tv, *_):
        return _check(_libc.select(_s32(nfds), self.ptr(r, 128), self.ptr(w, 128), self.ptr(e, 128),
                                   self.ptr(tv, 16)))

    def pselect6(self, tid, nfds, r, w, e, ts, *_):
        return _check(_libc.pselect(_s32(nfds), self.ptr(r, 128), self.ptr(w, 128), self.ptr(e, 128),
                                    self.ptr(ts, 16), None))

    def epoll_create1(self, tid, flags, *_):
        fd = _check(_libc.epoll_create1(_s32(flags) | os.O_CLOEXEC))
        return self.s.new_handle(tid, fd, None, C.KIND_OTHER)

    def epoll_ctl(self, tid, ep, op, fd, event, *_):
        return _check(_libc.epoll_ctl(self.fd(tid, ep), _s32(op), self.fd(tid, fd), self.ptr(event, 12)))

    def epoll_wait(self, tid, ep, events, maxevents, timeout, *_):
        return _check(_libc.epoll_wait(self.fd(tid, ep), self.ptr(events, 12 * max(maxevents, 1)),
                                       _s32(maxevents), _s32(timeout)))

    def epoll_pwait(self, tid, ep, events, maxevents, timeout, *_):
        return self.epoll_wait(tid, ep, events, maxevents, timeout)
