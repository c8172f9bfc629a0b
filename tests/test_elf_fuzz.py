"""Seeded mutation fuzzing of execve's ELF loader (azemu/loader.py, azemu/elf.py).

Real static programs of guest_bins/bin are mutated where the loader looks —
the ELF header, the program headers, a PT_INTERP string and the interpreter
it names, a few bytes of the first pages, the file's length — and every
mutant must end one of two ways: refused with ONE line and a shell's status
(126, 127), or started and ended by an exit status or a guest signal (as a
native run of it ends, checked by hand against `setarch -R`: the loader maps
as Linux does).  Never a hang, never "internal error", never a traceback.

The default run execs each mutant in-process through the real kernel
(`Kernel.exec`: the loader, the page cache, the libOS probe), bounded in
time, and runs the first of the ones it accepts through `python -m azemu
exec`.  The slow run takes other mutants through the command line, every one
of them.

A failure names the seed, the mutant's number and its mutations; rebuild it
with `python tests/test_elf_fuzz.py SEED NUMBER DIR` (writes DIR/prog and,
when it has one, DIR/interp; run it as `azemu exec --root DIR DIR/prog`).
"""
from __future__ import annotations

import hashlib
import io
import random
import signal
import struct
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import BINS, ROOT  # noqa: E402

SEED = 20240712
N_DEFAULT = 1000           # mutants of the default run (in-process exec)
RUN_DEFAULT = 60           # of those the exec accepts, how many the default run runs (CLI)
N_SLOW = 3000              # mutants of the slow run (the CLI, each one)
LOAD_BOUND = 10            # seconds one in-process exec may take: past it, a hang
RUN_BOUND = 30             # seconds one `azemu exec` of a mutant may take

BASES = ["glibc/hello", "glibc/hello-pie", "musl/hello", "raw/getpid_raw"]
INTERP_BASE = "glibc/hello-pie"         # the interpreter a PT_INTERP may name: relocatable

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
# (name, offset, width) of the header fields and the program header fields
EHDR_FIELDS = [("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4),
               ("e_entry", 24, 8), ("e_phoff", 32, 8), ("e_shoff", 40, 8),
               ("e_flags", 48, 4), ("e_ehsize", 52, 2), ("e_phentsize", 54, 2),
               ("e_phnum", 56, 2), ("e_shentsize", 58, 2), ("e_shnum", 60, 2),
               ("e_shstrndx", 62, 2)]
PHDR_FIELDS = [("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8),
               ("p_paddr", 24, 8), ("p_filesz", 32, 8), ("p_memsz", 40, 8), ("p_align", 48, 8)]
PF = {name: (off, width) for name, off, width in PHDR_FIELDS}
PAGE = 4096
USER_TOP = 0x7FFFFFFFF000
WIDE = [0, 1, 7, 8, 0x38, 0x40, 0xFFF, 0x1000, 0x1001, 0x10000, 0x400000, 0x7FFFFFFF,
        1 << 31, 0xFFFFFFFF, 1 << 32, 1 << 40, 1 << 46, (1 << 47) - 0x1000, (1 << 47) - 1,
        1 << 47, USER_TOP - 0x1000, USER_TOP, 0x7FFFF7FFF000, 0x555555554000, 1 << 48,
        (1 << 63) - 1, 1 << 63, (1 << 64) - 0x1000, (1 << 64) - 0x38, (1 << 64) - 1]
SHORT = [0, 1, 2, 3, 55, 56, 57, 64, 73, 74, 0xFF, 0x7FFF, 0xFFFF]
P_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 0x6474E550, 0x6474E551, 0x6474E552, 0x6474E553,
           0x70000000, 0x7FFFFFFF, 0xFFFFFFFF]
INTERPS = [b"/interp\0", b"/interp\0", b"/interp\0", b"/interp", b"\0", b"", b"/\0",
           b"/prog\0", b"/lib64/ld-linux-x86-64.so.2\0", b"/interp\0/garbage\0",
           b"interp\0", b"/interp/\0", b"/nothing/here\0", b"/" * 5000 + b"\0",
           b"/dev/null\0", b"/proc/self/exe\0", b"/int\nerp\x01\xff\0"]


# ---- mutants ------------------------------------------------------------------
class Base:
    """One program to mutate: its bytes and where its headers are."""

    def __init__(self, name: str):
        self.name = name
        self.data = (BINS / name).read_bytes()
        f = _EHDR.unpack_from(self.data)
        self.phoff, self.phnum = f[5], f[10]
        self.phdrs = [struct.unpack_from("<IIQQQQQQ", self.data, self.phoff + 56 * i)
                      for i in range(self.phnum)]
        self.loads = [i for i, p in enumerate(self.phdrs) if p[0] == 1]
        used = [(p[2], p[2] + p[5]) for p in self.phdrs if p[0] == 1 and p[5]]
        used.append((0, self.phoff + 56 * self.phnum))
        # a spot of the first page no segment's file bytes cover, for strings
        # (None: they go at the end of the file)
        self.spare = next((at for at in range(0x200, PAGE - 0x100, 0x40)
                           if all(not (lo < at + 0x100 and at < hi) for lo, hi in used)), None)


_BASES: dict[str, Base] = {}


def base(name: str) -> Base:
    if name not in _BASES:
        _BASES[name] = Base(name)
    return _BASES[name]


def _value(rng: random.Random, width: int, old: int) -> int:
    mask = (1 << 8 * width) - 1
    r = rng.random()
    if width == 2:
        v = rng.choice(SHORT) if r < 0.7 else old + rng.randint(-3, 3)
    elif width == 4:
        v = rng.choice(WIDE + [old ^ (1 << rng.randrange(32))]) if r < 0.6 else rng.getrandbits(32)
    elif r < 0.45:
        v = rng.choice(WIDE)
    elif r < 0.7:
        v = old + rng.choice([-1, 1]) * rng.choice([1, 8, 0x100, 0xFFF, 0x1000, 0x10000, 1 << 30])
    elif r < 0.85:
        v = old ^ (1 << rng.randrange(64))
    else:
        v = rng.getrandbits(rng.randint(1, 64))
    return v & mask


def _put(data: bytearray, off: int, width: int, value: int) -> None:
    if off + width <= len(data):
        data[off:off + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")


def _get(data: bytes, off: int, width: int) -> int:
    return int.from_bytes(data[off:off + width], "little") if off + width <= len(data) else 0


def _mutate_once(rng: random.Random, b: Base, data: bytearray, interp: list) -> str:
    """One mutation of `data` (a copy of `b`'s bytes); says what it did."""
    kind = rng.choices(
        ["ehdr", "phdr", "phdr", "phdr", "memsz", "top", "overlap", "zero", "interp",
         "bytes", "phnum", "entry", "truncate", "align", "misaligned"],
        [6, 10, 10, 10, 6, 5, 4, 3, 7, 5, 3, 3, 2, 2, 3])[0]
    load = rng.choice(b.loads)
    ph = lambda i, f: b.phoff + 56 * i + PF[f][0]           # noqa: E731
    if kind == "ehdr":
        name, off, width = rng.choice(EHDR_FIELDS)
        v = _value(rng, width, _get(data, off, width))
        _put(data, off, width, v)
        return f"{name}={v:#x}"
    if kind == "phdr":
        i = rng.choice(b.loads) if rng.random() < 0.6 else rng.randrange(b.phnum)
        name, off, width = rng.choice(PHDR_FIELDS)
        old = _get(data, b.phoff + 56 * i + off, width)
        v = rng.choice(P_TYPES) if name == "p_type" and rng.random() < 0.7 else _value(rng, width, old)
        _put(data, b.phoff + 56 * i + off, width, v)
        return f"phdr[{i}].{name}={v:#x}"
    if kind == "memsz":
        vaddr = _get(data, ph(load, "p_vaddr"), 8)
        v = rng.choice([1 << 30, 1 << 36, 1 << 40, 1 << 46, 1 << 47, (1 << 64) - 1,
                        (1 << 64) - vaddr, USER_TOP - vaddr, USER_TOP - vaddr + 1,
                        (1 << 63) + rng.getrandbits(40), rng.getrandbits(48)]) & ((1 << 64) - 1)
        _put(data, ph(load, "p_memsz"), 8, v)
        if rng.random() < 0.3:
            _put(data, ph(load, "p_filesz"), 8, v)
            return f"phdr[{load}].p_memsz=p_filesz={v:#x}"
        return f"phdr[{load}].p_memsz={v:#x}"
    if kind == "top":
        v = rng.choice([USER_TOP - PAGE, USER_TOP - 0x10, USER_TOP, 1 << 47, (1 << 47) + PAGE,
                        (1 << 64) - PAGE, (1 << 64) - 0x10, 0x7FFFFFFF0000, 0xFFFF800000000000,
                        0, 0x1000, 0xFFFF, 0x7FFFFF7FF000, 0x7FFFFF000000])
        if rng.random() < 0.8:                      # most keep the offset congruent
            v = v - v % PAGE + _get(data, ph(load, "p_vaddr"), 8) % PAGE
        v &= (1 << 64) - 1
        _put(data, ph(load, "p_vaddr"), 8, v)
        return f"phdr[{load}].p_vaddr={v:#x}"
    if kind == "overlap":
        other = rng.choice(b.loads)
        ov = _get(data, ph(other, "p_vaddr"), 8) + rng.choice([0, 0x10, PAGE, -PAGE, 0x800])
        if rng.random() < 0.8:                      # most keep the offset congruent
            ov = ov - ov % PAGE + _get(data, ph(load, "p_vaddr"), 8) % PAGE
        ov &= (1 << 64) - 1
        _put(data, ph(load, "p_vaddr"), 8, ov)
        return f"phdr[{load}].p_vaddr={ov:#x} (over phdr[{other}])"
    if kind == "zero":
        which = rng.choice(["both", "memsz", "filesz"])
        if which != "filesz":
            _put(data, ph(load, "p_memsz"), 8, 0)
        if which != "memsz":
            _put(data, ph(load, "p_filesz"), 8, 0)
        return f"phdr[{load}] zero {which}"
    if kind == "interp":
        i = rng.randrange(b.phnum)
        s = rng.choice(INTERPS)
        at = b.spare if len(s) <= 0x100 and b.spare is not None else len(data)
        if rng.random() < 0.1:
            at = 0                                   # over the header: never NUL-ended
        else:
            data[at:at + len(s)] = s
        size = len(s) if rng.random() < 0.8 else rng.choice([0, 1, 2, 4096, 4097, (1 << 64) - 1])
        _put(data, ph(i, "p_type"), 4, 3)
        _put(data, ph(i, "p_offset"), 8, at)
        _put(data, ph(i, "p_filesz"), 8, size)
        if not interp:
            interp.append(rng.random() < 0.5)       # mutate the interpreter too?
        return f"phdr[{i}]=PT_INTERP {s[:40]!r}{'...' if len(s) > 40 else ''} size {size:#x} at {at:#x}"
    if kind == "bytes":
        lo, hi = rng.choice([(0, 64), (b.phoff, b.phoff + 56 * b.phnum), (0, PAGE)])
        hi = min(hi, len(data))
        if hi <= lo:                                 # (cut short by an earlier mutation)
            lo, hi = 0, max(len(data), 1)
            data += b"\0" * (hi - len(data))
        n = rng.randint(1, 8)
        where = []
        for _ in range(n):
            at = rng.randrange(lo, hi)
            data[at] = rng.randrange(256)
            where.append(f"{at:#x}={data[at]:#04x}")
        return "bytes " + ",".join(where)
    if kind == "phnum":
        v = rng.choice([0, 1, b.phnum - 1, b.phnum + 1, b.phnum + 10, 73, 74, 0xFFFF, 0x7FFF])
        _put(data, 56, 2, v)
        return f"e_phnum={v:#x}"
    if kind == "entry":
        lo = b.phdrs[load][3]
        v = rng.choice([0, 1, lo, lo + b.phdrs[load][6], lo - 1, USER_TOP, 1 << 47, 1 << 63,
                        (1 << 64) - 1, 0x7FFFFFFFE000, rng.getrandbits(64)])
        _put(data, 24, 8, v)
        return f"e_entry={v:#x}"
    if kind == "truncate":
        cut = rng.choice([rng.randrange(1, 64), rng.randrange(64, PAGE),
                          rng.randrange(PAGE, max(len(data), PAGE + 1))])
        del data[cut:]
        return f"truncated to {cut:#x} bytes"
    if kind == "align":
        v = rng.choice([0, 1, 3, 0x10, 0x1001, 1 << 21, 1 << 30, 1 << 63, (1 << 64) - 1])
        _put(data, ph(load, "p_align"), 8, v)
        return f"phdr[{load}].p_align={v:#x}"
    # misaligned: file offset and address no longer congruent modulo the page size
    d = rng.choice([1, 8, 0x10, 0x800, 0xFFF])
    off = _get(data, ph(load, "p_offset"), 8)
    if rng.random() < 0.5:
        _put(data, ph(load, "p_offset"), 8, off + d)
        return f"phdr[{load}].p_offset+={d:#x}"
    _put(data, ph(load, "p_vaddr"), 8, _get(data, ph(load, "p_vaddr"), 8) + d)
    return f"phdr[{load}].p_vaddr+={d:#x}"


class Mutant:
    """Mutant number `index` of `seed`: the same bytes every time."""

    def __init__(self, seed: int, index: int):
        self.seed, self.index = seed, index
        rng = random.Random(f"{seed}:{index}")
        b = base(rng.choice(BASES))
        data, interp = bytearray(b.data), []
        self.steps = [b.name] + [_mutate_once(rng, b, data, interp)
                                 for _ in range(rng.choice([1, 1, 1, 2, 2, 3]))]
        self.data, self.interp = bytes(data), None
        if interp:                                   # the file a "/interp" names
            ib, idata = base(INTERP_BASE), bytearray(base(INTERP_BASE).data)
            if interp[0]:
                self.steps.append("interp: " + _mutate_once(rng, ib, idata, []))
            self.interp = bytes(idata)

    def write(self, root: Path) -> Path:
        """The mutant as root/prog (and root/interp); root is its --root."""
        root.mkdir(parents=True, exist_ok=True)
        prog = root / "prog"
        prog.write_bytes(self.data)
        prog.chmod(0o755)
        if self.interp is not None:
            (root / "interp").write_bytes(self.interp)
            (root / "interp").chmod(0o755)
        elif (root / "interp").exists():
            (root / "interp").unlink()
        return prog

    def key(self) -> str:
        h = hashlib.sha1(self.data)
        h.update(self.interp or b"-")
        return h.hexdigest()

    def __str__(self):
        return (f"seed {self.seed} mutant {self.index}: " + "; ".join(self.steps) +
                f"  (rebuild: python tests/test_elf_fuzz.py {self.seed} {self.index} DIR)")


# ---- running them -------------------------------------------------------------
class _Hang(Exception):
    pass


def _alarm(_sig, _frame):
    raise _Hang()


def exec_in_process(m: Mutant, root: Path):
    """Exec mutant `m` in a fresh kernel: ("rejected", ExecError), ("loaded", None),
    or ("bad", what went wrong)."""
    from kernels import ExecError, Kernel
    prog = m.write(root)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LOAD_BOUND)
    k = None
    try:
        k = Kernel(mode="linux", root=str(root), quiet=True, stderr=io.StringIO())
        k.exec(str(prog), [b"prog"], [b"PATH=/bin"])
        return "loaded", None
    except ExecError as e:
        if e.status not in (126, 127) or "\n" in e.message or not e.message.strip():
            return "bad", f"ExecError with status {e.status}: {e.message!r}"
        return "rejected", e
    except _Hang:
        return "bad", f"exec took more than {LOAD_BOUND} s (hang)"
    except BaseException as e:                           # noqa: BLE001 - the point of the test
        import traceback
        return "bad", "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if k is not None:
            k.close()


def run_cli(m: Mutant, root: Path):
    """`azemu exec --root ROOT ROOT/prog` of mutant `m`: (status, stderr) or a
    string saying what is wrong with the run."""
    prog = m.write(root)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    try:
        p = subprocess.run([sys.executable, "-m", "azemu", "exec", "--root", str(root), str(prog)],
                           stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=root,
                           timeout=RUN_BOUND)
    except subprocess.TimeoutExpired:
        return f"azemu exec ran more than {RUN_BOUND} s (hang)"
    rc = 128 - p.returncode if p.returncode < 0 else p.returncode
    err = p.stderr.decode(errors="replace")
    if "internal error" in err or "Traceback" in err:
        return f"status {rc}, stderr:\n{err[-3000:]}"
    if rc in (126, 127) and err.startswith("azemu:") and len(err.strip().splitlines()) != 1:
        return f"status {rc} with more than one line:\n{err[-3000:]}"
    if rc == 70:                                  # azemu's own EX_SOFTWARE
        return f"status {rc}, stderr:\n{err[-3000:]}"
    return rc, err


def _run_all(mutants, workdir: Path):
    """Every mutant through the CLI, two at a time: {index: outcome}."""
    slots = [workdir / f"w{i}" for i in range(2)]
    out = {}

    def job(chunk, slot):
        for m in chunk:
            out[m.index] = run_cli(m, slot)
    chunks = [mutants[0::2], mutants[1::2]]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(job, chunks, slots))
    return out


def _kind(rc: int, err: str) -> str:
    if rc in (126, 127) and err.startswith("azemu: ") and err.count("\n") == 1:
        return "refused (126/127)"
    return "killed by a signal" if rc > 128 else "exited"


def _summary(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def test_loader_fuzz(tmp_path):
    """N_DEFAULT mutants exec'd in-process; the first RUN_DEFAULT accepted run
    by `azemu exec`."""
    failures, rejected, loaded, seen = [], 0, [], set()
    for i in range(N_DEFAULT):
        m = Mutant(SEED, i)
        what, detail = exec_in_process(m, tmp_path / "inproc")
        if what == "bad":
            failures.append(f"{m}\n  -> {detail}")
        elif what == "rejected":
            rejected += 1
        elif m.key() not in seen:
            seen.add(m.key())
            loaded.append(m)
    assert not failures, f"{len(failures)} mutants went wrong in exec:\n" + "\n".join(failures[:20])
    outcomes = _run_all(loaded[:RUN_DEFAULT], tmp_path)
    counts = {}
    for m in loaded[:RUN_DEFAULT]:
        o = outcomes[m.index]
        if isinstance(o, str):
            failures.append(f"{m}\n  -> {o}")
            continue
        counts[_kind(*o)] = counts.get(_kind(*o), 0) + 1
    print(f"\n{N_DEFAULT} mutants: {rejected} refused by exec, {len(loaded)} distinct ones "
          f"loaded, {len(outcomes)} of them run: {_summary(counts)}")
    assert not failures, f"{len(failures)} mutants went wrong running:\n" + "\n".join(failures[:20])
    assert rejected > N_DEFAULT // 4 and len(loaded) > 20       # the fuzzer reaches both sides


class Case(Mutant):
    """A mutant written by hand: glibc/hello with `patch` applied."""

    def __init__(self, name: str, patch):
        self.seed, self.index, self.steps = "-", name, [name]
        data = bytearray(base("glibc/hello").data)
        patch(data)
        self.data, self.interp = bytes(data), base(INTERP_BASE).data

    def __str__(self):
        return f"case {self.index}"


def _ph(i, field, value):
    return lambda d: _put(d, 64 + 56 * i + PF[field][0], PF[field][1], value)


def _interp(path: bytes, size=None):
    def patch(d):
        d[0x700:0x700 + len(path)] = path
        for field, v in (("p_type", 3), ("p_offset", 0x700), ("p_filesz", size or len(path))):
            _ph(8, field, v)(d)
    return patch


# The classes the fuzzer found, one of each (glibc/hello: 4 PT_LOAD, phdr[8] a GNU_STACK).
CASES = {
    "128 TiB read-only segment": (_ph(1, "p_memsz", 0x7FFFFFB00000), "Cannot allocate memory"),
    "128 TiB bss": (_ph(3, "p_memsz", 0x7FFFFFB00000), "Cannot allocate memory"),
    "memsz wraps around": (_ph(3, "p_memsz", (1 << 64) - 0x1000), "outside the user address space"),
    "vaddr near 2^64": (_ph(2, "p_vaddr", (1 << 64) - 0x1000), "outside the user address space"),
    "vaddr at 2^47": (_ph(2, "p_vaddr", 1 << 47), "outside the user address space"),
    "phentsize 64": (lambda d: _put(d, 54, 2, 64), "program headers of 64 bytes"),
    "phnum 0xffff": (lambda d: _put(d, 56, 2, 0xFFFF), "more than Linux reads"),
    "phoff 2^63": (lambda d: _put(d, 32, 8, 1 << 63), "truncated"),
    "entry 2^63": (lambda d: _put(d, 24, 8, 1 << 63), "entry point"),
    "shoff 2^63": (lambda d: _put(d, 40, 8, 1 << 63), None),
    "interp without NUL": (_interp(b"/interp"), "does not end with a NUL"),
    "interp of 1 byte": (_interp(b"\0"), "PT_INTERP of 1 bytes"),
    "interp past the file": (_interp(b"/interp\0", (1 << 64) - 1), "PT_INTERP of"),
    "interp with a NUL inside": (_interp(b"/interp\0/rest\0"), None),
    "interp with control bytes": (_interp(b"/x\ny\x01\0"), "/x\\ny\\x01: No such file"),
    "segment on the stack": (_ph(0, "p_vaddr", 0x7FFFFFFE0000), "overlaps the stack"),
    "offset not congruent": (_ph(1, "p_offset", 0x1010), "differ modulo the page size"),
    "segments overlap": (_ph(0, "p_vaddr", 0x4A1000), None),
    "zero-sized segment": (lambda d: (_ph(0, "p_memsz", 0)(d), _ph(0, "p_filesz", 0)(d)), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_loader_case(tmp_path, name):
    patch, words = CASES[name]
    what, detail = exec_in_process(Case(name, patch), tmp_path)
    if words is None:
        assert what == "loaded", detail
    else:
        assert what == "rejected", detail
        assert words in detail.message and detail.message.count("\n") == 0, detail.message


@pytest.mark.slow
def test_loader_fuzz_cli(tmp_path):
    """3000 other mutants, each through `python -m azemu exec`."""
    mutants = [Mutant(SEED + 1, i) for i in range(N_SLOW)]
    outcomes = _run_all(mutants, tmp_path)
    failures, counts = [], {}
    for m in mutants:
        o = outcomes[m.index]
        if isinstance(o, str):
            failures.append(f"{m}\n  -> {o}")
            continue
        counts[_kind(*o)] = counts.get(_kind(*o), 0) + 1
    print(f"\n{N_SLOW} mutants through the CLI: {_summary(counts)}")
    assert not failures, f"{len(failures)} mutants went wrong:\n" + "\n".join(failures[:20])


if __name__ == "__main__":                   # rebuild one mutant: SEED NUMBER DIR
    seed, index, where = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    m = Mutant(seed, index)
    print(m)
    print(m.write(where))
