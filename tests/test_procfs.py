"""The guest's /proc is its own (kernels/procfs.py), and the host's /proc —
azemu's memory, descriptors and every host process — is out of reach
(kernels/fwk/sandbox.py: guard_proc).  Attacks, one a test, in busybox sh."""
from __future__ import annotations

import os

import pytest

from conftest import run_azemu, run_native


def _sh(busybox, script, *, mode="linux", stdin=None):
    return run_azemu([busybox, "sh", "-c", script], extra=["--mode", mode], stdin=stdin)


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


def test_proc_self_mem_cannot_be_opened(busybox):
    """The host's /proc/self/mem is azemu's memory: writing it would run
    anything on the host.  The guest's is not modelled: ENOENT."""
    out, err, rc = _sh(busybox, "echo x > /proc/self/mem; cat /proc/self/mem; cat /proc/thread-self/mem")
    assert rc != 0 and out == b"", (out, err)
    assert err.count(b"No such file or directory") >= 2


def test_a_symlink_to_the_hosts_proc_is_refused(busybox, tmp_path):
    """However the path gets there (a symlink made by the guest, /proc/<pid>
    of azemu's host parent), a host process's /proc entry does not open."""
    link = tmp_path / "link"
    out, err, rc = _sh(busybox, f"ln -s /proc/self/mem {link}; cat {link};"
                       f" ln -sf /proc/self/fd {tmp_path}/fds; ls {tmp_path}/fds/;"
                       f" cat /proc/{os.getpid()}/environ; cat /proc/1/maps")
    assert b"Permission denied" in err and out == b"", (out, err)
    assert b"PATH=" not in out


def test_procfs_cannot_be_written(busybox):
    """/proc/sys and friends change the host kernel: never opened for writing."""
    out, err, rc = _sh(busybox, "echo 1 > /proc/sys/vm/drop_caches; echo status $?")
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


def test_host_proc_files_about_no_process_still_read(busybox):
    """/proc/cpuinfo, /proc/meminfo, /proc/mounts (a link into self/) read as on the host."""
    out, err, rc = _sh(busybox, "head -1 /proc/cpuinfo; head -1 /proc/meminfo; head -1 /proc/mounts")
    assert rc == 0 and out.count(b"\n") == 3 and b"MemTotal" in out, (out, err)
