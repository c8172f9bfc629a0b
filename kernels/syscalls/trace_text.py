"""strace's notation, the part every trace line uses: quoted and escaped
strings cut at `-s`, numbers as C prints them (%#x, %#03o), and `Ctx`, the
call being printed (its process, raw arguments and result), through which
kernels/syscalls/trace_structs.py and trace_decode.py read guest memory.
"""
from __future__ import annotations

_ESC = {9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def quote(data: bytes, limit: int, more: bool = False, hexall: bool = False) -> str:
    """strace's string: printable bytes as they are, the rest escaped (octal,
    or \\xNN with `hexall`), cut at `limit` with `...` after the quote."""
    shown = data[:limit]
    out = ['"']
    for i, c in enumerate(shown):
        if hexall:
            out.append(f"\\x{c:02x}")
        elif c in _ESC:
            out.append(_ESC[c])
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif i + 1 < len(shown) and 0x30 <= shown[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    if more or len(data) > limit:
        out.append("...")
    return "".join(out)


def hx(v: int) -> str:
    """C's %#x: 0 is "0"."""
    return f"{v:#x}" if v else "0"


def octal(v: int) -> str:
    """C's %#03o (strace's modes): 0644 as "0644", 0 as "000"."""
    return (f"0{v:o}" if v else "0").rjust(3, "0")


def ptr(v: int) -> str:
    return f"{v:#x}" if v else "NULL"


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >> 63 else v


class Ctx:
    """One call being printed: the process, its raw arguments, the result."""

    __slots__ = ("p", "args", "ret", "strsize")

    def __init__(self, p, args, strsize: int):
        self.p, self.args, self.ret, self.strsize = p, args, None, strsize

    def read(self, addr: int, n: int) -> bytes:
        return self.p.mm.read(addr, n)

    def cstr(self, addr: int, limit: int) -> tuple[bytes, bool]:
        """(the string, whether it went on past `limit`)."""
        try:
            s = self.p.mm.read_cstr(addr, limit)
            return s, False
        except ValueError:
            return self.read(addr, limit), True

    def count(self, spec: str) -> int:
        """A length named by a parameter: `ret`, or an argument's index."""
        if spec == "ret":
            return max(self.ret or 0, 0)
        return self.args[int(spec)]


def string_at(c: Ctx, v: int, limit: int) -> str:
    if not v:
        return "NULL"
    s, more = c.cstr(v, limit)
    return quote(s, limit, more)


