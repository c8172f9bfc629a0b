"""The FWK's network service: sockets, polling and epoll, executed with the
host's own system calls on the guest's memory.

Pointer parameters arrive as guest-physical addresses; the host's libc is
called with the host address of those same bytes (the segment is mapped
here), so socket addresses, buffers and poll arrays are never copied.  The
kernel has already put guest fds through its fd table: every fd in a
parameter or in a poll array / fd_set / msghdr is a handle of this process.
A msghdr's pointers (name, iov, iov bases, control) are guest-physical too,
and are rebased here into a private copy before the host call.

AF_UNIX addresses under --root (bind, connect, sendto, sendmsg; and what
getsockname, getpeername, accept, recvfrom, recvmsg give back):

* a path name is refused (EACCES) rather than resolved on the host — in a
  datagram's destination too;
* an abstract name (sun_path[0] == 0) lives in a namespace of the sandbox:
  on the host it is the guest's name after a prefix made of a random token
  drawn once per root in this process ("\0azemu-<12 hex>/" + name; a name
  too long for that, by a digest of it), and the prefix is taken off again
  in every address handed back.  So the guests of one root talk to each
  other by abstract names as on Linux, and no host service listening on an
  abstract name is reachable from them (ECONNREFUSED: no such name).  An
  autobind (bind with only the family) is made in the namespace too.  An
  abstract address without the prefix handed back — a peer that bound
  itself on the host, outside the namespace, and reached the guest first —
  is kept as it is, and the guest may send back to it.
Without --root the guest has the host's namespaces, as it has the host's
file system.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
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


SUN_LEN_MAX = 110                              # sizeof(struct sockaddr_un)
_U32 = struct.Struct("<I")
_TOKENS: dict[bytes, bytes] = {}               # root -> the prefix of its abstract names
_LONG: dict[bytes, bytes] = {}                 # host name (a digest) -> the guest's long name


def abstract_prefix(root: bytes) -> bytes:
    """The prefix abstract AF_UNIX names of guests under `root` get on the host."""
    token = _TOKENS.get(root)
    if token is None:                          # (setdefault: one token even if two threads race here)
        token = _TOKENS.setdefault(root, b"azemu-" + os.urandom(6).hex().encode() + b"/")
    return token


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
        self.peers: set[bytes] = set()           # abstract names outside the namespace handed back

    def ptr(self, phys, n=1):
        """Host address of guest-physical [phys, phys+n); 0 stays NULL."""
        if not phys:
            return None
        self.s._range(phys, n)
        return ctypes.c_void_p(self.s.base + phys)

    def fd(self, tid, h):
        return self.s.h(tid, h).fd

    # ---- AF_UNIX addresses under --root (the module's docstring) ----------------------
    @property
    def prefix(self) -> bytes | None:
        root = self.s.box.root
        return None if root == b"/" else abstract_prefix(root)

    def addr_in(self, phys, length, bind=False):
        """(host pointer, length) for the address a guest names: its own
        bytes, or for AF_UNIX under --root its abstract name in the
        sandbox's namespace (a path name: EACCES)."""
        length = _s32(length)
        if not phys or length < 2 or self.prefix is None:
            return self.ptr(phys, max(length, 0)), ctypes.c_uint(max(length, 0))
        raw = bytes(self.s._range(phys, length))
        if struct.unpack_from("<H", raw)[0] != _socket.AF_UNIX:
            return self.ptr(phys, length), ctypes.c_uint(length)
        if length > SUN_LEN_MAX:
            raise OSError(errno.EINVAL, "")
        if length == 2:
            return self.ptr(phys, 2), ctypes.c_uint(2)           # unnamed (a bind: autobind, below)
        if raw[2] != 0:
            raise OSError(errno.EACCES, "AF_UNIX path names are not offered under --root")
        host = b"\0" + self._host_name(raw[3:], bind)
        return ctypes.create_string_buffer(raw[:2] + host, 2 + len(host)), ctypes.c_uint(2 + len(host))

    def _host_name(self, name: bytes, bind: bool) -> bytes:
        if not bind and name in self.peers:
            return name                          # a peer outside the namespace that reached us
        host = self.prefix + name
        if len(host) > SUN_LEN_MAX - 3:
            host = self.prefix + b"#" + hashlib.sha256(name).hexdigest().encode()
            _LONG[host] = name
        return host

    def addr_out(self, out, lenp):
        """Take the namespace's prefix off an abstract AF_UNIX address the
        host wrote at guest-physical `out` (its length at `lenp`)."""
        if not out or not lenp or self.prefix is None:
            return
        n = _U32.unpack(bytes(self.s._range(lenp, 4)))[0]
        if n < 4 or n > SUN_LEN_MAX:
            return
        raw = bytes(self.s._range(out, n))
        if struct.unpack_from("<H", raw)[0] != _socket.AF_UNIX or raw[2] != 0:
            return
        host = raw[3:]
        if host.startswith(self.prefix):
            name = _LONG.get(host, host[len(self.prefix):])
        else:
            name = host
            self.peers.add(host)
        self.s.put(out, raw[:2] + b"\0" + name)
        self.s.put(lenp, _U32.pack(3 + len(name)))

    def _autobind(self, fd) -> int:
        """bind(fd, {AF_UNIX}, 2) under --root: a name of five hex digits, as
        Linux gives, in the sandbox's namespace."""
        for _ in range(64):
            host = struct.pack("<H", _socket.AF_UNIX) + b"\0" + self.prefix + os.urandom(3).hex()[:5].encode()
            ret = _libc.bind(fd, ctypes.create_string_buffer(host, len(host)), ctypes.c_uint(len(host)))
            if ret == 0 or ctypes.get_errno() != errno.EADDRINUSE:
                return _check(ret)
        raise OSError(errno.EADDRINUSE, "")

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
        fd = self.fd(tid, h)
        ptr, n = self.addr_in(addr, length, bind=True)
        if n.value == 2 and self.prefix is not None and \
                struct.unpack("<H", bytes(self.s._range(addr, 2)))[0] == _socket.AF_UNIX:
            return self._autobind(fd)
        return _check(_libc.bind(fd, ptr, n))

    def connect(self, tid, h, addr, length, *_):
        ptr, n = self.addr_in(addr, length)
        return _check(_libc.connect(self.fd(tid, h), ptr, n))

    def listen(self, tid, h, backlog, *_):
        return _check(_libc.listen(self.fd(tid, h), _s32(backlog)))

    def accept4(self, tid, h, addr, lenp, flags, *_):
        fd = _check(_libc.accept4(self.fd(tid, h), self.ptr(addr, 16), self.ptr(lenp, 4),
                                  _s32(flags) | _socket.SOCK_CLOEXEC))
        self.addr_out(addr, lenp)
        return self.s.new_handle(tid, fd, None, C.KIND_SOCKET)

    def sendto(self, tid, h, buf, length, flags, addr, alen):
        ptr, n = self.addr_in(addr, alen)
        return _check(_libc.sendto(self.fd(tid, h), self.ptr(buf, length), ctypes.c_size_t(length),
                                   _s32(flags), ptr, n))

    def recvfrom(self, tid, h, buf, length, flags, addr, alenp):
        n = _check(_libc.recvfrom(self.fd(tid, h), self.ptr(buf, length), ctypes.c_size_t(length),
                                  _s32(flags), self.ptr(addr, 1), self.ptr(alenp, 4)))
        self.addr_out(addr, alenp)
        return n

    def _msghdr(self, phys, send=False):
        """A host msghdr rebuilt from a guest-physical one; returns (buffer,
        what must live as long as it).  For a send, its destination is
        checked and translated as sendto's (addr_in)."""
        name, namelen, iov, iovlen, control, controllen, flags = _MSGHDR.unpack(
            bytes(self.s._range(phys, _MSGHDR.size)))
        iovs = (ctypes.c_uint64 * (2 * max(iovlen, 1)))()
        raw = bytes(self.s._range(iov, 16 * iovlen)) if iovlen else b""
        for i in range(iovlen):
            b, n = _IOV.unpack_from(raw, 16 * i)
            iovs[2 * i] = self.s.base + b if n else 0
            self.s._range(b, n)
            iovs[2 * i + 1] = n
        keep, name_at = [iovs], self.s.base + name if name else 0
        if send and name and namelen:            # the destination, as sendto's
            ptr, n = self.addr_in(name, namelen)
            if isinstance(ptr, ctypes.Array):    # translated: the host's own copy
                keep.append(ptr)
                name_at, namelen = ctypes.addressof(ptr), n.value
        host = ctypes.create_string_buffer(_MSGHDR.pack(
            name_at, namelen, ctypes.addressof(iovs), iovlen,
            self.s.base + control if control else 0, controllen, flags))
        return host, keep

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
        host, keep = self._msghdr(msg, send=True)
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
        name, _, _, _, control, _, _ = _MSGHDR.unpack(bytes(self.s._range(msg, _MSGHDR.size)))
        if name and namelen and self.prefix is not None:
            self.s.put(msg + 8, _U32.pack(namelen))    # (addr_out reads the length there)
            self.addr_out(name, msg + 8)
            namelen = _U32.unpack(bytes(self.s._range(msg + 8, 4)))[0]
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
        _check(_libc.getsockname(self.fd(tid, h), self.ptr(addr, 1), self.ptr(lenp, 4)))
        self.addr_out(addr, lenp)
        return 0

    def getpeername(self, tid, h, addr, lenp, *_):
        _check(_libc.getpeername(self.fd(tid, h), self.ptr(addr, 1), self.ptr(lenp, 4)))
        self.addr_out(addr, lenp)
        return 0

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
