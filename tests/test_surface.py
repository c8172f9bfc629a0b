"""The everyday syscall surface (issue #11): guest_bins/src/surface.c —
priorities and policies, personality, capabilities, groups, flock between
processes, fallocate/copy_file_range/splice/tee/vmsplice and the sync calls,
eventfd, timerfd, inotify, memfd, FIFOs by mknod, utime/utimes,
preadv2/pwritev2, sendmmsg/recvmmsg, mlockall, membarrier, NUMA policy —
and System V IPC (sysvipc.c), POSIX message queues (mqueue.c), openat2
(resolve.c), run natively and under azemu in every mode,
output and files compared."""
from __future__ import annotations

import os

import pytest

from conftest import LIBCS, assert_same, build_probe, guest, run_azemu, run_native, tree

KERNELS = ("linux", "lwk", "unikernel")
MODES = KERNELS + ("libos",)        # libos: the source-compatible image, on the unikernel


def program(libc, name, mode):
    """The guest program and azemu's options for `mode` — "libos": the
    source-compatible image of the same program, on the unikernel."""
    if mode == "libos":
        return guest("libos/" + libc, name), ["--mode", "unikernel"]
    return guest(libc, name), ["--mode", mode]


def same_in_dirs(libc, name, mode, tmp_path, native_ok):
    """Run `name DIR` natively in tmp_path/n and under azemu (`mode`) in
    tmp_path/a; `native_ok(result)` must hold for the native run; the two
    must give the same output and status.  Returns the native result."""
    exe, opts = program(libc, name, mode)
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    native = run_native([guest(libc, name), str(tmp_path / "n")])
    assert native_ok(native), native
    assert_same(native, run_azemu([exe, str(tmp_path / "a")], extra=opts))
    return native


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_the_everyday_surface_matches_linux(libc, mode, tmp_path):
    same_in_dirs(libc, "surface", mode, tmp_path,
                 lambda native: native[0].endswith(b"done\n") and native[2] == 0)
    assert tree(tmp_path / "a") == tree(tmp_path / "n")


def test_a_guest_cannot_make_device_nodes(tmp_path):
    """Attack: a device node would reach the host's devices (a disk, /dev/mem)
    past --root; mknod of a block or character device is EPERM, even for a
    guest whose host user could make one."""
    exe = build_probe(tmp_path, "mk", '#include <stdio.h>\n#include <sys/stat.h>\n'
                      '#include <sys/sysmacros.h>\n#include <errno.h>\n#include <string.h>\n'
                      'int main(void){int a=mknod("blk",S_IFBLK|0600,makedev(8,0));int e1=errno;'
                      'int b=mknod("chr",S_IFCHR|0600,makedev(1,1));int e2=errno;'
                      'printf("%d %s %d %s\\n",a,strerror(e1),b,strerror(e2));return 0;}\n')
    for mode in KERNELS:
        out, _, rc = run_azemu([exe], cwd=str(tmp_path), extra=["--mode", mode])
        assert rc == 0 and out == b"-1 Operation not permitted -1 Operation not permitted\n", out
        assert not (tmp_path / "blk").exists() and not (tmp_path / "chr").exists()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_system_v_ipc_matches_linux(libc, mode):
    """guest_bins/src/sysvipc.c: shared memory seen by a child and a second
    attachment, IPC_STAT/IPC_SET/IPC_RMID and keys; semaphores with waits,
    timeouts, all-or-nothing operations, SEM_UNDO at exit and EIDRM; message
    queues by type, truncation and a receiver waiting for a sender."""
    exe, opts = program(libc, "sysvipc", mode)
    native = run_native([guest(libc, "sysvipc")])
    assert native[0].endswith(b"done\n"), native
    assert_same(native, run_azemu([exe], extra=opts))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_record_locks_between_processes_match_linux(libc, mode, tmp_path):
    """guest_bins/src/reclocks.c: POSIX locks held per process (F_GETLK names
    the holder, F_SETLK EAGAIN, F_SETLKW waits for the unlock, a split by an
    unlock in the middle, released by closing any fd and by exit) and OFD
    locks per open file description, checked against Linux."""
    same_in_dirs(libc, "reclocks", mode, tmp_path,
                 lambda native: native[0].endswith(b"done\n") and native[2] == 0)


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3.11"), reason="no host python3.11")
def test_a_guest_sets_only_user_extended_attributes(tmp_path):
    """Attack: trusted. and security. attributes (file capabilities, SELinux
    labels) would be written with azemu's host privileges; a guest gets
    EPERM for them, even as root, and user. attributes work."""
    f = tmp_path / "f"
    f.write_text("x")
    script = ("import os, sys\nf = sys.argv[1]\n"
              "for name in ('trusted.x', 'security.capability', 'system.posix_acl_access'):\n"
              "    try:\n        os.setxattr(f, name, b'1'); print(name, 'set')\n"
              "    except OSError as e:\n        print(name, e.errno)\n"
              "os.setxattr(f, 'user.ok', b'yes'); print(os.getxattr(f, 'user.ok'))\n")
    out, err, rc = run_azemu(["/usr/bin/python3.11", "-c", script, str(f)], extra=["--mode", "lwk"])
    assert rc == 0 and out == b"trusted.x 1\nsecurity.capability 1\nsystem.posix_acl_access 1\nb'yes'\n", (out, err)
    assert "trusted.x" not in os.listxattr(f) and "security.capability" not in os.listxattr(f)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_openat2_and_its_resolve_flags_match_linux(libc, mode, tmp_path):
    """guest_bins/src/resolve.c: RESOLVE_BENEATH and RESOLVE_IN_ROOT keep a
    walk under its directory (.., absolute paths and links), NO_SYMLINKS and
    NO_MAGICLINKS refuse links (/proc/self/fd/N is a magic link of the
    kernel's /proc), NO_XDEV refuses to enter /proc; open_how is checked."""
    same_in_dirs(libc, "resolve", mode, tmp_path,
                 lambda native: native[2] == 0 and b"cached: ok" in native[0])


def test_openat2_in_root_and_beneath_stay_inside_the_sandbox(tmp_path):
    """Attack: RESOLVE_IN_ROOT and RESOLVE_BENEATH take a directory as their
    root; with --root, a guest that names a directory, .. and absolute links
    still reaches nothing above --root, and the checks give what Linux gives
    inside a chroot."""
    import shutil
    root = tmp_path / "root"
    (root / "w").mkdir(parents=True)
    exe = root / "resolve"
    shutil.copy(guest("glibc", "resolve"), exe)
    out, err, rc = run_azemu([str(exe), "/w"], extra=["--mode", "lwk", "--root", str(root)])
    (tmp_path / "n").mkdir()
    native = run_native([guest("glibc", "resolve"), str(tmp_path / "n")])
    assert rc == 0 and out == native[0], (out, err)
    assert sorted(p.name for p in (root / "w").iterdir()) == ["d", "top"]
    assert not (tmp_path / "top").exists() and not (tmp_path / "new").exists()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_posix_message_queues_match_linux(libc, mode):
    """guest_bins/src/mqueue.c: POSIX queues between a process and its
    child — priority order, size and permission checks, O_NONBLOCK, a timed
    receive, a receiver waiting for a send, select on the descriptor,
    mq_notify's one signal, unlink while open."""
    exe, opts = program(libc, "mqueue", mode)
    native = run_native([guest(libc, "mqueue")])
    assert native[2] == 0 and native[0].endswith(b"done\n"), native
    assert_same(native, run_azemu([exe], extra=opts))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_file_descriptors_passed_over_unix_sockets_match_linux(libc, mode, tmp_path):
    """guest_bins/src/fdpass.c: SCM_RIGHTS between a parent and its child —
    the fds received are the receiver's own (used, close-on-exec with
    MSG_CMSG_CLOEXEC), a short control buffer sets MSG_CTRUNC, a closed fd is
    not sent. The host side only lets a guest's own handles travel."""
    same_in_dirs(libc, "fdpass", mode, tmp_path,
                 lambda native: native[0].endswith(b"done\n"))
    assert tree(tmp_path / "a") == tree(tmp_path / "n")
