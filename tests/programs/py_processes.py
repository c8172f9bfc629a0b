"""Python's process APIs, run natively and under azemu (tests/test_host_programs.py):
subprocess.run and Popen with pipes, os.fork and waitpid statuses for exits and
signals, os.pipe between processes, multiprocessing with the fork start method."""
import multiprocessing as mp
import os
import signal
import subprocess
import sys


def square(x):
    return x * x


def main():
    r = subprocess.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
    print("run:", r.returncode, repr(r.stdout), repr(r.stderr))
    p = subprocess.Popen(["sort", "-r"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = p.communicate(b"a\nc\nb\n")
    print("popen:", p.returncode, out)
    a = subprocess.Popen(["seq", "1", "500"], stdout=subprocess.PIPE)
    b = subprocess.Popen(["tail", "-n", "2"], stdin=a.stdout, stdout=subprocess.PIPE)
    a.stdout.close()
    print("pipeline:", b.communicate()[0], a.wait(), b.wait())
    print("check_output:", subprocess.check_output("echo $((6 * 7))", shell=True))
    try:
        subprocess.run(["false"], check=True)
    except subprocess.CalledProcessError as e:
        print("check:", e.returncode)
    try:
        subprocess.run(["/nonexistent/program"])
    except FileNotFoundError as e:
        print("missing:", e.errno)

    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        os.write(wfd, b"from the child %d" % (os.getppid() == parent))
        os._exit(7)
    os.close(wfd)
    data = os.read(rfd, 100)
    _, status = os.waitpid(pid, 0)
    print("fork:", data, os.WIFEXITED(status), os.WEXITSTATUS(status))
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGTERM)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print("signalled:", os.WIFSIGNALED(status), os.WTERMSIG(status))
    pid = os.fork()
    if pid == 0:
        signal.pause()
    os.kill(pid, signal.SIGKILL)
    print("killed:", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        print("pool:", pool.map(square, range(10)))
    q = ctx.Queue()
    procs = [ctx.Process(target=q.put, args=(i,)) for i in range(3)]
    for pr in procs:
        pr.start()
    got = sorted(q.get() for _ in procs)
    for pr in procs:
        pr.join()
    print("process:", got, [pr.exitcode for pr in procs])
    sys.stdout.flush()


if __name__ == "__main__":
    parent = os.getpid()
    main()
