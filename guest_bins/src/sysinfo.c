/* sysinfo: informational syscalls; prints only deterministic results. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *yesno(int b) { return b ? "yes" : "no"; }

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOTTY: return "ENOTTY";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    default: return "other";
    }
}

static void handler(int sig) { (void)sig; }

static char altstack_mem[65536];

int main(void)
{
    int r;

    struct utsname u;
    r = uname(&u);
    printf("uname: %d sysname=%s machine=%s\n", r, u.sysname, u.machine);

    printf("uid==euid: %s\n", yesno(getuid() == geteuid()));
    printf("gid==egid: %s\n", yesno(getgid() == getegid()));
    printf("getppid()>0: %s\n", yesno(getppid() > 0));
    printf("gettid()==getpid(): %s\n", yesno(syscall(SYS_gettid) == (long)getpid()));
    printf("getpid()>0: %s\n", yesno(getpid() > 0));

    mode_t old = umask(027);
    mode_t now = umask(old);
    mode_t restored = umask(old);
    printf("umask: old=%03o new=%03o restored=%s\n", (unsigned)old, (unsigned)now,
           yesno(restored == old));

    struct rlimit rl;
    r = getrlimit(RLIMIT_STACK, &rl);
    printf("getrlimit(RLIMIT_STACK): %d, cur>0: %s\n", r, yesno(rl.rlim_cur > 0));
    struct rlimit oldlim;
    r = prlimit(0, RLIMIT_NOFILE, NULL, &oldlim);
    printf("prlimit(0, RLIMIT_NOFILE): %d, cur<=max: %s\n", r,
           yesno(oldlim.rlim_cur <= oldlim.rlim_max));

    struct sysinfo si;
    r = sysinfo(&si);
    printf("sysinfo: %d, totalram>0: %s\n", r, yesno(si.totalram > 0));

    unsigned char rnd[16];
    ssize_t got = getrandom(rnd, sizeof rnd, 0);
    printf("getrandom: %zd bytes\n", got);

    struct tms tm;
    clock_t c = times(&tm);
    printf("times: %s\n", c != (clock_t)-1 ? "ok" : "failed");

    struct rusage ru;
    r = getrusage(RUSAGE_SELF, &ru);
    printf("getrusage(RUSAGE_SELF): %d\n", r);

    cpu_set_t set;
    CPU_ZERO(&set);
    r = sched_getaffinity(0, sizeof set, &set);
    printf("sched_getaffinity: %d, at least one cpu: %s\n", r, yesno(CPU_COUNT(&set) >= 1));
    printf("sched_yield: %d\n", sched_yield());

    printf("isatty(0)=%d isatty(1)=%d isatty(2)=%d\n", isatty(0), isatty(1), isatty(2));

    struct winsize ws;
    errno = 0;
    r = ioctl(1, TIOCGWINSZ, &ws);
    printf("ioctl(1, TIOCGWINSZ): %d errno=%s\n", r, r < 0 ? errno_name(errno) : "0");

    struct sigaction sa, osa, chk;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sa.sa_flags = SA_RESTART;
    r = sigaction(SIGUSR1, &sa, &osa);
    printf("sigaction install SIGUSR1: %d, previous was SIG_DFL: %s\n", r,
           yesno(osa.sa_handler == SIG_DFL));
    r = sigaction(SIGUSR1, NULL, &chk);
    printf("sigaction query: %d, handler installed: %s, mask has SIGUSR2: %s\n", r,
           yesno(chk.sa_handler == handler), yesno(sigismember(&chk.sa_mask, SIGUSR2) == 1));
    r = sigaction(SIGUSR1, &osa, NULL);
    sigaction(SIGUSR1, NULL, &chk);
    printf("sigaction restore: %d, back to SIG_DFL: %s\n", r, yesno(chk.sa_handler == SIG_DFL));

    sigset_t blk, oldmask, cur;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    r = sigprocmask(SIG_BLOCK, &blk, &oldmask);
    printf("sigprocmask SIG_BLOCK SIGUSR1: %d, was blocked before: %s\n", r,
           yesno(sigismember(&oldmask, SIGUSR1) == 1));
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("SIGUSR1 now blocked: %s\n", yesno(sigismember(&cur, SIGUSR1) == 1));
    r = sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("sigprocmask restore: %d, SIGUSR1 blocked: %s\n", r,
           yesno(sigismember(&cur, SIGUSR1) == 1));

    stack_t ss, oss;
    ss.ss_sp = altstack_mem;
    ss.ss_size = sizeof altstack_mem;
    ss.ss_flags = 0;
    r = sigaltstack(&ss, &oss);
    printf("sigaltstack set: %d, previous disabled: %s\n", r, yesno(oss.ss_flags & SS_DISABLE));
    r = sigaltstack(NULL, &oss);
    printf("sigaltstack query: %d, size matches: %s, enabled: %s\n", r,
           yesno(oss.ss_size == sizeof altstack_mem), yesno(!(oss.ss_flags & SS_DISABLE)));
    ss.ss_flags = SS_DISABLE;
    r = sigaltstack(&ss, NULL);
    printf("sigaltstack disable: %d\n", r);

    printf("kill(getpid(), 0): %d\n", kill(getpid(), 0));
    return 0;
}
