"""Malformed packets against a real FWK proxy worker (issue #12 item 7).

A kernel builds every packet its proxy receives, but the proxy must not
trust them: a packet with a bad magic, an unknown function, pointers outside
the instance's memory, lengths past its end, handles of another process or
none, negative and huge numbers, gets an error — never a crash, never a
hang, never an internal error.  The fuzzing runs in a child process, so that
its FWK service (and the workers' stderr) is its own."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import ROOT

FUZZ = textwrap.dedent(r'''
    import os, random, sys, time
    from azemu.physmem import PhysicalMemory
    from kernels.abi.syscall_numbers import SYSCALL_NUMBERS as NR
    from kernels.fwk import channel as C
    from kernels.fwk.client import FWKClient
    from kernels.fwk.proxy import WAITING_CALLS

    seed, count, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(seed)
    phys = PhysicalMemory(16 << 20, "fuzz")
    null = os.open(os.devnull, os.O_RDWR)
    fwk = FWKClient(phys, 2, root=root, stdio=[null, null, null], timeout=5)
    size = phys.size
    # guest memory: zeros, some paths, some random bytes
    paths = b"a.txt\0../../etc/passwd\0/\0sub/b\0.\0..\0"
    phys.view[4096:4096 + len(paths)] = paths
    phys.view[1 << 20:(1 << 20) + 65536] = rnd.randbytes(65536)
    skip = set(WAITING_CALLS) | {NR[n] for n in ("mknodat", "mknod", "connect", "accept",
                                                "accept4", "sendfile", "splice", "tee")}
    skip.add(C.FWK_SHUTDOWN)
    functions = [n for n in sorted(set(NR.values())) if n not in skip]
    functions += [f for f in range(C.FWK_SHUTDOWN + 1, C.FWK_SHUTDOWN + 20) if f not in skip]
    functions += [-1, 999, 5000, 2**31 - 1]
    assert fwk.call(0, 0, C.FWK_HELLO, (100, 1000)) == 0
    handles = [0, 1, 2, 3, -1, 1 << 31]
    def value():
        k = rnd.randrange(12)
        return [0, 1, 2**64 - 1, 2**63, size - 1, size, size + 4096, 4096,
                rnd.randrange(size), rnd.getrandbits(64), rnd.randrange(16),
                rnd.choice(handles)][k]
    results = {"ok": 0, "error": 0}
    t = time.monotonic()
    for i in range(count):
        f = rnd.choice(functions)
        tid = rnd.choice([100, 100, 100, 7, 0])           # registered, unknown, none
        params = [value() for _ in range(6)]
        if rnd.random() < 0.05:                            # not a packet at all
            pair = fwk.pairs[0]
            fwk.seq[0] += 1
            pair.requests.push(rnd.randbytes(C.PACKET_SIZE))
            pair.replies.wait(fwk.waiters[0], fwk.alive)
            magic, _, _, _, _, ret = C.decode(pair.replies.pop())
            assert ret == -5, ret                          # EIO: not a packet
            continue
        ret = fwk.call(i % 2, tid, f & 0xFFFFFFFF, params)
        assert fwk.dead is None, f"the proxy was lost at packet {i}: function {f} {params}"
        if ret >= 0:
            results["ok"] += 1
            if ret & 0xFFFFFFFF < 1 << 20:
                handles.append(ret & 0xFFFFFFFF)
        else:
            results["error"] += 1
        if i % 200 == 0:
            assert fwk.call(0, 0, C.FWK_PING, ()) == 0     # still serving
    assert fwk.call(1, 0, C.FWK_PING, ()) == 0
    fwk.close()
    print(f"{count} packets: {results['ok']} answered, {results['error']} errors, "
          f"{time.monotonic() - t:.1f} s")
''')


def test_malformed_packets_get_errors_never_a_crash(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("hello\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", FUZZ, "12", "3000", str(root)],
                       capture_output=True, timeout=240, env=env, cwd=tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "internal error" not in err and "Traceback" not in err, err
    assert "3000 packets" in r.stdout.decode()
    assert outside.read_text() == "keep\n"                  # nothing outside the root changed
    assert sorted(os.listdir(tmp_path)) == ["outside.txt", "root"]
