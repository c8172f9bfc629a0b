"""`azemu exec --gdb PORT`: a gdb remote stub, so that Debian's gdb debugs a
guest as it debugs one under `qemu-x86_64 -g PORT`:

    gdb -ex 'target remote :PORT' PROGRAM   (break main, continue, stepi,
    info registers, x/4i $pc, bt, watch, info threads, detach)

The guest stops before its first instruction and waits for gdb.  The stub
speaks the remote serial protocol (packets `$...#cs`, acknowledged with `+`)
on one TCP connection, from the emulation thread itself: while gdb looks,
the guest does not run.  A reader thread takes what gdb sends while the
guest runs, so that Ctrl-C (0x03) stops it.

How it stops the guest is kernels/debugctl.py's (shared with `azemu
debug`): a code hook on every core stops where gdb asked — a breakpoint
(Z0/Z1: hooks, the guest's code is never patched), a single step (s,
vCont;s), an interrupt; watchpoints (Z2 write, Z3 read, Z4 access) are
memory hooks, reported after the access, at the next instruction, as a
CPU's debug registers report it.

Threads are the guest's: one gdb thread per guest thread of the process
(thread ids are tids), its registers those of the core running it or those
saved when it was switched out.  Processes it forks are not debugged: gdb's
default (follow-fork-mode parent, detach-on-fork on) — their breakpoints,
steps and watchpoints do not stop them.  The target description (registers, x87,
SSE, fs_base and gs_base) is sent as target.xml.
"""
from __future__ import annotations

import queue
import socket
import struct
import threading

from .abi import linux as L
from .debugctl import DebugControl

# The registers, in the order of the 'g' packet and of target.xml:
# (name, bits, type, group)
GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
REGS = ([(n, 64, "data_ptr" if n in ("rbp", "rsp") else "int64", "general") for n in GPRS]
        + [("rip", 64, "code_ptr", "general"), ("eflags", 32, "int32", "general")]
        + [(s, 32, "int32", "general") for s in ("cs", "ss", "ds", "es", "fs", "gs")]
        + [(f"st{i}", 80, "i387_ext", "float") for i in range(8)]
        + [(n, 32, "int", "float") for n in ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg",
                                              "fooff", "fop")]
        + [(f"xmm{i}", 128, "vec128", "sse") for i in range(16)]
        + [("mxcsr", 32, "int", "vector"), ("fs_base", 64, "int", "system"),
           ("gs_base", 64, "int", "system")])
SEGMENTS = {"cs": 0x33, "ss": 0x2B, "ds": 0, "es": 0, "fs": 0, "gs": 0}

def target_xml() -> str:
    regs = "".join(f'<reg name="{n}" bitsize="{b}" type="{t}" group="{g}"/>' for n, b, t, g in REGS)
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>i386:x86-64</architecture>'
            '<osabi>GNU/Linux</osabi><feature name="org.gnu.gdb.i386.core">'
            '<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>'
            '<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>'
            '<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>'
            '<union id="vec128"><field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>'
            '<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>'
            '<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>'
            '<field name="uint128" type="uint128"/></union>'
            f'{regs}</feature></target>')


def _checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


def _escape(data: bytes) -> bytes:
    out = bytearray()
    for c in data:
        if c in b"#$}*":
            out += bytes((0x7D, c ^ 0x20))
        else:
            out.append(c)
    return bytes(out)


class Connection:
    """The socket, framed: packets in (a queue filled by a reader thread,
    which also notes Ctrl-C), packets out."""

    def __init__(self, sock: socket.socket, on_interrupt):
        self.sock = sock
        self.packets: queue.Queue = queue.Queue()
        self.on_interrupt = on_interrupt
        self.closed = False
        self.ack = True
        threading.Thread(target=self._reader, daemon=True, name="gdb-reader").start()

    def _reader(self) -> None:
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while buf:
                    c = buf[:1]
                    if c == b"\x03":
                        buf = buf[1:]
                        self.on_interrupt()
                    elif c in b"+-":
                        buf = buf[1:]
                    elif c == b"$":
                        end = buf.find(b"#")
                        if end < 0 or len(buf) < end + 3:
                            break
                        body = buf[1:end]
                        buf = buf[end + 3:]
                        if self.ack:
                            self.sock.sendall(b"+")
                        self.packets.put(_unescape(body))
                    else:
                        buf = buf[1:]
        except OSError:
            pass
        self.closed = True
        self.packets.put(None)

    def get(self) -> bytes | None:
        return self.packets.get()

    def send(self, data: bytes) -> None:
        data = _escape(data)
        try:
            self.sock.sendall(b"$" + data + b"#" + _checksum(data))
        except OSError:
            self.closed = True


def _unescape(body: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(body):
        if body[i] == 0x7D and i + 1 < len(body):
            out.append(body[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(body[i])
            i += 1
    return bytes(out)


class GdbStub:
    """The stub of one kernel instance's first process."""

    def __init__(self, kernel, port: int, announce):
        self.k = kernel
        self.thread = None                        # the tid 'g' and 'm' are about (Hg)
        self.running = False                      # gdb resumed the guest and waits for a stop
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        announce(f"azemu: waiting for gdb on localhost:{listener.getsockname()[1]} "
                 f"(target remote :{listener.getsockname()[1]})")
        sock, _ = listener.accept()
        listener.close()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ctl = DebugControl(kernel, self._stopped)
        self.conn = Connection(sock, self._interrupted)

    @property
    def attached(self) -> bool:
        return self.ctl.attached

    def _interrupted(self) -> None:
        self.ctl.interrupt = True

    # ---- stopping -------------------------------------------------------------
    def _stopped(self, core, task, stop) -> None:
        if stop.why == "watch":
            why = f"T05{stop.watch}:{stop.addr:x};"
        else:
            why = "T02" if stop.why == "interrupt" else "T05"
        tid = task.tid if task is not None else self.k.process.tid
        self.thread = tid
        self._serve(core, f"{why}thread:{tid:x};")

    # ---- the command loop -------------------------------------------------------
    def _serve(self, core, stop: str) -> None:
        if self.running:                               # gdb waits for this stop (after c, s)
            self.conn.send(stop.encode())
        self.running = False
        while True:
            pkt = self.conn.get()
            if pkt is None:                            # gdb went away: run on, undebugged
                self.ctl.attached = False
                return
            try:
                reply, resume = self._command(core, pkt, stop)
            except (ValueError, IndexError, KeyError, struct.error, OverflowError, TypeError):
                reply, resume = b"E01", None          # a malformed packet: an error, not the end
            if reply is not None:
                self.conn.send(reply)
            if resume is not None:
                self.running = True
                self.ctl.stepping = core if resume == "step" else None
                if resume == "kill":
                    self.ctl.kill(core, L.SIGKILL)
                return

    def _command(self, core, pkt: bytes, stop: str):  # noqa: C901 (one branch per packet)
        text = pkt.decode("latin-1")
        c = text[:1]
        if text.startswith("qSupported"):
            return b"PacketSize=47ff;qXfer:features:read+;QStartNoAckMode+;vContSupported+", None
        if text == "QStartNoAckMode":
            self.conn.send(b"OK")
            self.conn.ack = False
            return None, None
        if text.startswith("qXfer:features:read:target.xml:"):
            off, length = (int(x, 16) for x in text.rsplit(":", 1)[1].split(","))
            xml = target_xml().encode()
            chunk = xml[off:off + length]
            return (b"m" if off + length < len(xml) else b"l") + chunk, None
        if c == "?":
            return stop.encode(), None
        if text in ("qAttached",):
            return b"1", None
        if text == "qC":
            return b"QC%x" % self.thread, None
        if text == "qfThreadInfo":
            return b"m" + b",".join(b"%x" % t for t in self._tids()), None
        if text == "qsThreadInfo":
            return b"l", None
        if text.startswith("qThreadExtraInfo,"):
            return f"tid {int(text.split(',')[1], 16)}".encode().hex().encode(), None
        if c == "H":
            tid = int(text[2:], 16) if text[2:] not in ("", "-1", "0") else None
            if text[1] == "g" and tid is not None:
                if tid not in self._tids():
                    return b"E22", None
                self.thread = tid
            return b"OK", None
        if c == "T":
            return (b"OK" if int(text[1:], 16) in self._tids() else b"E01"), None
        if c == "g":
            return self._read_regs(core).hex().encode(), None
        if c == "G":
            self._write_regs(core, bytes.fromhex(text[1:]))
            return b"OK", None
        if c == "p":
            n = int(text[1:], 16)
            blob = self._read_regs(core)
            off, size = _reg_slice(n)
            return (blob[off:off + size].hex().encode() if size else b"E45"), None
        if c == "P":
            n, value = text[1:].split("=")
            blob = bytearray(self._read_regs(core))
            off, size = _reg_slice(int(n, 16))
            if not size:
                return b"E45", None
            blob[off:off + size] = bytes.fromhex(value)
            self._write_regs(core, bytes(blob))
            return b"OK", None
        if c == "m":
            addr, length = (int(x, 16) for x in text[1:].split(","))
            data = self._read_mem(addr, min(length, 0x4000))
            return (data.hex().encode() if data else b"E14"), None
        if c in "MX":
            head, colon, data = pkt[1:].partition(b":")
            addr, length = (int(x, 16) for x in head.decode().split(","))
            raw = bytes.fromhex(data.decode()) if c == "M" else data
            if len(raw) < length or not colon:
                return b"E01", None                   # fewer bytes than it says
            return (b"OK" if self._write_mem(addr, raw[:length]) else b"E14"), None
        if c in "Zz":
            kind, addr, length = text[1:].split(",")[:3]
            addr, length = int(addr, 16), int(length, 16)
            if kind in ("0", "1"):
                (self.ctl.breakpoints.add if c == "Z" else self.ctl.breakpoints.discard)(addr)
                return b"OK", None
            if kind in ("2", "3", "4"):
                if c == "Z":
                    self.ctl.watch(addr, length, {"2": "w", "3": "r", "4": "a"}[kind])
                else:
                    self.ctl.unwatch(addr, length)
                return b"OK", None
            return b"", None
        if text.startswith("vCont?"):
            return b"vCont;c;C;s;S", None
        if text.startswith("vCont;"):
            actions = text[6:].split(";")
            return None, ("step" if any(a[:1] in "sS" for a in actions) else "continue")
        if c in "cC":
            return None, "continue"
        if c in "sS":
            return None, "step"
        if c == "D":
            self.conn.send(b"OK")
            self.ctl.attached = False
            return None, "continue"
        if c == "k" or text.startswith("vKill"):
            if text.startswith("vKill"):
                self.conn.send(b"OK")
            return None, "kill"
        return b"", None                              # not supported: gdb does without

    # ---- threads, registers, memory ------------------------------------------------
    def _tids(self) -> list[int]:
        return self.ctl.tids()

    def _where(self, core):
        """(registers dict, fxsave bytes, the core running it or None) of the selected thread."""
        return self.ctl.where(core, self.thread)

    def _read_regs(self, core) -> bytes:
        regs, fx, _ = self._where(core)
        out = b""
        for name in GPRS + ("rip",):
            out += struct.pack("<Q", regs.get(name, 0) & 0xFFFFFFFFFFFFFFFF)
        out += struct.pack("<I", regs.get("eflags", 0) & 0xFFFFFFFF)
        out += b"".join(struct.pack("<I", SEGMENTS[s]) for s in ("cs", "ss", "ds", "es", "fs", "gs"))
        fx = (fx or bytes(512)).ljust(512, b"\0")
        for i in range(8):
            out += fx[32 + 16 * i:32 + 16 * i + 10]
        fcw, fsw, ftw, fop, fip, fcs, fdp, fds = struct.unpack_from("<HHBxHIHxxIHxx", fx, 0)
        ftag = 0
        for i in range(8):                            # fxsave's abridged tag: 1 = valid
            ftag |= (0 if ftw >> i & 1 else 3) << (2 * i)
        out += struct.pack("<8I", fcw, fsw, ftag, fcs, fip, fds, fdp, fop)
        for i in range(16):
            out += fx[160 + 16 * i:176 + 16 * i]
        out += fx[24:28]                              # mxcsr
        out += struct.pack("<QQ", regs.get("fs_base", 0), regs.get("gs_base", 0))
        return out

    def _write_regs(self, core, blob: bytes) -> None:
        """General registers, rip, eflags, fs_base and gs_base are written;
        the rest of a 'G' is ignored."""
        values = {}
        for i, name in enumerate(GPRS + ("rip",)):
            values[name] = struct.unpack_from("<Q", blob, 8 * i)[0]
        values["eflags"] = struct.unpack_from("<I", blob, 136)[0]
        off, _ = _reg_slice(len(REGS) - 2)
        if len(blob) >= off + 16:
            values["fs_base"], values["gs_base"] = struct.unpack_from("<QQ", blob, off)
        self.ctl.write_registers(core, self.thread, values)

    def _read_mem(self, addr: int, length: int) -> bytes | None:
        return self.ctl.read_mem(addr, length)

    def _write_mem(self, addr: int, data: bytes) -> bool:
        return self.ctl.write_mem(addr, data)

    # ---- the end ------------------------------------------------------------------------
    def exited(self, how) -> None:
        """The process is over: tell gdb how, if it is still there."""
        if self.attached and not self.conn.closed:
            self.conn.send(b"X%02x" % how.signal if how.signal else b"W%02x" % (how.status & 0xFF))
        try:
            self.conn.sock.close()
        except OSError:
            pass


def _reg_slice(n: int) -> tuple[int, int]:
    """(offset, size in bytes) of register number `n` in the 'g' blob."""
    if not 0 <= n < len(REGS):
        return 0, 0
    off = sum(b // 8 for _, b, _, _ in REGS[:n])
    return off, REGS[n][1] // 8
