"""Attacks on `--root DIR` (issue 12's acceptance): each test makes one kind of
escape attempt from a guest — guest_bins/src/attacks.c, built here — on the
linux kernel (the sandbox in-process), the lwk and the unikernel (the
sandbox in the FWK proxy).  Every attempt must fail, no byte of the host's
secret may reach the guest, and nothing outside DIR may change: the tree
next to the root is compared before and after each run.
tests/test_sandbox.py holds the path escapes compared with a real chroot."""
from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, build_probe, guest

MODES = ("linux", "lwk", "unikernel")
SECRET = b"SECRET-OUTSIDE"


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """Built from its source here; without gcc, the build in guest_bins/bin/glibc."""
    if shutil.which("gcc") is None:
        return guest("glibc", "attacks")
    src = (ROOT / "guest_bins" / "src" / "attacks.c").read_text()
    return build_probe(tmp_path_factory.mktemp("attacks"), "attacks", src)


@pytest.fixture
def jail(tmp_path):
    """root/ (the guest's), outside/ (the host's, with a secret) and links
    from the one to the other."""
    outside, root = tmp_path / "outside", tmp_path / "root"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET + b"\n")
    (outside / "sub" / "x").write_bytes(SECRET + b" x\n")
    for d in ("etc", "dir", "proc"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "hello.txt").write_text("inside\n")
    (root / "dir" / "x").write_text("inside x\n")
    os.symlink(outside / "secret.txt", root / "abs_out")
    os.symlink(outside, root / "abs_dir_out")
    os.symlink("../../../../../../outside", root / "dir" / "up")
    return root, outside


def host_state(tmp_path):
    """Everything under tmp_path but the root: kind, mode, size, times, contents, links."""
    out = {}
    for d, dirs, files in os.walk(tmp_path):
        if d == str(tmp_path):
            dirs[:] = [x for x in dirs if x != "root"]
        for n in dirs + files:
            p = os.path.join(d, n)
            s = os.lstat(p)
            data = open(p, "rb").read() if os.path.isfile(p) and not os.path.islink(p) else None
            out[p] = (s.st_mode, s.st_size, s.st_nlink, s.st_mtime_ns, s.st_ino, data,
                      os.readlink(p) if os.path.islink(p) else None)
    return out


def attack(probe, mode, root, *ops, stdin=subprocess.DEVNULL, timeout=120, env_extra=None, rooted=True):
    """Run the probe's operations under azemu; its output lines, checked
    for the secret."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    extra = ["--mode", mode] + (["--root", str(root)] if rooted else [])
    p = subprocess.run([sys.executable, "-m", "azemu", "exec", *extra, probe, *ops], stdin=stdin,
                       capture_output=True, env=env, timeout=timeout, cwd=str(root))
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert SECRET not in p.stdout + p.stderr
    return p.stdout.decode().splitlines()


def results(lines):
    """{'op args': 'result'} of the probe's lines."""
    return dict(line.split(": ", 1) for line in lines if ": " in line)


@pytest.fixture
def procfs_in_root(jail):
    """A procfs at the root's /proc and another at /hostproc, as a careless
    container image has them (root and mount(2) needed)."""
    root, _ = jail
    (root / "hostproc").mkdir()
    mounted = []
    for where in (root / "proc", root / "hostproc"):
        if subprocess.run(["mount", "-t", "proc", "proc", str(where)], capture_output=True).returncode:
            for m in mounted:
                subprocess.run(["umount", "-l", str(m)], capture_output=True)
            pytest.skip("cannot mount a procfs here (needs root and mount(2)); the guest's /proc "
                        "is the kernel's own whatever is mounted, tests/test_procfs.py")
        mounted.append(where)
    yield root
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


@pytest.mark.parametrize("mode", MODES)
def test_proc_self_mem_and_fd_with_a_procfs_in_the_root(jail, procfs_in_root, probe, mode, tmp_path):
    """/proc/self/mem is the guest's own memory (written and read back, as on
    Linux), never azemu's; the host's procfs wherever it is mounted —
    directly, through a symlink, relatively — gives EACCES; /proc/self/fd
    lists the guest's descriptors only, and no host descriptor of azemu or
    its proxy opens through it."""
    root, outside = jail
    os.symlink("/hostproc/self/mem", root / "memlink")
    os.symlink("hostproc/self", root / "selflink")
    before = host_state(tmp_path)
    r = results(attack(probe, mode, root,
                       "memself", "read", "/hostproc/self/mem", "write", "/hostproc/self/mem",
                       "read", "/hostproc/self/environ", "read", "/hostproc/1/environ",
                       "read", "/hostproc/self/fd/3", "read", "/hostproc/self/root/etc/hello.txt",
                       "read", "/memlink", "read", "selflink/maps", "read", "../hostproc/self/cmdline",
                       "read", "/proc/self/root/../../outside/secret.txt",
                       "read", "/proc/self/fd/40", "read", "/proc/self/cwd/../../outside/secret.txt",
                       "fds", "0", "63"))
    assert r["memself"] == "ok var=2222 read=2222"
    for path in ("/hostproc/self/mem", "/hostproc/self/environ", "/hostproc/1/environ",
                 "/hostproc/self/fd/3", "/hostproc/self/root/etc/hello.txt", "/memlink",
                 "selflink/maps", "../hostproc/self/cmdline"):
        assert r["read " + path] == "EACCES", path
    assert r["write /hostproc/self/mem"] == "EACCES"
    assert r["read /proc/self/root/../../outside/secret.txt"] == "ENOENT"
    assert r["read /proc/self/cwd/../../outside/secret.txt"] == "ENOENT"
    assert r["read /proc/self/fd/40"] == "ENOENT"
    fds = {k: v for k, v in r.items() if k.startswith("fd ")}
    assert set(fds) == {"fd 0", "fd 1", "fd 2"}, fds          # the guest's, nothing of the host's
    assert not any(str(tmp_path) in v or "memfd" in v for v in fds.values()), fds
    assert host_state(tmp_path) == before


OPENAT2 = [  # (dir, path, resolve letters, result): as natively in chroot(root), a procfs at /proc
    ("/dir", "../../outside/secret.txt", "b", "EXDEV"),
    ("/dir", "../../outside/secret.txt", "r", "ENOENT"),     # `..` clamped at dir
    ("/dir", "../etc/hello.txt", "r", "ENOENT"),
    ("/dir", "../etc/hello.txt", "b", "EXDEV"),
    ("/dir", "up/secret.txt", "b", "EXDEV"),
    ("/dir", "up/secret.txt", "r", "ENOENT"),
    ("/dir", "up/secret.txt", "", "ENOENT"),
    ("/", "abs_out", "b", "EXDEV"),
    ("/", "abs_out", "r", "ENOENT"),                         # absolute: from dirfd
    ("/", "abs_out", "s", "ELOOP"),
    ("/", "abs_dir_out/secret.txt", "bs", "ELOOP"),
    ("/", "abs_dir_out/secret.txt", "x", "EXDEV"),          # (Linux: no root to jump to yet)
    ("/", "/abs_dir_out/secret.txt", "x", "ENOENT"),
    ("/dir", "../abs_dir_out/secret.txt", "rx", "ENOENT"),
    ("/dir", "/abs_out", "r", "ENOENT"),
    ("/dir", "/../../../outside/secret.txt", "r", "ENOENT"),
    ("/", "/proc/self/status", "x", "EXDEV"),                 # the kernel's /proc: a mount
    ("/", "proc/self/root/etc/hello.txt", "m", "ELOOP"),      # a magic link
    ("/", "proc/self/cwd/etc/hello.txt", "m", "ELOOP"),
    ("/", "proc/self/root/../../outside/secret.txt", "", "ENOENT"),
    ("/etc", "hello.txt", "bsmx", "ok inside"),
    ("/", "etc/../etc/hello.txt", "r", "ok inside"),
]


@pytest.mark.parametrize("mode", MODES)
def test_openat2_resolve_flags(jail, probe, mode, tmp_path):
    """openat2 with RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV, with `..` and absolute and
    relative symlinks leading out: the answers of a real chroot, never the
    secret."""
    root, outside = jail
    before = host_state(tmp_path)
    ops = [x for d, p, res, _ in OPENAT2 for x in ("openat2", d, p, res)]
    got = attack(probe, mode, root, *ops)
    assert got == [f"openat2 {d} {p} {res}: {want}" for d, p, res, want in OPENAT2]
    assert host_state(tmp_path) == before


@pytest.mark.parametrize("mode", MODES)
def test_o_path_and_fchdir_out_of_the_root(jail, probe, mode, tmp_path):
    """An O_PATH descriptor of the root's `..`, of a symlink climbing out, of
    a directory: fchdir to it, then relative opens and `..`: still inside."""
    root, outside = jail
    before = host_state(tmp_path)
    r = attack(probe, mode, root,
               "opath", "/..", "fchdir", "getcwd", "read", "../../outside/secret.txt",
               "atread", "../../outside/secret.txt", "atread", "../../../etc/hello.txt",
               "opath", "/dir/up", "fchdir", "getcwd",
               "opath", "/dir", "fchdir", "chdir", "..", "chdir", "..", "chdir", "..", "getcwd",
               "read", "outside/secret.txt", "read", "etc/hello.txt",
               "opath", "/abs_dir_out", "fchdir", "atread", "secret.txt",
               "opath", "/etc/hello.txt", "fchdir", "atread", "x")
    assert r == ["opath /..: ok", "fchdir: ok", "getcwd: ok /",
                 "read ../../outside/secret.txt: ENOENT", "atread ../../outside/secret.txt: ENOENT",
                 "atread ../../../etc/hello.txt: ok inside",
                 "opath /dir/up: ENOENT", "fchdir: EBADF", "getcwd: ok /",
                 "opath /dir: ok", "fchdir: ok", "chdir ..: ok", "chdir ..: ok", "chdir ..: ok",
                 "getcwd: ok /", "read outside/secret.txt: ENOENT", "read etc/hello.txt: ok inside",
                 "opath /abs_dir_out: ENOENT", "fchdir: EBADF", "atread secret.txt: EBADF",
                 "opath /etc/hello.txt: ok", "fchdir: ENOTDIR", "atread x: ENOTDIR"]
    assert host_state(tmp_path) == before


@pytest.mark.parametrize("mode", MODES)
def test_hard_links_to_files_outside(jail, probe, mode, tmp_path):
    """linkat from a path leading out (`..`, symlinks followed), of the
    guest's stdin — a file outside the root the user redirected — by
    AT_EMPTY_PATH and by /proc/self/fd/0, and of an O_PATH descriptor: no
    name inside the root ever gets an inode from outside."""
    root, outside = jail
    before = host_state(tmp_path)
    with open(outside / "secret.txt", "rb") as stdin:
        r = results(attack(probe, mode, root,
                           "link", "../../outside/secret.txt", "/s1", "linkfollow", "/abs_out", "/s2",
                           "link", "dir/up/secret.txt", "/s3", "linkfollow", "/dir/up/secret.txt", "/s4",
                           "linkfd", "0", "/s5", "linkfollow", "/proc/self/fd/0", "/s6",
                           "linkfollow", "/dev/stdin", "/s7", "opath", "/abs_out", "linkfd", "-1", "/s8",
                           "opath", "/etc/hello.txt", "linkfd", "-1", "/s9",
                           "link", "/abs_out", "/s10", "link", "/etc/hello.txt", "/s11",
                           stdin=stdin))
    for k in ("link ../../outside/secret.txt /s1", "linkfollow /abs_out /s2", "link dir/up/secret.txt /s3",
              "linkfollow /dir/up/secret.txt /s4"):
        assert r[k] == "ENOENT", k
    assert r["linkfd 0 /s5"] == "ENOENT" and r["linkfd -1 /s9"] == "ENOENT"   # no flink(2)
    assert r["linkfollow /proc/self/fd/0 /s6"] == "EACCES"
    assert r["linkfollow /dev/stdin /s7"] == "EACCES"
    assert r["link /abs_out /s10"] == "ok"                  # the symlink itself: a name inside
    assert r["link /etc/hello.txt /s11"] == "ok"
    outside_inodes = {(s.st_dev, s.st_ino) for s in (os.lstat(os.path.join(d, n))
                      for d, ds, fs in os.walk(outside) for n in ds + fs)}
    inside = {(s.st_dev, s.st_ino) for s in (os.lstat(os.path.join(d, n))
              for d, ds, fs in os.walk(root) for n in ds + fs)}
    assert not outside_inodes & inside
    assert host_state(tmp_path) == before


def _exchange(a, b):
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2)   # RENAME_EXCHANGE


@pytest.mark.parametrize("mode", MODES)
def test_rename_exchange_of_a_directory_and_a_link_out_during_walks(jail, probe, mode, tmp_path):
    """A host thread swaps, atomically (renameat2 RENAME_EXCHANGE), a
    directory of the root with a symlink to the outside directory while the
    guest walks through both names, at the end and in the middle of its
    paths: it sees the inside file or nothing, never the outside one.  The
    guest's own RENAME_EXCHANGE is refused (EINVAL: not offered)."""
    root, outside = jail
    (root / "swap" / "sub").mkdir(parents=True)
    (root / "swap" / "x").write_text("inside\n")
    (root / "swap" / "sub" / "x").write_text("inside sub\n")
    os.symlink(outside, root / "other")
    if _exchange(root / "swap", root / "other") != 0:
        pytest.skip("no renameat2 RENAME_EXCHANGE on this host")
    _exchange(root / "swap", root / "other")
    before = host_state(tmp_path)
    stop = threading.Event()
    swaps = [0]

    def swapper():
        while not stop.is_set():
            _exchange(root / "swap", root / "other")
            swaps[0] += 1
            time.sleep(0.0002)
    t = threading.Thread(target=swapper)
    t.start()
    try:
        ops = ["read", "swap/x", "read", "other/x", "read", "/swap/sub/x", "read", "other/sub/x",
               "read", "swap/sub/../x", "read", "dir/../other/sub/x"] * 150
        got = attack(probe, mode, root, *ops, "exchange", "/dir", "/abs_dir_out")
    finally:
        stop.set()
        t.join()
    assert got[-1] == "exchange /dir /abs_dir_out: EINVAL"
    seen = {line.split(": ", 1)[1] for line in got[:-1]}
    assert seen <= {"ok inside", "ok inside sub", "ENOENT", "ENOTDIR", "ELOOP"}, seen
    assert "ok inside" in seen and swaps[0] > 10
    if os.path.islink(root / "swap"):
        _exchange(root / "swap", root / "other")
    assert host_state(tmp_path) == before


@pytest.fixture
def host_services(jail):
    """Host sockets outside the root: a stream and a datagram socket on
    paths, and the same on abstract names; what reaches them is recorded."""
    root, outside = jail
    tag = os.urandom(4).hex()
    made = {"path": socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
            "dpath": socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM),
            "abstract": socket.socket(socket.AF_UNIX, socket.SOCK_STREAM),
            "dabstract": socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)}
    names = {"path": str(outside / "sock"), "dpath": str(outside / "dsock"),
             "abstract": f"azemu-attack-{tag}", "dabstract": f"azemu-attack-d-{tag}"}
    for k, s in made.items():
        s.bind(("\0" + names[k]) if "abstract" in k else names[k])
        if s.type == socket.SOCK_STREAM:
            s.listen(8)
        s.setblocking(False)
    os.symlink(outside / "sock", root / "sock_link")
    os.symlink(outside / "dsock", root / "dsock_link")
    reached = []
    stop = threading.Event()

    def serve():
        import select
        while not stop.is_set():
            ready, _, _ = select.select(list(made.values()), [], [], 0.05)
            for s in ready:
                try:
                    if s.type == socket.SOCK_STREAM:
                        c, _ = s.accept()
                        c.sendall(b"HOST-SERVICE\n")
                        c.close()
                    else:
                        s.recv(100)
                except OSError:
                    continue
                reached.append(s.getsockname())
    t = threading.Thread(target=serve)
    t.start()
    yield names, reached
    stop.set()
    t.join()
    for s in made.values():
        s.close()


@pytest.mark.parametrize("mode", MODES)
def test_unix_sockets_with_path_names(jail, host_services, probe, mode, tmp_path):
    """AF_UNIX path names under --root — the host's socket by its own path,
    through symlinks, by `..`; bind through a link out; a datagram's
    destination (sendto, sendmsg) — are refused (EACCES): no host socket is
    reached, no socket file appears outside."""
    root, outside = jail
    names, reached = host_services
    before = host_state(tmp_path)
    r = results(attack(probe, mode, root,
                       "connect", names["path"], "connect", "/sock_link", "connect", "../../outside/sock",
                       "bind", "/abs_dir_out/newsock", "bind", "/dir/up/newsock2",
                       "sendto", names["dpath"], "sendto", "/dsock_link", "sendmsg", names["dpath"],
                       "sendmsg", "/dsock_link"))
    assert set(r.values()) == {"EACCES"}, r
    time.sleep(0.2)
    assert reached == []
    assert host_state(tmp_path) == before


@pytest.mark.parametrize("mode", MODES)
def test_unix_socket_addresses_too_long(jail, probe, mode, tmp_path):
    """sun_path filled to 108 bytes with no NUL, and addresses longer than a
    sockaddr_un (110 bytes and more): refused, as Linux refuses them (EINVAL)
    or as every path name is under --root (EACCES)."""
    root, outside = jail
    before = host_state(tmp_path)
    got = attack(probe, mode, root, "longpath", "108", "longpath", "109", "longpath", "120")
    assert got == ["longpath 108: bind EACCES, connect EACCES",
                   "longpath 109: bind EINVAL, connect EINVAL",
                   "longpath 120: bind EINVAL, connect EINVAL"]
    assert host_state(tmp_path) == before


@pytest.mark.parametrize("mode", MODES)
def test_abstract_unix_sockets_are_the_sandboxs_own(jail, host_services, probe, mode, tmp_path):
    """A host service listening on an abstract name is not reachable from a
    guest under --root (ECONNREFUSED: the guest's abstract names are in a
    namespace of the sandbox), while the guest's processes talk to each
    other by abstract names — short and long ones — and see them as they
    named them; an autobind gives five hex digits, as on Linux."""
    root, outside = jail
    names, reached = host_services
    before = host_state(tmp_path)
    long_name = "n" * 100
    got = attack(probe, mode, root, "aconnect", names["abstract"], "asendto", names["dabstract"],
                 "apair", "guest-name", "apair", long_name, "autobind")
    r = results(got)
    assert r[f"aconnect {names['abstract']}"] == "ECONNREFUSED"
    assert r[f"asendto {names['dabstract']}"] == "ECONNREFUSED"
    assert got[2:5] == ["apair guest-name: bound len=13 name=@guest-name",
                        "apair guest-name: child's peer len=13 name=@guest-name",
                        "apair guest-name: accepted ok, read hello, child 0"], got
    assert got[5:8] == [f"apair {long_name}: bound len=103 name=@{long_name}",
                        f"apair {long_name}: child's peer len=103 name=@{long_name}",
                        f"apair {long_name}: accepted ok, read hello, child 0"], got
    auto = r["autobind"].split()
    assert auto[:2] == ["ok", "len=8"] and len(auto[2]) == len("name=@12345"), got
    int(auto[2][6:], 16)
    time.sleep(0.2)
    assert reached == []
    assert host_state(tmp_path) == before


def test_abstract_names_without_root_are_the_hosts(jail, host_services, probe):
    """Without --root the guest has the host's namespaces (as it has the
    host's file system): the same host service answers."""
    root, _ = jail
    names, reached = host_services
    got = attack(probe, "lwk", root, "aconnect", names["abstract"], rooted=False)
    assert got == [f"aconnect {names['abstract']}: ok HOST-SERVICE"]


@pytest.mark.parametrize("mode", MODES)
def test_mknod_devices_and_fifos(jail, probe, mode, tmp_path):
    """mknod of character and block devices: EPERM (as for an unprivileged
    user: a guest has no CAP_MKNOD); a FIFO inside the root works as on
    Linux; through links leading out nothing is made outside."""
    root, outside = jail
    before = host_state(tmp_path)
    r = results(attack(probe, mode, root,
                       "mknod", "/fifo", "fifo", "fiforw", "/fifo", "mknod", "/chr", "chr",
                       "mknod", "/blk", "blk", "mknod", "/abs_dir_out/chr", "chr",
                       "mknod", "/dir/up/fifo2", "fifo", "mknod", "/abs_dir_out/fifo3", "fifo",
                       "mknod", "../../outside/fifo4", "fifo", "read", "/blk"))
    assert r["mknod /fifo fifo"] == "ok" and r["fiforw /fifo"] == "ok through"
    assert r["mknod /chr chr"] == r["mknod /blk blk"] == r["mknod /abs_dir_out/chr chr"] == "EPERM"
    for k in ("mknod /dir/up/fifo2 fifo", "mknod /abs_dir_out/fifo3 fifo", "mknod ../../outside/fifo4 fifo",
              "read /blk"):
        assert r[k] == "ENOENT", k
    assert os.path.exists(root / "fifo") and not os.path.exists(root / "chr")
    assert host_state(tmp_path) == before
