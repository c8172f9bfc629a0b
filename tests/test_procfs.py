"""The guest's /proc, /dev and /sys are the kernel model's (kernels/procfs.py)
and the host's — azemu's memory and descriptors, every host process, the
host's devices — are out of reach, however a path gets there
(kernels/fwk/sandbox.py).  guest_bins/src/procview.c checks its own entries
against its syscalls natively and under azemu; the attacks, one a test, run
in busybox sh."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import LIBCS, assert_same, guest, run_azemu, run_native

MODES = ("linux", "lwk", "unikernel")


def _sh(busybox, script, *, mode="linux", stdin=None, extra=()):
    return run_azemu([busybox, "sh", "-c", script], extra=["--mode", mode, *extra], stdin=stdin)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", LIBCS)
def test_proc_dev_and_sys_match_linux(libc, mode, tmp_path):
    """status, stat, cmdline, environ, auxv, exe, cwd, root, fd/, fdinfo/,
    maps, mem, limits, task/, thread-self, a child's entries (waiting,
    zombie, reaped), meminfo/sysinfo, cpuinfo/sysconf, uptime, loadavg,
    sys/kernel, /sys cpu, /dev devices and links, /dev/shm between
    processes, relative and symlinked and dirfd-relative lookups."""
    exe = guest(libc, "procview")
    (tmp_path / "n").mkdir()
    (tmp_path / "a").mkdir()
    native = run_native([exe, str(tmp_path / "n")])
    assert native[0].endswith(b"done\n") and native[2] == 0, native
    assert_same(native, run_azemu([exe, str(tmp_path / "a")], extra=["--mode", mode]))


@pytest.mark.parametrize("mode", ("linux", "lwk"))
def test_proc_self_is_the_guest_not_azemu(busybox, mode):
    """maps lists the guest's program and no Python; status and stat give
    the guest's pid and name; cmdline its argv."""
    probe = ("grep -E '^(Name|State):' /proc/self/status; cut -d' ' -f2,3 /proc/self/stat;"
             " tr '\\0' ' ' < /proc/$$/cmdline; echo; cat /proc/self/comm;"
             " [ \"$(cut -d' ' -f1 /proc/self/stat)\" -gt 0 ] && echo pid ok")
    native = run_native([busybox, "sh", "-c", probe])
    assert _sh(busybox, probe, mode=mode) == native
    out, err, rc = _sh(busybox, "cat /proc/self/maps", mode=mode)
    text = out.decode()
    assert rc == 0 and "busybox" in text and "[stack]" in text and "python" not in text.lower()


def test_proc_self_mem_is_the_guests_memory(busybox):
    """The host's /proc/self/mem is azemu's memory: writing it would run
    anything on the host.  The guest's is its own: address 0 is unmapped
    there, so reading or writing it fails with EIO, as natively."""
    script = "echo x > /proc/self/mem; echo $?; cat /proc/self/mem; echo $?; cat /proc/thread-self/mem; echo $?"
    native = run_native([busybox, "sh", "-c", script])
    assert native[0] == b"1\n1\n1\n" and native[1].count(b"Input/output error") == 3, native
    assert _sh(busybox, script) == native


def test_a_symlink_to_proc_is_the_guests_proc(busybox, tmp_path):
    """A symlink the guest makes to /proc/self/..., or a pid of a host
    process (azemu's parent, init), never reaches the host's /proc: the
    link is walked inside the root to the guest's tree."""
    link = tmp_path / "link"
    out, err, rc = _sh(busybox, f"ln -s /proc/self/status {link}; grep -c ^Pid: {link};"
                       f" ln -sf /proc/self/fd {tmp_path}/fds; ls {tmp_path}/fds/ | head -1;"
                       f" cat /proc/{os.getpid()}/environ; cat /proc/1/maps")
    assert out == b"1\n0\n", (out, err)
    assert err.count(b"No such file or directory") == 2 and b"PATH=" not in out + err


def test_procfs_cannot_be_written(busybox):
    """/proc/sys is the kernel's, not the host's: never opened for writing."""
    out, err, rc = _sh(busybox, "echo 1 > /proc/sys/kernel/hostname; echo status $?")
    assert b"Permission denied" in err and out == b"status 1\n", (out, err)


def test_dev_fd_and_dev_stdin_are_the_guests_descriptors(busybox, tmp_path):
    """/dev/stdin, /dev/fd/N and /proc/self/fd/N open the guest's own files
    (natively the same), whatever azemu's own descriptors are."""
    f = tmp_path / "f"
    f.write_text("in the file\n")
    script = (f"cat /dev/stdin; cat /dev/fd/7 7<{f}; echo piped | cat /proc/self/fd/0;"
              f" exec 5>{tmp_path}/out; echo through-fd5 > /dev/fd/5; cat {tmp_path}/out;"
              " wc -c < /dev/stdin")
    native = run_native([busybox, "sh", "-c", script], stdin=b"from stdin\n")
    assert native[0].startswith(b"from stdin\nin the file\npiped\nthrough-fd5\n")
    assert run_azemu([busybox, "sh", "-c", script], stdin=b"from stdin\n") == native


def test_machine_files_describe_the_emulated_machine(busybox):
    """/proc/cpuinfo lists the emulated cores, /proc/meminfo the partition's
    memory, /proc/mounts (a link into self/) the guest's mounts — not the host's."""
    out, err, rc = _sh(busybox, "grep -c ^processor /proc/cpuinfo; head -1 /proc/meminfo;"
                       " cut -d' ' -f2 /proc/mounts | head -2; ls /sys/devices/system/cpu | grep -c cpu[0-9]",
                       extra=("--cores", "3", "--mem", "256M"))
    assert rc == 0 and out == b"3\nMemTotal:         262144 kB\n/\n/proc\n3\n", (out, err)


@pytest.mark.parametrize("mode", MODES)
def test_cd_into_the_kernels_tree_matches_linux(busybox, mode):
    """cd into /proc, /dev, /sys and below, relative paths from there, cd
    into a file or a missing name, and back out: as on Linux."""
    script = ("cd /proc && pwd && cat self/comm && cd sys/kernel && pwd && cat ostype;"
              " cd /dev && pwd && ls null zero; cd /sys && pwd; cd /proc/self/status;"
              " echo $?; cd /proc/nonexistent; echo $?; cd /proc/sys/.. && pwd; cd / && pwd")
    native = subprocess.run([busybox, "sh", "-c", script], capture_output=True)
    assert native.returncode == 0 and b"/proc/sys/kernel" in native.stdout, native
    assert _sh(busybox, script, mode=mode) == (native.stdout, native.stderr, 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_walk_through_a_magic_link_back_into_the_tree_matches_linux(busybox, mode):
    """A path that leaves the tree through a magic link (/proc/self/root,
    /proc/self/cwd) and comes back into /proc or /dev, or `..` from a
    working directory in /proc through its cwd link: the walk goes on from
    where the link led, as Linux's does."""
    script = ("cd /; ls /proc/self/root/.. | grep -x -e proc -e dev -e sys; cat /proc/self/root/proc/self/comm;"
              " stat -c %F /proc/self/root/proc/self/root/dev/null; cd /proc && cd -P self/cwd/../.. && pwd;"
              " cd /proc && cat self/cwd/self/comm; ls -d /proc/self/cwd/../proc/self; cd /proc/self/root/dev"
              " && ls null")
    native = subprocess.run([busybox, "sh", "-c", script], capture_output=True, cwd="/")
    assert native.returncode == 0 and b"character special file" in native.stdout, native
    assert _sh(busybox, script, mode=mode) == (native.stdout, native.stderr, 0)


@pytest.mark.parametrize("mode", ("linux", "lwk"))
def test_cd_through_the_kernels_tree_stays_in_the_root(busybox, mode, tmp_path):
    """The attack: a working directory in the kernel's tree, or reached
    through its magic links (/proc/self/root, /proc/self/cwd, an fd's link),
    then `..` over and over: still inside --root."""
    jail = tmp_path / "jail"
    (jail / "bin").mkdir(parents=True)
    (jail / "inside").write_text("in\n")
    (tmp_path / "outside").write_text("SECRET\n")
    shutil.copy(busybox, jail / "bin" / "busybox")
    script = ("cd -P /proc/self/root/../../.. && ls; cd / && cd -P /proc/self/cwd/.. && ls;"
              " cd /proc && cd ../../.. && ls; exec 3< /; cd -P /proc/self/fd/3/.. && ls;"
              " cd /proc; cat ../../outside ../../../outside /proc/../../outside 2>/dev/null;"
              " cd /; ls /proc/self/root/proc/self/cwd/../../..; cd /proc && ls -d self/cwd/../../inside;"
              " cat /proc/self/root/../outside /proc/self/root/proc/self/root/../../outside 2>/dev/null; true")
    out, err, rc = run_azemu([str(jail / "bin" / "busybox"), "sh", "-c", script],
                             extra=["--mode", mode, "--root", str(jail)])
    assert rc == 0, err
    assert b"SECRET" not in out + err and b"outside" not in out and b"jail" not in out
    assert out.count(b"inside") == 6, out


def test_random_uuids_are_version_4_and_new_each_read(busybox):
    """/proc/sys/kernel/random/uuid gives a new RFC 4122 version-4 UUID at
    each read; boot_id one UUID for the whole boot, as on Linux."""
    import uuid
    r = "/proc/sys/kernel/random/"
    out, err, rc = _sh(busybox, f"cat {r}uuid {r}uuid {r}boot_id {r}boot_id")
    assert rc == 0, err
    a, b, boot, boot2 = out.decode().split()
    for text in (a, b, boot):
        u = uuid.UUID(text)
        assert (u.version, u.variant, str(u)) == (4, uuid.RFC_4122, text)
    assert a != b and boot == boot2


@pytest.fixture
def host_fs_root(tmp_path, busybox):
    """A --root with the host's kernel file systems mounted inside it — a
    procfs at /proc and at /hostproc, a sysfs, the host's /dev bound — and a
    block device node made in it: what a careless container image has."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    root = tmp_path / "root"
    for d in ("proc", "hostproc", "hostsys", "hostdev", "bin", "tmp"):
        (root / d).mkdir(parents=True)
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "cat", "grep", "cut", "ls", "head", "ln"):
        os.symlink("busybox", root / "bin" / applet)
    mounts = []
    for args in (["-t", "proc", "proc", root / "proc"], ["-t", "proc", "proc", root / "hostproc"],
                 ["-t", "sysfs", "sysfs", root / "hostsys"], ["--bind", "/dev", root / "hostdev"]):
        if subprocess.run(["mount", *map(str, args)], capture_output=True).returncode != 0:
            for m in reversed(mounts):
                subprocess.run(["umount", "-l", str(m)], capture_output=True)
            pytest.skip("cannot mount kernel file systems here")
        mounts.append(args[-1])
    os.mknod(root / "disk", 0o600 | 0o060000, os.makedev(254, 0))
    yield root
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


@pytest.mark.parametrize("mode", ("linux", "lwk"))
def test_a_procfs_inside_the_root_is_not_the_hosts(host_fs_root, mode):
    """Acceptance (issue #11): with a procfs mounted inside --root, /proc/self
    is the guest's, and the host's memory, processes, sysfs and devices are
    unreachable — by path, through a symlink, by a relative walk."""
    root = host_fs_root
    host = subprocess.Popen(["sleep", "60"], env={"HOST_ONLY_MARK": "leaked"})
    try:
        script = ("[ \"$(grep ^Pid: /proc/$$/status | cut -f2)\" = $$ ] && echo own pid;"
                  " grep -q /bin/busybox /proc/self/maps && echo maps own;"
                  " cat /hostproc/self/mem; cat /hostproc/self/maps; cat /hostproc/1/environ;"
                  f" cat /hostproc/{host.pid}/environ; ls /hostproc; cat /hostsys/kernel/uevent_seqnum;"
                  " cat /hostdev/null; head -c1 /disk; ln -s /hostproc/self/mem /tmp/m; cat /tmp/m;"
                  " cd /hostproc; cd /tmp && cat ../hostproc/self/environ; echo end")
        out, err, rc = run_azemu([str(root / "bin" / "busybox"), "sh", "-c", script],
                                 extra=["--mode", mode, "--root", str(root)],
                                 env=dict(os.environ, PATH="/bin"))
    finally:
        host.kill()
        host.wait()
    assert out == b"own pid\nmaps own\nend\n", (out, err)
    assert err.count(b"Permission denied") == 11, err
    assert b"leaked" not in out + err


@pytest.mark.parametrize("mode", MODES)
def test_no_device_node_in_the_tree_opens(tmp_path, busybox, mode):
    """Attack: a device node reached by a walk (a host /dev/sda-like node in
    a root, a symlink to one) does not open — as on a `nodev` mount; the
    devices a guest has are the kernel's /dev."""
    if os.geteuid() != 0:
        pytest.skip("mknod needs root")
    os.mknod(tmp_path / "disk", 0o600 | 0o060000, os.makedev(254, 0))
    os.symlink(tmp_path / "disk", tmp_path / "to-disk")
    out, err, rc = _sh(busybox, f"head -c1 {tmp_path}/disk; head -c1 {tmp_path}/to-disk;"
                       f" echo x > {tmp_path}/disk; ls -l {tmp_path}/disk | cut -c1", mode=mode)
    assert out == b"b\n" and err.count(b"Permission denied") == 3, (out, err)


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel", "libos"))
@pytest.mark.parametrize("libc", LIBCS)
def test_process_vm_readv_and_writev_match_linux(libc, mode):
    """guest_bins/src/procvm.c: another process's memory read and written
    through its page tables and its protection (the copy stops at a
    PROT_NONE page), and kcmp's answers (a forked child's memory and fd
    table are its own, its inherited fds the same files), as Linux."""
    native = run_native([guest(libc, "procvm")])
    assert native[2] == 0 and b"WRITTEN by the parent" in native[0], native
    exe = guest("libos/" + libc if mode == "libos" else libc, "procvm")
    assert_same(native, run_azemu([exe], extra=["--mode", "unikernel" if mode == "libos" else mode]))
