/* pidfds: process file descriptors and resource usage, each check one line.
 * pidfd_open, clone(CLONE_PIDFD) and clone3's pidfd; poll on a pidfd
 * (nothing while the process runs, POLLIN once it has ended, POLLHUP too once
 * reaped); pidfd_send_signal; waitid(P_PIDFD) and a non-blocking pidfd's
 * EAGAIN; pidfd_getfd; read on a pidfd; the errors Linux gives.  Then
 * rusage: a child that burns CPU, touches memory and blocks once shows it
 * in wait4's rusage, in waitid's, in getrusage(RUSAGE_CHILDREN) and times().
 * Figures are printed as comparisons, not values, so that they are the same
 * natively and under azemu. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

#include "errname.h"

static const char *err(long r)
{
    return r >= 0 ? "ok" : errno_name(errno);
}

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }

static int revents(int fd, int timeout)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, timeout);
    return n < 0 ? -1 : p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL);
}

static const char *events(int e)
{
    static char buf[64];
    if (e < 0) return "error";
    if (!e) return "none";
    snprintf(buf, sizeof buf, "%s%s%s%s", e & POLLIN ? "IN " : "", e & POLLHUP ? "HUP " : "",
             e & POLLERR ? "ERR " : "", e & POLLNVAL ? "NVAL " : "");
    buf[strlen(buf) - 1] = 0;
    return buf;
}

/* A child that waits on a pipe until the parent writes (or closes) it. */
static pid_t sleeper(int *release)
{
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        read(p[0], &c, 1);
        _exit(3);
    }
    close(p[0]);
    *release = p[1];
    return pid;
}

static void pidfd_checks(void)
{
    int release;
    pid_t pid = sleeper(&release);
    int fd = pidfd_open(pid, 0);
    printf("pidfd_open of a child: %s, close-on-exec %d\n", err(fd), fcntl(fd, F_GETFD) & FD_CLOEXEC);
    printf("poll while it runs: %s\n", events(revents(fd, 0)));
    char c;
    long r = read(fd, &c, 1);
    printf("read on a pidfd: %s\n", err(r));
    r = write(fd, "x", 1);
    printf("write on a pidfd: %s\n", err(r));
    int nb = pidfd_open(pid, O_NONBLOCK);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    r = waitid(P_PIDFD, nb, &si, WEXITED);
    printf("waitid on a non-blocking pidfd of a running child: %s\n", err(r));
    memset(&si, 0, sizeof si);
    r = waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG);
    printf("waitid WNOHANG on a running child: %s, pid %s\n", err(r), si.si_pid ? "set" : "0");
    r = syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0);
    printf("pidfd_send_signal SIGTERM: %s\n", err(r));
    printf("poll once it has ended: %s\n", events(revents(fd, 5000)));
    memset(&si, 0, sizeof si);
    r = waitid(P_PIDFD, fd, &si, WEXITED | WNOWAIT);
    printf("waitid WNOWAIT: %s, code %s, status %d, pid %s\n", err(r),
           si.si_code == CLD_KILLED ? "CLD_KILLED" : "other", si.si_status, si.si_pid == pid ? "right" : "wrong");
    printf("poll of the unreaped zombie: %s\n", events(revents(fd, 0)));
    r = syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0);
    printf("signal 0 to the zombie: %s\n", err(r));
    memset(&si, 0, sizeof si);
    r = waitid(P_PIDFD, fd, &si, WEXITED);
    printf("waitid reaps it: %s, status %d\n", err(r), si.si_status);
    printf("poll once reaped: %s\n", events(revents(fd, 0)));
    r = syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0);
    printf("pidfd_send_signal after the reap: %s\n", err(r));
    r = waitid(P_PIDFD, fd, &si, WEXITED);
    printf("waitid after the reap: %s\n", err(r));
    close(fd);
    close(nb);
    close(release);

    /* clone with CLONE_PIDFD: the fd is written where parent_tid points */
    int cfd = -1;
    long child = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &cfd, 0, 0);
    if (child == 0)
        _exit(7);
    printf("clone(CLONE_PIDFD): %s, pidfd %s, close-on-exec %d\n", err(child), cfd > 2 ? "set" : "unset",
           fcntl(cfd, F_GETFD) & FD_CLOEXEC);
    memset(&si, 0, sizeof si);
    r = waitid(P_PIDFD, cfd, &si, WEXITED);
    printf("waitid(P_PIDFD): %s, code %s, status %d, pid %s\n", err(r),
           si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_status, si.si_pid == child ? "right" : "wrong");
    close(cfd);
    int bad = -1;
    r = syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &bad, 0, 0);
    if (r == 0)
        _exit(0);
    printf("clone(CLONE_PIDFD | CLONE_PARENT_SETTID): %s\n", err(r));

    /* clone3 with its pidfd field */
    struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; } args;
    int c3fd = -1;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD;
    args.pidfd = (uintptr_t)&c3fd;
    args.exit_signal = SIGCHLD;
    child = syscall(SYS_clone3, &args, sizeof args);
    if (child == 0)
        _exit(9);
    printf("clone3 with a pidfd: %s, pidfd %s\n", err(child), c3fd > 2 ? "set" : "unset");
    int st;
    printf("poll before waiting: %s\n", events(revents(c3fd, 5000)));
    r = waitpid(child, &st, 0);
    printf("waitpid of it: %s, exited %d\n", err(r), WEXITSTATUS(st));
    close(c3fd);

    /* pidfd_getfd: a duplicate of the child's fd 42 */
    int p[2], q[2];
    pipe(p);
    pipe(q);
    pid_t holder = fork();
    if (holder == 0) {
        dup2(p[1], 42);
        close(p[0]);
        close(p[1]);
        close(q[1]);
        read(q[0], &c, 1);              /* until it is killed */
        _exit(0);
    }
    close(p[1]);
    close(q[0]);
    fd = pidfd_open(holder, 0);
    int got = -1;
    for (int i = 0; i < 500 && got < 0; i++) {      /* until the child has made fd 42 */
        got = syscall(SYS_pidfd_getfd, fd, 42, 0);
        if (got < 0) usleep(10000);
    }
    printf("pidfd_getfd of the child's fd 42: %s\n", got >= 0 ? "ok" : err(got));
    write(got, "via", 3);
    char buf[8] = {0};
    r = read(p[0], buf, sizeof buf - 1);
    printf("what the duplicate wrote reaches the pipe: %s\n", buf);
    r = syscall(SYS_pidfd_getfd, fd, 43, 0);
    printf("pidfd_getfd of a closed fd: %s\n", err(r));
    r = syscall(SYS_pidfd_getfd, fd, 42, 1);
    printf("pidfd_getfd with flags: %s\n", err(r));
    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
    waitpid(holder, &st, 0);
    printf("holder: killed by signal %d\n", WTERMSIG(st));
    close(got);
    close(fd);
    close(p[0]);
    close(q[1]);

    r = pidfd_open(getpid(), 1);
    printf("pidfd_open with bad flags: %s\n", err(r));
    r = pidfd_open(0, 0);
    printf("pidfd_open of pid 0: %s\n", err(r));
    r = pidfd_open(0x3fffff00, 0);
    printf("pidfd_open of no such pid: %s\n", err(r));
    r = syscall(SYS_pidfd_send_signal, 0, SIGTERM, NULL, 0);
    printf("pidfd_send_signal on a non-pidfd: %s\n", err(r));
    r = waitid(P_PIDFD, 0, &si, WEXITED);
    printf("waitid(P_PIDFD) on a non-pidfd: %s\n", err(r));
    fd = pidfd_open(getpid(), 0);
    r = waitid(P_PIDFD, fd, &si, WEXITED | WNOHANG);
    printf("waitid(P_PIDFD) of oneself: %s\n", err(r));
    close(fd);
}

static double secs(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

static double cpu(struct rusage *ru) { return secs(ru->ru_utime) + secs(ru->ru_stime); }

/* Compute until this process has used `secs` of CPU time. */
static void burn_cpu(double secs)
{
    struct rusage ru;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += i;
        getrusage(RUSAGE_SELF, &ru);
    } while (cpu(&ru) < secs);
}

static void burn_child(int wait_fd)
{
    char c;
    read(wait_fd, &c, 1);                           /* one voluntary switch */
    size_t len = 4 << 20;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(m, len, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < len; i += 4096)
        m[i] = 1;
    burn_cpu(0.05);
    _exit(0);
}

static void rusage_checks(void)
{
    struct rusage before, ru, kids;
    getrusage(RUSAGE_CHILDREN, &before);
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        burn_child(p[0]);
    }
    close(p[0]);
    usleep(20000);
    write(p[1], "go", 1);
    int st;
    memset(&ru, 0, sizeof ru);
    pid_t r = wait4(pid, &st, 0, &ru);
    printf("wait4 with rusage: %s\n", r == pid ? "ok" : "failed");
    printf("  child's CPU time at least the 50 ms it burned: %s\n", cpu(&ru) >= 0.05 ? "yes" : "no");
    printf("  child's CPU time under 60 s: %s\n", cpu(&ru) < 60 ? "yes" : "no");
    printf("  minor faults for 1024 pages touched: %s\n", ru.ru_minflt >= 1024 ? "at least 1024" : "fewer");
    printf("  max RSS of 4 MiB touched: %s\n", ru.ru_maxrss >= 4096 ? "at least 4 MiB" : "less");
    printf("  voluntary switches: %s\n", ru.ru_nvcsw >= 1 ? "at least 1" : "none");
    getrusage(RUSAGE_CHILDREN, &kids);
    printf("RUSAGE_CHILDREN grew by the child's CPU time: %s\n",
           cpu(&kids) - cpu(&before) >= 0.05 ? "yes" : "no");
    printf("RUSAGE_CHILDREN max RSS: %s\n", kids.ru_maxrss >= 4096 ? "at least 4 MiB" : "less");
    struct tms t;
    times(&t);
    printf("times(): children's ticks: %s\n", t.tms_cutime + t.tms_cstime >= 4 ? "at least 4" : "fewer");

    /* waitid's rusage (the raw syscall has a fifth argument) */
    pid = fork();
    if (pid == 0) {
        burn_cpu(0.03);
        _exit(0);
    }
    siginfo_t si;
    memset(&ru, 0, sizeof ru);
    long w = syscall(SYS_waitid, P_PID, pid, &si, WEXITED, &ru);
    printf("waitid with rusage: %s, CPU time at least 30 ms: %s\n", err(w), cpu(&ru) >= 0.03 ? "yes" : "no");
    /* a child reaped for us (SIGCHLD ignored) does not count */
    getrusage(RUSAGE_CHILDREN, &before);
    signal(SIGCHLD, SIG_IGN);
    pid = fork();
    if (pid == 0) {
        burn_cpu(0.03);
        _exit(0);
    }
    r = waitpid(pid, &st, 0);
    printf("waitpid with SIGCHLD ignored: %s\n", r < 0 ? errno_name(errno) : "a pid");
    signal(SIGCHLD, SIG_DFL);
    getrusage(RUSAGE_CHILDREN, &kids);
    printf("RUSAGE_CHILDREN unchanged by a child reaped for us: %s\n",
           cpu(&kids) - cpu(&before) < 0.03 ? "yes" : "no");
    struct rusage self;
    r = getrusage(7, &self);
    printf("getrusage(7): %s\n", r < 0 ? errno_name(errno) : "ok");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pidfd_checks();
    rusage_checks();
    printf("done\n");
    return 0;
}
