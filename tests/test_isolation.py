"""Partitions of one machine are isolated (issue #12): each has a root of its
own and a proxy worker that holds only its own memory and channels; a guest
in one partition reaches neither the files nor the memory of another, nor the
proxy's own descriptors through fd passing."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, fwk_workers, guest, tree

MARKER = "SECRET-of-partition-B-7f3a9c"


def _machine(tmp_path, a_kernel, b_kernel, b_seconds=4):
    root_a, root_b = tmp_path / "rootA", tmp_path / "rootB"
    root_a.mkdir()
    root_b.mkdir()
    (root_b / "secret.txt").write_text(MARKER + "\n")
    (root_a / "to_b").symlink_to(root_b)                      # a symlink out of A's root
    (root_a / "to_secret").symlink_to(root_b / "secret.txt")
    host_secret = tmp_path / "host_secret.txt"               # outside both roots
    host_secret.write_text(MARKER + "\n")
    spy_paths = [str(root_b / "secret.txt"), "/rootB/secret.txt", "../rootB/secret.txt",
                 "/../rootB/secret.txt", "to_b/secret.txt", "/to_secret", str(host_secret)]
    args = ", ".join(f'"{a}"' for a in ["spy", MARKER] + spy_paths)
    (tmp_path / "m.toml").write_text(f"""
[machine]
cores = 4
memory = "512M"

[[partition]]
name = "B"
kernel = "{b_kernel}"
cores = 2
memory = "128M"
root = "rootB"
program = "{guest('glibc', 'partition_spy')}"
args = ["hold", "{MARKER}", "{b_seconds}"]

[[partition]]
name = "A"
kernel = "{a_kernel}"
cores = 2
memory = "128M"
root = "rootA"
program = "{guest('glibc', 'partition_spy')}"
args = [{args}]
""")
    return root_a, root_b, host_secret


def _run(tmp_path, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "azemu", "run", "--no-live", "--out", str(out),
                           *extra, str(tmp_path / "m.toml")], capture_output=True, env=env,
                          timeout=120), out


@pytest.mark.parametrize("a_kernel,b_kernel", [("lwk", "unikernel"), ("unikernel", "lwk"),
                                               ("linux", "lwk"), ("lwk", "linux")])
def test_a_partition_reaches_neither_files_nor_memory_of_another(tmp_path, a_kernel, b_kernel):
    root_a, root_b, host_secret = _machine(tmp_path, a_kernel, b_kernel)
    before_b, before_host = tree(root_b), host_secret.read_bytes()
    r, out = _run(tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    spy = (out / "A.out").read_text()
    assert spy.endswith("spy: done\n"), spy + (out / "A.err").read_text()
    assert "FOUND" not in spy and "WROTE" not in spy, spy
    assert (out / "B.out").read_text() == f"held {len(MARKER)} bytes\n"
    assert tree(root_b) == before_b                           # nothing of B's changed
    assert host_secret.read_bytes() == before_host
    assert not (tmp_path / "out" / "secret.txt").exists()


def test_without_a_root_a_partition_gets_an_empty_one_of_its_own(tmp_path):
    """No implicit host-wide access: a partition with no `root` works in
    NAME.root in the output directory and sees nothing else."""
    secret = tmp_path / "host.txt"
    secret.write_text(MARKER)
    (tmp_path / "m.toml").write_text(f"""
[[partition]]
name = "solo"
kernel = "lwk"
program = "{guest('glibc', 'partition_spy')}"
args = ["spy", "{MARKER}", "{secret}", "../host.txt", "/m.toml"]
""")
    r, out = _run(tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert (out / "solo.out").read_text() == "spy: done\n"
    assert (out / "solo.root").is_dir() and not list((out / "solo.root").iterdir())


def test_each_proxy_worker_maps_only_its_own_partition(tmp_path):
    """The structure behind the isolation: while a three-partition machine
    runs, each proxy worker maps exactly one partition memory segment and one
    channel segment, and holds no descriptor of another partition's memory."""
    for name in "ABC":
        (tmp_path / name).mkdir()
    parts = "".join(f"""
[[partition]]
name = "{n}"
kernel = "lwk"
cores = 1
memory = "64M"
root = "{n}"
program = "{guest('glibc', 'partition_spy')}"
args = ["hold", "x", "3"]
""" for n in "ABC")
    (tmp_path / "m.toml").write_text(parts)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "run", "--no-live", "--out", str(tmp_path),
                          str(tmp_path / "m.toml")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        workers = []
        while len(workers) < 3 and time.monotonic() < deadline:
            workers = fwk_workers(p.pid)
            time.sleep(0.1)
        assert len(workers) == 3
        seen = set()
        for w in workers:
            maps = open(f"/proc/{w}/maps").read()
            segs = {line.split()[-2] if line.endswith("(deleted)") else line.split()[-1]
                    for line in maps.splitlines() if "memfd:azemu" in line}
            parts_mapped = {s for s in segs if "azemu-part" in s}
            assert len(parts_mapped) == 1, segs               # its own partition's memory only
            assert {s for s in segs if "fwk-channels" in s}, segs
            seen |= parts_mapped
            links = [os.readlink(f"/proc/{w}/fd/{fd}") for fd in os.listdir(f"/proc/{w}/fd")]
            held = {x.split()[0] for x in links if "azemu-part" in x}
            assert held <= parts_mapped, links                 # no descriptor of another's
        assert len(seen) == 3                                  # three workers, three partitions
    finally:
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()


FDSEND = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int send_fd(int sock, int fd) {
    char byte = 'x', ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr m = {0};
    m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = ctl; m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &m, MSG_DONTWAIT) < 0 ? -errno : 0;
}

int main(void) {
    int sv[2], refused = 0, sent = 0, other = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) { perror("socketpair"); return 1; }
    for (int fd = 0; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) != -1)
            continue;                         /* ours: sending it is allowed */
        int r = send_fd(sv[0], fd);
        if (r == -EBADF) refused++; else if (r == 0) sent++; else other++;
    }
    char buf[16];
    printf("not ours: %d refused (EBADF), %d sent, %d other errors\n", refused, sent, other);
    printf("received: %zd\n", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    return 0;
}
"""


@pytest.mark.parametrize("mode", ("linux", "lwk", "unikernel"))
def test_scm_rights_of_fds_the_guest_does_not_own(tmp_path, mode):
    """Every fd number the guest has not opened — among them the numbers of
    the proxy's own descriptors (guest memory, channels, root) — is refused
    with EBADF, as Linux refuses a closed fd: nothing reaches the peer."""
    from conftest import build_probe
    exe = build_probe(tmp_path, "fdsend", FDSEND)
    native = subprocess.run([exe], capture_output=True, timeout=30)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    emulated = subprocess.run([sys.executable, "-m", "azemu", "exec", "--mode", mode, exe],
                              capture_output=True, timeout=120, env=env)
    assert native.stdout.startswith(b"not ours: 1019 refused (EBADF), 0 sent, 0 other errors\n")
    assert emulated.stdout == native.stdout, emulated.stderr
    assert emulated.returncode == native.returncode == 0
