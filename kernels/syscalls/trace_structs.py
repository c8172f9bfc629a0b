"""The structs and arrays a trace shows, each as strace prints it: stat,
sigaction, sockaddr, msghdr, iovec, clone_args, a wait status, a siginfo...
read from guest memory through the call's Ctx (kernels/syscalls/trace_text.py).
Which argument is which struct is declared in kernels/syscalls/signatures.py;
kernels/syscalls/trace_decode.py picks the function.
"""
from __future__ import annotations

import ipaddress
import struct

from azemu.memory import GuestFault

from ..abi import linux as L
from . import trace_names as N
from .trace_text import Ctx, hx, ptr, quote, s32, string_at

def sigset(c: Ctx, v: int, size: int = 8) -> str:
    if not v:
        return "NULL"
    raw = c.read(v, min(max(size, 0), 8))
    bits = int.from_bytes(raw, "little")
    total = len(raw) * 8
    members = [i + 1 for i in range(total) if bits >> i & 1]
    if len(members) * 2 > total:
        members = [i + 1 for i in range(total) if not bits >> i & 1]
        prefix = "~"
    else:
        prefix = ""
    return prefix + "[" + " ".join(N.signal_name(s)[3:] for s in members) + "]"


def timespec(c, v, usec=False):
    if not v:
        return "NULL"
    sec, frac = L.TIMESPEC.unpack(c.read(v, 16))
    return f"{{tv_sec={sec}, {'tv_usec' if usec else 'tv_nsec'}={frac}}}"


def rlim(x: int) -> str:
    if x == L.RLIM_INFINITY:
        return "RLIM64_INFINITY"
    return f"{x // 1024}*1024" if x and x % 1024 == 0 else str(x)


def rlimit(c, v):
    if not v:
        return "NULL"
    cur, mx = L.RLIMIT.unpack(c.read(v, 16))
    return f"{{rlim_cur={rlim(cur)}, rlim_max={rlim(mx)}}}"


def makedev(dev: int) -> str:
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return f"makedev({hx(major)}, {hx(minor)})"


def stat(c, v):
    if not v:
        return "NULL"
    st = L.STAT.unpack(c.read(v, L.STAT.size))
    mode, rdev, size = st[3], st[7], st[8]
    kind = mode & L.S_IFMT
    tail = f"st_rdev={makedev(rdev)}" if kind in (L.S_IFCHR, L.S_IFBLK) else f"st_size={size}"
    return f"{{st_mode={N.st_mode(mode)}, {tail}, ...}}"


def statx(c, v):
    if not v:
        return "NULL"
    raw = c.read(v, 256)
    mask, _blksize, attrs = struct.unpack_from("<IIQ", raw)
    mode = struct.unpack_from("<H", raw, 28)[0]
    size = struct.unpack_from("<Q", raw, 40)[0]
    return (f"{{stx_mask={N.flags(N.STATX_MASK, mask)}, stx_attributes={hx(attrs)}, "
            f"stx_mode={N.st_mode(mode)}, stx_size={size}, ...}}")


def utsname(c, v):
    if not v:
        return "NULL"
    raw = c.read(v, 65 * 2)
    f = [raw[i * 65:(i + 1) * 65].split(b"\0")[0] for i in range(2)]
    return f"{{sysname={quote(f[0], 65)}, nodename={quote(f[1], 65)}, ...}}"


def sigaction(c, v):
    if not v:
        return "NULL"
    handler, fl, restorer, mask = L.SIGACTION.unpack(c.read(v, 32))
    h = {0: "SIG_DFL", 1: "SIG_IGN"}.get(handler, hx(handler))
    maskset = bits_as_sigset(mask)
    out = f"{{sa_handler={h}, sa_mask={maskset}, sa_flags={N.flags(N.SA, fl)}"
    if fl & 0x04000000:
        out += f", sa_restorer={hx(restorer)}"
    return out + "}"


def bits_as_sigset(bits: int) -> str:
    members = [i + 1 for i in range(64) if bits >> i & 1]
    if len(members) > 32:
        return "~[" + " ".join(N.signal_name(i + 1)[3:] for i in range(64) if not bits >> i & 1) + "]"
    return "[" + " ".join(N.signal_name(s)[3:] for s in members) + "]"


def sockaddr(c, v, length):
    if not v:
        return "NULL"
    raw = c.read(v, min(max(length, 0), 128))
    if len(raw) < 2:
        return hx(v)
    fam = struct.unpack_from("<H", raw)[0]
    name = N.enum(N.AF, fam)
    if fam == 2 and len(raw) >= 8:
        port = struct.unpack_from(">H", raw, 2)[0]
        addr = ipaddress.IPv4Address(raw[4:8])
        return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{addr}")}}'
    if fam == 10 and len(raw) >= 24:
        port, flow = struct.unpack_from(">HI", raw, 2)
        addr = ipaddress.IPv6Address(raw[8:24])
        scope = struct.unpack_from("<I", raw, 24)[0] if len(raw) >= 28 else 0
        return (f'{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), '
                f'inet_pton(AF_INET6, "{addr}", &sin6_addr), sin6_scope_id={scope}}}')
    if fam == 1:
        path = raw[2:]
        if path[:1] == b"\0" and len(path) > 1:
            return f"{{sa_family=AF_UNIX, sun_path=@{quote(path[1:], 108)}}}"
        name = quote(path.split(b"\0")[0], 108)
        return f"{{sa_family=AF_UNIX, sun_path={name}}}"
    return f"{{sa_family={name}, sa_data={quote(raw[2:], c.strsize)}}}"


def out_sockaddr(c, v, lenptr):
    if not v or not lenptr or (c.ret is not None and c.ret < 0):
        return ptr(v)
    n = struct.unpack("<i", c.read(lenptr, 4))[0]
    return sockaddr(c, v, n)


def iov(c, v, count, total=None, addresses=False):
    """An iovec array: each buffer's bytes (`total` of them in all, for what
    a call filled), or only its address (another process's: `addresses`)."""
    if not v:
        return "NULL"
    count = min(s32(count), 1024)
    if count < 0:
        return hx(v)
    raw = c.read(v, 16 * count)
    out = []
    left = total
    for i in range(min(count, c.strsize)):
        base, n = L.IOVEC.unpack_from(raw, 16 * i)
        take = n if left is None else min(n, max(left, 0))
        try:
            data = hx(base) if addresses and base else \
                quote(c.read(base, min(take, c.strsize)), c.strsize, take > c.strsize) \
                if base else "NULL"
        except GuestFault:
            data = hx(base)
        if left is not None:
            left -= take
        out.append(f"{{iov_base={data}, iov_len={n}}}")
    if count > c.strsize:
        out.append("...")
    return "[" + ", ".join(out) + "]"


def pollfd(c, v, count):
    if not v:
        return "NULL"
    count = min(count & 0xFFFFFFFF, 1024)
    raw = c.read(v, 8 * count)
    out = []
    for i in range(count):
        fd, events, _ = struct.unpack_from("<ihh", raw, 8 * i)
        out.append(f"{{fd={fd}, events={N.flags(N.POLL, events & 0xFFFF)}}}")
    return "[" + ", ".join(out) + "]"


def wstatus(c, v):
    if not v or (c.ret is not None and c.ret <= 0):
        return ptr(v)
    s = struct.unpack("<i", c.read(v, 4))[0]
    if s & 0x7F == 0:
        return f"[{{WIFEXITED(s) && WEXITSTATUS(s) == {s >> 8 & 0xFF}}}]"
    if s & 0xFF == 0x7F:
        return f"[{{WIFSTOPPED(s) && WSTOPSIG(s) == {N.signal_name(s >> 8 & 0xFF)}}}]"
    core = " && WCOREDUMP(s)" if s & 0x80 else ""
    return f"[{{WIFSIGNALED(s) && WTERMSIG(s) == {N.signal_name(s & 0x7F)}{core}}}]"


def dirents(c, v):
    if c.ret is None or c.ret < 0:
        return hx(v)
    raw, n, at = c.read(v, c.ret), 0, 0
    while at + 18 < len(raw):
        reclen = struct.unpack_from("<H", raw, at + 16)[0]
        if not reclen:
            break
        n, at = n + 1, at + reclen
    return f"{hx(v)} /* {n} entries */"


def cpuset(c, v):
    if c.ret is None or c.ret <= 0:
        return hx(v)
    bits = int.from_bytes(c.read(v, c.ret), "little")
    return "[" + " ".join(str(i) for i in range(c.ret * 8) if bits >> i & 1) + "]"


def argv(c, v):
    if not v:
        return "NULL"
    out = []
    for i in range(4096):
        a = int.from_bytes(c.read(v + 8 * i, 8), "little")
        if not a:
            break
        if i >= c.strsize:
            out.append("...")
            break
        out.append(string_at(c, a, c.strsize))
    return "[" + ", ".join(out) + "]"


def envp(c, v):
    if not v:
        return "NULL"
    n = 0
    while int.from_bytes(c.read(v + 8 * n, 8), "little"):
        n += 1
    return f"{hx(v)} /* {n} var{'s' if n != 1 else ''} */"


def stack(c, v):
    if not v:
        return "NULL"
    sp, fl, size = L.STACK_T.unpack(c.read(v, 24))
    return f"{{ss_sp={ptr(sp)}, ss_flags={N.flags(N.SS, fl & 0xFFFFFFFF)}, ss_size={size}}}"


def itimerval(c, v):
    if not v:
        return "NULL"
    a, b, x, y = struct.unpack("<qqqq", c.read(v, 32))
    return (f"{{it_interval={{tv_sec={a}, tv_usec={b}}}, "
            f"it_value={{tv_sec={x}, tv_usec={y}}}}}")


def clone_args(c, v):
    if not v:
        return "NULL"
    f = struct.unpack("<8Q", c.read(v, 64))
    fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls = f
    out = [f"flags={N.flags(N.CLONE, fl)}"]
    if fl & 0x1000:
        out.append(f"pidfd={hx(pidfd)}")
    if fl & 0x1200000:
        out.append(f"child_tid={hx(child_tid)}")
    if fl & 0x100000:
        out.append(f"parent_tid={hx(parent_tid)}")
    out.append(f"exit_signal={N.signal_name(exit_signal) if exit_signal else 0}")
    out += [f"stack={ptr(stack)}", f"stack_size={hx(stack_size)}"]
    if fl & 0x80000:
        out.append(f"tls={hx(tls)}")
    text = "{" + ", ".join(out) + "}"
    filled = []                                         # what the call wrote back
    if c.ret is not None and c.ret > 0:
        if fl & 0x1000 and pidfd:
            filled.append(f"pidfd=[{struct.unpack('<i', c.read(pidfd, 4))[0]}]")
        if fl & 0x100000 and parent_tid:
            filled.append(f"parent_tid=[{struct.unpack('<i', c.read(parent_tid, 4))[0]}]")
    if filled:
        text += " => {" + ", ".join(filled) + "}"
    return text


_FUTEX_SHAPES = {                 # the arguments after op that each futex op uses
    0: "vt", 1: "v", 2: "v", 3: "vnu", 4: "vnuw", 5: "vnuh", 6: "t", 7: "", 8: "",
    9: "vtb", 10: "vb", 11: "vtu", 12: "vnuw", 13: "t"}


def futex_rest(c):
    """futex(2) after its op, as strace prints each op: val, then a timeout,
    a count, the second address, val3 — those the op uses."""
    _uaddr, op, val, timeout, uaddr2, val3 = (list(c.args) + [0] * 6)[:6]
    out = []
    for k in _FUTEX_SHAPES.get(op & 0x7F, "vtuw"):
        if k == "v":
            out.append(str(s32(val)))
        elif k == "t":
            out.append(timespec(c, timeout) if timeout else "NULL")
        elif k == "n":
            out.append(str(s32(timeout)))
        elif k == "u":
            out.append(ptr(uaddr2))
        elif k == "w":
            out.append(str(s32(val3)))
        elif k == "h":
            out.append(hx(val3 & 0xFFFFFFFF))
        elif k == "b":
            out.append("FUTEX_BITSET_MATCH_ANY" if val3 & 0xFFFFFFFF == 0xFFFFFFFF else hx(val3))
    return ", ".join(out) if out else None


_MSGHDR = struct.Struct("<QI4xQQQQi4x")


def cmsgs(c, at: int, length: int) -> str:
    raw = c.read(at, min(length, 4096))
    out, off = [], 0
    while off + 16 <= len(raw):
        clen, level, kind = struct.unpack_from("<Qii", raw, off)
        if clen < 16:
            break
        data = raw[off + 16:off + min(clen, len(raw) - off)]
        lvl = "SOL_SOCKET" if level == 1 else str(level)
        if level == 1 and kind == 1:
            fds = struct.unpack(f"<{len(data) // 4}i", data[:len(data) // 4 * 4])
            body = f"cmsg_type=SCM_RIGHTS, cmsg_data=[{', '.join(map(str, fds))}]"
        elif level == 1 and kind == 2 and len(data) >= 12:
            pid, uid, gid = struct.unpack_from("<iII", data)
            body = f"cmsg_type=SCM_CREDENTIALS, cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}"
        else:
            body = f"cmsg_type={hx(kind)}, cmsg_data={quote(data, c.strsize)}"
        out.append(f"{{cmsg_len={clen}, cmsg_level={lvl}, {body}}}")
        off += (clen + 7) & ~7
    return "[" + ", ".join(out) + "]"


def msghdr(c, v, total=None):
    """struct msghdr: its name, iovecs (the bytes moved: `total` of them for
    a receive), control messages (SCM_RIGHTS' fds) and flags."""
    if not v:
        return "NULL"
    name, namelen, iov_at, iovlen, control, controllen, fl = _MSGHDR.unpack(c.read(v, _MSGHDR.size))
    args, c.args = c.args, (0, 0, iovlen)
    try:
        iovs = iov(c, iov_at, iovlen, total)
    finally:
        c.args = args
    addr = sockaddr(c, name, namelen) if name else "NULL"
    ctl = cmsgs(c, control, controllen) if control and controllen else ptr(control)
    return (f"{{msg_name={addr}, msg_namelen={namelen}, msg_iov={iovs}, msg_iovlen={iovlen}, "
            f"msg_control={ctl}, msg_controllen={controllen}, msg_flags={N.flags(N.MSG, fl & 0xFFFFFFFF)}}}")


def sigframe(c):
    """rt_sigreturn's argument as strace shows it: the mask its frame restores."""
    from unicorn.x86_const import UC_X86_REG_RSP
    try:
        uc_at = c.p.core.regs.read(UC_X86_REG_RSP)
        mask = int.from_bytes(c.read(uc_at + 40 + 256, 8), "little")   # uc_sigmask
    except (GuestFault, AttributeError):
        return "{mask=?}"
    return f"{{mask={bits_as_sigset(mask)}}}"


def clone(c):
    """clone(2) as strace names its arguments (x86-64 order: flags, stack,
    parent_tid, child_tid, tls), each only when its flag asks for it."""
    fl, stack, ptid, ctid, tls = (list(c.args) + [0] * 5)[:5]
    out = [f"child_stack={ptr(stack)}", f"flags={clone_flags(fl)}"]
    if fl & 0x101000 and ptid:                         # CLONE_PARENT_SETTID, CLONE_PIDFD
        try:
            if c.ret is None or c.ret < 0:
                raise GuestFault(ptid)
            out.append(f"parent_tid=[{struct.unpack('<i', c.read(ptid, 4))[0]}]")
        except GuestFault:
            out.append(f"parent_tid={hx(ptid)}")
    if fl & 0x80000:                                   # CLONE_SETTLS
        out.append(f"tls={hx(tls)}")
    if fl & 0x1200000:                                 # CLONE_CHILD_SETTID, _CLEARTID
        out.append(f"child_tidptr={hx(ctid)}")
    return ", ".join(out)


def clone_flags(v):
    fl = v & ~0xFF
    sig = v & 0xFF
    parts = [N.flags(N.CLONE, fl, "")] if fl else []
    if sig:
        parts.append(N.signal_name(sig))
    return "|".join(parts) or "0"


_GET_CMDS = {1, 3, 9, 11, 16, 1025, 1032, 1034}         # fcntl commands with no argument


def fcntl_arg(c, v, cmd):
    cmd = cmd & 0xFFFFFFFF
    if cmd in _GET_CMDS:
        return None
    if cmd == 2:
        return N.flags(N.FD_FLAGS, v & 0xFFFFFFFF)
    if cmd == 4:
        return N.open_flags(v)
    if cmd in (5, 6, 7, 36, 37, 38):                   # struct flock
        try:
            kind, whence, start, length, pid = struct.unpack("<hh4xqqi4x", c.read(v, 32))
        except GuestFault:
            return hx(v)
        name = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}.get(kind, str(kind))
        got = f", l_pid={pid}" if cmd in (5, 36) and (c.ret or 0) >= 0 else ""   # F_GETLK's answer
        return (f"{{l_type={name}, l_whence={N.enum(N.WHENCE, whence)}, l_start={start}, "
                f"l_len={length}{got}}}")
    if cmd == 15:
        return hx(v)
    return str(s32(v))


def ioctl_arg(c, v, req):
    """Printed after the call: what a TIOCGWINSZ or FIONREAD filled in."""
    req &= 0xFFFFFFFF
    if not v or (c.ret or 0) < 0:
        return hx(v)
    if req in (0x5413, 0x5414):                                   # TIOC[GS]WINSZ
        r, col, x, y = L.WINSIZE.unpack(c.read(v, 8))
        return f"{{ws_row={r}, ws_col={col}, ws_xpixel={x}, ws_ypixel={y}}}"
    if req in (0x5421, 0x541B):                                   # FIONBIO, FIONREAD
        return f"[{struct.unpack('<i', c.read(v, 4))[0]}]"
    return hx(v)


def intptr(c, v):
    if not v or (c.ret is not None and c.ret < 0):
        return ptr(v)
    return f"[{struct.unpack('<i', c.read(v, 4))[0]}]"


def fds(c, v):
    if c.ret is None or c.ret < 0:
        return hx(v)
    a, b = struct.unpack("<ii", c.read(v, 8))
    return f"[{a}, {b}]"



_SI_CODES = {0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
             -6: "SI_TKILL"}
_CLD = {1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED", 5: "CLD_STOPPED",
        6: "CLD_CONTINUED"}
_FAULT_CODES = {11: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR"}, 7: {1: "BUS_ADRALN", 2: "BUS_ADRERR"},
                8: {1: "FPE_INTDIV", 2: "FPE_INTOVF"}, 4: {1: "ILL_ILLOPC", 2: "ILL_ILLOPN"},
                5: {1: "TRAP_BRKPT", 2: "TRAP_TRACE"}}


def siginfo(info) -> str:
    """`SIGNAME {si_signo=..., ...}`: a delivered signal's siginfo as strace prints it."""
    name = N.signal_name(info.sig)
    out = [f"si_signo={name}"]
    code = info.code
    if info.sig in _FAULT_CODES and code > 0:
        out += [f"si_code={_FAULT_CODES[info.sig].get(code, code)}", f"si_addr={ptr(info.addr)}"]
    elif info.sig == L.SIGCHLD and code in _CLD:
        status = N.signal_name(info.status) if code in (2, 3) else str(info.status)
        out += [f"si_code={_CLD[code]}", f"si_pid={info.pid}", f"si_uid={info.uid}",
                f"si_status={status}", "si_utime=0", "si_stime=0"]
    elif code == -2:
        out += ["si_code=SI_TIMER", f"si_timerid={hx(info.tid)}", f"si_overrun={info.overrun}",
                f"si_int={s32(info.value)}", f"si_ptr={ptr(info.value)}"]
    elif code in (0, -1, -6):
        out += [f"si_code={_SI_CODES[code]}", f"si_pid={info.pid}", f"si_uid={info.uid}"]
        if code == -1:
            out += [f"si_int={s32(info.value)}", f"si_ptr={ptr(info.value)}"]
    else:
        out.append(f"si_code={_SI_CODES.get(code, code)}")
    return f"{name} {{{', '.join(out)}}}"


def poll_result(c) -> str:
    """poll's result as strace adds to it: (Timeout), or the fds that are ready."""
    if c.ret == 0:
        return "0 (Timeout)"
    try:
        count = min(c.args[1] & 0xFFFFFFFF, 1024)
        raw = c.read(c.args[0], 8 * count)
    except (GuestFault, ValueError):
        return str(c.ret)
    ready = []
    for i in range(count):
        fd, _ev, rev = struct.unpack_from("<ihh", raw, 8 * i)
        if rev:
            ready.append(f"{{fd={fd}, revents={N.flags(N.POLL, rev & 0xFFFF)}}}")
    return f"{c.ret} ([{', '.join(ready)}])"



def epoll_events(c, v, count) -> str:
    """struct epoll_event array (packed on x86-64: events, then 8 bytes of data)."""
    if not v:
        return "NULL"
    count = min(max(count, 0), 1024)
    raw = c.read(v, 12 * count)
    out = []
    for i in range(min(count, c.strsize)):
        ev, data = struct.unpack_from("<IQ", raw, 12 * i)
        out.append(f"{{events={N.flags(N.EPOLL_EVENTS, ev)}, data={{u32={data & 0xFFFFFFFF}, u64={data}}}}}")
    if count > c.strsize:
        out.append("...")
    return "[" + ", ".join(out) + "]"
