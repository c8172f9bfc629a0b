"""A pipe's capacity: F_GETPIPE_SZ, F_SETPIPE_SZ (rounded up to pages, EPERM
past pipe-max-size, EBUSY below what it holds, EBADF on a file), and a
non-blocking writer filling exactly that many bytes — the same natively and
under azemu (tests/test_host_programs.py)."""
import fcntl
import os

F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
r, w = os.pipe()
print("default", fcntl.fcntl(w, F_GETPIPE_SZ))
print("set 5000 gives", fcntl.fcntl(w, F_SETPIPE_SZ, 5000), "read end sees", fcntl.fcntl(r, F_GETPIPE_SZ))
os.set_blocking(w, False)
n = 0
try:
    while True:
        n += os.write(w, b"x" * 1000)
except BlockingIOError:
    print("filled", n, "then EAGAIN")
for what, size in (("1 GiB", 1 << 30), ("below its contents", 4096)):
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, size)
    except OSError as e:
        print(what, "errno", e.errno)
with open(__file__) as f:
    try:
        fcntl.fcntl(f.fileno(), F_GETPIPE_SZ)
    except OSError as e:
        print("not a pipe errno", e.errno)
