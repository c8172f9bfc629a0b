"""`--root DIR`: every guest path stays inside DIR.  Each escape attempt is run
by the guest program fsprobe twice — under `azemu exec --root DIR` and natively
inside a real chroot(DIR) — and must give the same result, while nothing
outside DIR is read, created or changed.  The walk by openat2 runs is
compared, in-process, with the walk one component at a time.  More attacks
(procfs, openat2 flags, links, sockets, mknod) are in test_attacks.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import guest, run_azemu

MODES = ("linux", "lwk", "unikernel")
SECRET = b"SECRET-OUTSIDE\n"


@pytest.fixture
def jail(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "x").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello.txt").write_text("inside\n")
    (root / "dir").mkdir()
    (root / "dir" / "x").write_text("inside x\n")
    os.symlink(str(outside / "secret.txt"), root / "abs_out")          # absolute, to outside
    os.symlink("../../outside/secret.txt", root / "rel_out")            # relative, climbing out
    os.symlink("../../../../../../../../outside", root / "dir" / "up")  # a directory, climbing out
    os.symlink("/etc/hello.txt", root / "abs_in")                       # absolute, inside the root
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("/", root / "slash")
    shutil.copy(guest("musl", "fsprobe"), root / "fsprobe")
    return root, outside


def snapshot(path):
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns, p.read_bytes() if p.is_file() else None)
    return out


ESCAPES = [
    "read ../../../../outside/secret.txt",
    "read /../../outside/secret.txt",
    "read abs_out", "read rel_out", "read dir/up/secret.txt", "read abs_in",
    "stat abs_out", "lstat abs_out", "readlink abs_out",
    "open loop1", "stat loop1",
    "list /", "list ..", "list /..", "list dir/up", "list slash/..",
    "read /proc/self/root/etc/hello.txt",
    "atopen / ../../outside/secret.txt", "atopen dir ../../../outside/x",
    "chdir ../../.. getcwd read outside/secret.txt chdir / getcwd",
    "chdir dir/up getcwd chdir /",
    "creat ../../outside/created", "mkdir ../../outside/newdir", "atmkdir / ../../outside/newdir2",
    "chmod ../../outside/secret.txt", "chmod abs_out", "unlink ../../outside/secret.txt",
    "rename etc/hello.txt ../../outside/moved", "link etc/hello.txt ../../outside/linked",
    "symlink /etc/hello.txt ../../outside/symlinked", "rename abs_out ../../outside/moved2",
    "creat dir/up/created_through_link", "mkdir dir/up/newdir3",
    "atrename / etc/hello.txt /dir/moved_inside atrename / dir/moved_inside /etc/hello.txt",
    "read " + "a/" * 2047 + "b",
    "read " + "x" * 300,
]


def _native(root, args):
    p = subprocess.run(["chroot", str(root), "/fsprobe", *args], capture_output=True)
    return p.stdout, p.returncode


@pytest.fixture
def proc_in(jail):
    """A procfs mounted at the jail's /proc, as a container has one: the
    native reference's /proc/self; azemu's guest sees its own instead."""
    root, _ = jail
    (root / "proc").mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a procfs here")
    yield root / "proc"
    subprocess.run(["umount", "-l", str(root / "proc")], capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("chroot") is None,
                    reason="the native reference needs chroot (root)")
@pytest.mark.parametrize("mode", MODES)
def test_escapes_match_a_real_chroot(jail, proc_in, mode):
    root, outside = jail
    before = snapshot(outside)
    for line in ESCAPES:
        args = line.split()
        expected = _native(root, args)
        got = run_azemu([guest("musl", "fsprobe"), *args], extra=["--mode", mode, "--root", str(root)],
                        cwd=str(root))
        assert (got[0], got[2]) == expected, f"{line[:80]}: azemu {got[0]!r} vs chroot {expected[0]!r}"
        assert SECRET.strip() not in got[0]
        assert snapshot(outside) == before, line[:80]
    assert not (outside / "moved").exists() and not (outside / "created").exists()


@pytest.mark.parametrize("mode", MODES)
def test_symlinked_directory_swapped_during_walks(jail, mode):
    """A host thread swaps root/swap between a real directory and a symlink to
    the outside directory while the guest keeps reading swap/x."""
    root, outside = jail
    swap = root / "swap"
    inside_dir = root / "inside_dir"
    inside_dir.mkdir()
    (inside_dir / "x").write_text("inside\n")
    stop = threading.Event()

    def flipper():
        while not stop.is_set():
            for make in (lambda: os.symlink(str(outside), swap), lambda: os.symlink("inside_dir", swap)):
                try:
                    os.unlink(swap)
                except FileNotFoundError:
                    pass
                make()
                time.sleep(0.0005)

    t = threading.Thread(target=flipper)
    t.start()
    try:
        out, err, rc = run_azemu([guest("musl", "fsprobe"), *(["read", "swap/x"] * 400)],
                                 extra=["--mode", mode, "--root", str(root)])
    finally:
        stop.set()
        t.join()
    assert rc == 0, err
    assert SECRET.strip() not in out
    assert b"read swap/x: inside" in out


@pytest.mark.parametrize("mode", MODES)
def test_read_only_root(jail, mode):
    root, outside = jail
    before = snapshot(root)
    out, err, rc = run_azemu([guest("musl", "fsprobe"), "creat", "new", "mkdir", "d", "unlink",
                              "etc/hello.txt", "rename", "etc/hello.txt", "etc/x", "chmod",
                              "etc/hello.txt", "read", "etc/hello.txt"],
                             extra=["--mode", mode, "--root", str(root), "--ro"])
    assert rc == 0, err
    lines = out.decode().splitlines()
    assert all("errno=EROFS" in line for line in lines[:5]), lines
    assert lines[5] == "read etc/hello.txt: inside"
    assert snapshot(root) == before


def test_without_root_the_host_is_visible(tmp_path):
    (tmp_path / "f").write_text("host file\n")
    out, err, rc = run_azemu([guest("musl", "fsprobe"), "read", str(tmp_path / "f")], extra=["--mode", "lwk"])
    assert out == f"read {tmp_path / 'f'}: host file\n".encode()


@pytest.mark.parametrize("mode", MODES)
def test_interpreters_are_found_inside_the_root(jail, mode, tmp_path):
    """Attack: under --root, a #! line or a program's PT_INTERP names a path
    that leads out of the root (`..`, an absolute symlink, a relative one
    climbing out).  The interpreter is walked inside the root, as every
    guest path is: nothing outside runs."""
    root, outside = jail
    shutil.copy(guest("glibc", "args"), outside / "args")       # what must never run
    (root / "bin").mkdir()
    os.symlink(str(outside / "args"), root / "bin" / "abs_link")
    os.symlink("../../outside/args", root / "bin" / "rel_link")
    os.symlink("/lib64", root / "lib64")                        # a loop inside the root
    for i, line in enumerate(["/../../outside/args", "/bin/abs_link", "/bin/rel_link",
                              str(outside / "args")]):
        script = root / f"s{i}"
        script.write_text(f"#!{line}\n")
        script.chmod(0o755)
        out, err, rc = run_azemu([str(script)], extra=["--mode", mode, "--root", str(root)])
        assert rc == 127 and b"bad interpreter" in err, (line, err)
        assert b"argc=" not in out and len(err.splitlines()) == 1
    shutil.copy("/bin/true", root / "dyn")                      # dynamic: its ld.so is the root's
    out, err, rc = run_azemu([str(root / "dyn")], extra=["--mode", mode, "--root", str(root)])
    assert rc in (126, 127) and b"interpreter" in err and len(err.splitlines()) == 1, err


# ---- the walk by openat2 runs (issue 12 item 6) ------------------------------------------
def _outcome(fn, where):
    """What a walk gave: the object (as its place in `where`: inode -> path),
    its guest path and name, or the redirect, or the errno."""
    from kernels.fwk.sandbox import Redirect
    try:
        w, name = fn()
    except Redirect as e:
        return ("redirect", e.path)
    except OSError as e:
        return ("error", e.errno)
    try:
        ino = os.fstat(w.fd).st_ino
        return ("ok", w.path, name, w.last_mode if name is not None else None,
                None if w.path.startswith(b"/dev/shm") else where.get(ino, "?"))  # (each box's own)
    finally:
        w.close()


def _opened(fn, where):
    try:
        fd, gpath = fn()
    except OSError as e:
        return ("error", e.errno)
    try:
        return ("ok", gpath, where.get(os.fstat(fd).st_ino, "?"))
    finally:
        os.close(fd)


def _inodes(root):
    out = {os.stat(root).st_ino: "."}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out[os.lstat(os.path.join(d, n)).st_ino] = os.path.relpath(os.path.join(d, n), root)
    return out


def _walk_tree(root, outside):
    """Directories a and b three deep, each with a file and the same links."""
    links = {"l_abs": "/a/b", "l_rel": "../b", "l_up": "../../../../a", "l_out": str(outside),
             "l_file": "f", "l_loop": "l_loop", "l_proc": "../proc/self", "l_dev": "/dev/null",
             "l_dotdot": "..", "l_slash": "/", "l_chain": "../l_rel/../b/l_file", "l_trail": "../a/",
             "l_dangling": "nowhere/x", "l_shm": "/dev/shm", "l_sys": "../../sys/kernel"}
    import itertools
    dirs = [root] + [root.joinpath(*p) for n in (1, 2, 3) for p in itertools.product("ab", repeat=n)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        (d / "f").write_text("f\n")
        for name, target in links.items():
            os.symlink(target, d / name)
    for d in ("proc", "dev/shm", "sys"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return ["a", "b", "a", "b", "f", "..", ".", "proc", "dev", "shm", "sys", "missing", *links, "x" * 256]


def test_openat2_runs_walk_as_the_component_walk(tmp_path, monkeypatch):
    """Thousands of paths — `..`, symlinks absolute, relative, climbing out, in
    chains and loops, the kernel's /proc, /dev, /sys reached directly and
    through links — resolved, their parents walked, opened and created by
    the walk with openat2 runs and by the walk one component at a time (each
    in its own copy of a tree): the same object, guest path, redirect or errno."""
    import random

    from kernels.fwk import sandbox
    if not sandbox.fast_walks():
        pytest.skip("no usable openat2 on this host")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a").mkdir()
    roots = tmp_path / "fast", tmp_path / "slow"
    vocab = [_walk_tree(r, outside) for r in roots][0]
    rng = random.Random(12)
    cases = []
    for _ in range(3000):
        comps = [rng.choice(vocab) for _ in range(rng.randint(1, 6))]
        path = ("/" if rng.random() < 0.5 else "") + "/".join(comps) + ("/" if rng.random() < 0.1 else "")
        cases.append((rng.choice([b"/", b"/a", b"/a/b", b"/b/a/b"]), path.encode(), rng.random() < 0.7))

    def run(root):
        box, where = sandbox.Sandbox(str(root)), _inodes(root)
        out = []
        for b, p, f in cases:
            out.append((_outcome(lambda: box.resolve(b, p, f), where),
                        _outcome(lambda: box.parent(b, p), where),
                        _opened(lambda: box.open(b, p, os.O_RDONLY | (0 if f else os.O_NOFOLLOW), 0), where)))
        for b, p, f in cases[:1000]:                         # creating: the trees change alike
            out.append(_opened(lambda: box.open(b, p, os.O_CREAT | os.O_WRONLY, 0o644), where))
        box.close()
        return out, sorted(_inodes(root).values())
    got, got_tree = run(roots[0])
    monkeypatch.setattr(sandbox, "_openat2", None)
    want, want_tree = run(roots[1])
    for case, g, w in zip(cases + cases[:1000], got, want):
        assert g == w, case
    assert got_tree == want_tree
    assert sum(g[0] == "ok" for g in got[3000:]) > 30
    assert sorted(_inodes(outside).values()) == [".", "a"]
    assert {g[0][0] for g in got[:3000]} == {"ok", "redirect", "error"}
    assert sum(g[0][0] == "ok" for g in got[:3000]) > 300


@pytest.mark.parametrize("answer", ["ENOSYS", "EPERM", "EINVAL"])
def test_a_host_without_openat2_walks_one_component_at_a_time(monkeypatch, answer):
    """An old kernel (ENOSYS, EINVAL) or a seccomp filter (EPERM) refusing
    openat2: the probe says so, and the walk takes components one at a time."""
    import ctypes
    import errno
    import types

    from kernels.fwk import sandbox

    def refused(*args):
        ctypes.set_errno(getattr(errno, answer))
        return -1
    monkeypatch.setattr(sandbox.ctypes, "CDLL", lambda *a, **k: types.SimpleNamespace(syscall=refused))
    assert sandbox._make_openat2() is None
    monkeypatch.undo()
    monkeypatch.setenv("AZEMU_SANDBOX_WALK", "components")
    assert sandbox._make_openat2() is None
