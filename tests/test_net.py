"""Network through the FWK: a guest server answers host clients, a guest
client reaches a host server, a guest HTTP server serves a file from --root
to curl.  Everything on 127.0.0.1, every wait bounded."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from conftest import ROOT, build_probe, guest

MODES = ("linux", "lwk", "unikernel")


def _start(args, extra=()):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "azemu", "exec", *extra, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = p.stdout.readline().decode()
    assert line.startswith("listening on "), (line, p.stderr.read() if p.poll() is not None else b"")
    return p, int(line.split()[-1])


def _finish(p):
    try:
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    return out, err, p.returncode


@pytest.mark.parametrize("mode", MODES)
def test_guest_echo_server_answers_a_host_client(mode):
    p, port = _start([guest("glibc", "echo_server"), "0", "2"], ["--mode", mode])
    payloads = [b"hello from the host\n", bytes(range(256)) * 400]
    for data in payloads:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        assert got == data
    out, err, rc = _finish(p)
    assert rc == 0, err
    assert b"peer is loopback: yes" in out and b"client 2: 102400 bytes echoed" in out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_guest_client_reaches_a_host_server(mode, libc):
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(20)
    port = srv.getsockname()[1]

    def echo_once():
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(20)
            while chunk := conn.recv(65536):
                conn.sendall(chunk)

    t = threading.Thread(target=echo_once)
    t.start()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "azemu", "exec", "--mode", mode,
                          guest(libc, "echo_client"), str(port), "from", "azemu"],
                         capture_output=True, env=env, timeout=60)
    t.join(timeout=30)
    srv.close()
    assert out.returncode == 0, out.stderr
    assert b"match: yes" in out.stdout and b"echoed: from azemu" in out.stdout


@pytest.mark.parametrize("mode", MODES)
def test_guest_http_server_serves_a_file_from_root_to_curl(mode, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    body = os.urandom(300_000)
    (www / "data.bin").write_bytes(body)
    (tmp_path / "secret.txt").write_text("outside the root\n")
    p, port = _start([guest("musl", "http_server"), "0", "/", "3"], ["--mode", mode, "--root", str(www)])
    url = f"http://127.0.0.1:{port}"
    if shutil.which("curl"):
        get = lambda path: subprocess.run(["curl", "-s", "--path-as-is", "-o", "-", "-w", "%{http_code}",  # noqa: E731
                                           url + path], capture_output=True, timeout=30).stdout
        got = get("/data.bin")
        assert got[:-3] == body and got[-3:] == b"200"
        assert get("/secret.txt")[-3:] == b"404"            # not in the root
        assert get("/../secret.txt")[-3:] == b"403"
    else:                                                    # same requests without curl
        import urllib.error
        import urllib.request
        assert urllib.request.urlopen(url + "/data.bin", timeout=30).read() == body
        for path, code in (("/secret.txt", 404), ("/x/../../secret.txt", 403)):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(url + path, timeout=30)
            assert e.value.code == code
    out, err, rc = _finish(p)
    assert rc == 0, err
    assert b"served /data.bin: 200 300000 bytes" in out


def test_guest_server_and_guest_client_on_two_kernels():
    p, port = _start([guest("libos/musl", "echo_server"), "0"], ["--mode", "unikernel"])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    c = subprocess.run([sys.executable, "-m", "azemu", "exec", "--mode", "lwk",
                        guest("glibc", "echo_client"), str(port)], capture_output=True, env=env, timeout=60)
    out, err, rc = _finish(p)
    assert c.returncode == 0 and b"match: yes" in c.stdout, c.stderr
    assert rc == 0 and b"client 1:" in out


_IFACES = r'''
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    int got = ioctl(s, SIOCGIFINDEX, &r);
    printf("SIOCGIFINDEX lo: %s, index %d\n", got ? strerror(errno) : "ok", r.ifr_ifindex);
    printf("if_indextoname: %s\n", if_indextoname(r.ifr_ifindex, r.ifr_name) ? r.ifr_name : "none");
    got = ioctl(s, SIOCGIFFLAGS, &r);
    short flags = r.ifr_flags;
    printf("SIOCGIFFLAGS: %s, up: %s\n", got ? strerror(errno) : "ok", flags & IFF_UP ? "yes" : "no");
    r.ifr_flags = flags & ~IFF_UP;
    got = ioctl(s, SIOCSIFFLAGS, &r);
    printf("SIOCSIFFLAGS (down): %s\n", got ? strerror(errno) : "done");
    r.ifr_mtu = 1280;
    got = ioctl(s, SIOCSIFMTU, &r);
    printf("SIOCSIFMTU: %s\n", got ? strerror(errno) : "done");
    return 0;
}
'''


@pytest.mark.parametrize("mode", ("linux", "lwk"))
def test_interface_queries_pass_and_changes_are_refused(mode, tmp_path):
    """Socket ioctls that read an interface (SIOCGIFINDEX, SIOCGIFFLAGS, what
    if_nametoindex and if_indextoname use) reach the host's network stack,
    which the guest's sockets use anyway. Attack: those that change an
    interface (SIOCSIFFLAGS, SIOCSIFMTU) are EPERM, even when azemu's host
    process could make them (root): the guest has no CAP_NET_ADMIN."""
    exe = build_probe(tmp_path, "ifaces", _IFACES)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "azemu", "exec", "-q", "--mode", mode, exe],
                       capture_output=True, env=env, timeout=120)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    assert "SIOCGIFINDEX lo: ok" in out and "if_indextoname: lo" in out and "up: yes" in out, out
    assert "SIOCSIFFLAGS (down): Operation not permitted" in out, out
    assert "SIOCSIFMTU: Operation not permitted" in out, out
    assert socket.if_nametoindex("lo")                      # the host's lo is still there


def test_a_guest_gets_no_vsock_to_the_hypervisor(tmp_path):
    """Attack: AF_VSOCK connects to the hypervisor of the machine azemu runs
    on (on these VMs its control ports listen there), past the host network
    stack a guest is given: socket(AF_VSOCK) and socketpair(AF_VSOCK) are
    EAFNOSUPPORT, refused by the FWK itself."""
    exe = build_probe(tmp_path, "vs", '#include <errno.h>\n#include <stdio.h>\n#include <string.h>\n'
                      '#include <sys/socket.h>\n'
                      'int main(void){int s=socket(40,SOCK_STREAM,0);int e1=errno;int sv[2];'
                      'int r=socketpair(40,SOCK_STREAM,0,sv);int e2=errno;'
                      'printf("%d %s %d %s\\n",s,strerror(e1),r,strerror(e2));return 0;}\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for mode in ("linux", "lwk", "unikernel"):
        p = subprocess.run([sys.executable, "-m", "azemu", "exec", "-q", "--mode", mode, exe],
                           capture_output=True, env=env, timeout=120)
        assert p.stdout == (b"-1 Address family not supported by protocol "
                            b"-1 Address family not supported by protocol\n"), (mode, p)


@pytest.mark.parametrize("variant", ("linux", "lwk", "unikernel-binary", "unikernel-source"))
@pytest.mark.parametrize("libc", ("glibc", "musl"))
def test_accept_holds_its_fd_number_while_it_waits(libc, variant):
    """accept takes its number before it waits: another thread's open gets
    the next one, a dup2 onto it is EBUSY, the accept returns it — and an
    accept a signal ends (EINTR) gives it back."""
    from conftest import assert_same, run_azemu, run_native
    exe = guest(libc, "accept_fd")
    image = guest(f"libos/{libc}", "accept_fd") if variant == "unikernel-source" else exe
    native = run_native([exe])
    assert b"open while accept waits: lowest+1\n" in native[0] and b"EBUSY" in native[0], native
    assert_same(native, run_azemu([image], extra=["--mode", variant.split("-")[0]]))
