"""`--root DIR`: every guest path stays inside DIR.  Each escape attempt is run
by the guest program fsprobe twice — under `azemu exec --root DIR` and natively
inside a real chroot(DIR) — and must give the same result, while nothing
outside DIR is read, created or changed."""
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
