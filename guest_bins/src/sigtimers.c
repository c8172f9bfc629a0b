/* sigtimers: signals and timers, each check one line.  alarm and interval
 * timers (REAL, VIRTUAL, PROF) interrupting code that makes no syscall;
 * POSIX timers (SIGEV_SIGNAL with a value, SIGEV_THREAD_ID, SIGEV_NONE,
 * overruns, absolute times); sigtimedwait and sigwaitinfo; sigqueue and its
 * value; what siginfo says of the sender (kill, SIGCHLD); signalfd read and
 * poll; a thread-directed signal to a thread waiting on a futex; a read
 * restarted after its handler with SA_RESTART, ended with EINTR without it,
 * and poll ended with EINTR either way.  Times are
 * printed as comparisons, not values. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static volatile sig_atomic_t hits[65];
static volatile int last_code, last_value, last_overrun;
static volatile pid_t last_pid;

static void on_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    hits[sig]++;
    last_code = si->si_code;
    last_value = si->si_value.sival_int;
    last_pid = si->si_pid;
    if (si->si_code == SI_TIMER)
        last_overrun = si->si_overrun;
}

static void handle(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(sig, &sa, NULL);
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Compute without a syscall until `flag` is set (or give up after ~10 s of
 * work, checked by counting). */
static int spin_until(volatile sig_atomic_t *flag)
{
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 4000000000UL && !*flag; i++)
        x += i;
    return *flag != 0;
}

static void itimers(void)
{
    handle(SIGALRM);
    alarm(1);
    printf("alarm remaining after set: %u\n", alarm(1));
    printf("SIGALRM reached code that makes no syscall: %s\n", spin_until(&hits[SIGALRM]) ? "yes" : "no");
    printf("alarm(0) after it ran: %u\n", alarm(0));
    struct itimerval it = {{0, 20000}, {0, 20000}}, cur;
    hits[SIGALRM] = 0;
    printf("setitimer REAL 20 ms periodic: %s\n", setitimer(ITIMER_REAL, &it, NULL) ? errno_name(errno) : "ok");
    getitimer(ITIMER_REAL, &cur);
    printf("getitimer interval: %ld us, value within it: %s\n", (long)cur.it_interval.tv_usec,
           cur.it_value.tv_usec <= 20000 ? "yes" : "no");
    while (hits[SIGALRM] < 3)
        pause();
    printf("three periodic SIGALRMs: yes\n");
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, &cur);
    printf("disarmed; the old interval was %ld us\n", (long)cur.it_interval.tv_usec);
    it.it_value.tv_usec = 1000000;
    printf("setitimer bad usec: %s\n", setitimer(ITIMER_REAL, &it, NULL) ? errno_name(errno) : "ok");
    printf("setitimer bad which: %s\n", setitimer(7, &it, NULL) ? errno_name(errno) : "ok");

    handle(SIGVTALRM);
    struct itimerval v = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_VIRTUAL, &v, NULL);
    double t0 = cpu_now();
    printf("SIGVTALRM after 30 ms of CPU: %s", spin_until(&hits[SIGVTALRM]) ? "yes" : "no");
    printf(", not before: %s\n", cpu_now() - t0 >= 0.029 ? "yes" : "no");
    handle(SIGPROF);
    setitimer(ITIMER_PROF, &v, NULL);
    printf("SIGPROF: %s\n", spin_until(&hits[SIGPROF]) ? "yes" : "no");
}

static volatile sig_atomic_t thread_hit;
static pid_t main_tid;

static void posix_timers(void)
{
    handle(SIGRTMIN + 1);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN + 1;
    ev.sigev_value.sival_int = 4242;
    timer_t t;
    printf("timer_create: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &t) ? errno_name(errno) : "ok");
    struct itimerspec its = {{0, 0}, {0, 10000000}};
    timer_settime(t, 0, &its, NULL);
    spin_until(&hits[SIGRTMIN + 1]);
    printf("timer signal: code %s, value %d\n", last_code == SI_TIMER ? "SI_TIMER" : "other", last_value);
    struct itimerspec cur;
    timer_gettime(t, &cur);
    printf("one-shot timer after it ran: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    /* overruns: block the signal while the timer runs out several times */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &block, &old);
    hits[SIGRTMIN + 1] = 0;
    struct itimerspec fast = {{0, 5000000}, {0, 5000000}};
    timer_settime(t, 0, &fast, NULL);
    struct timespec nap = {0, 60000000};
    nanosleep(&nap, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("one signal for many expiries: %s, overrun counted: %s, timer_getoverrun: %s\n",
           hits[SIGRTMIN + 1] == 1 ? "yes" : "no", last_overrun >= 3 ? "yes" : "no",
           timer_getoverrun(t) >= 3 ? "at least 3" : "fewer");
    memset(&fast, 0, sizeof fast);
    timer_settime(t, 0, &fast, NULL);
    /* an absolute time on CLOCK_REALTIME */
    hits[SIGRTMIN + 1] = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 20000000;
    if (now.tv_nsec >= 1000000000) { now.tv_sec++; now.tv_nsec -= 1000000000; }
    timer_t rt;
    timer_create(CLOCK_REALTIME, &ev, &rt);
    struct itimerspec abs = {{0, 0}, now};
    timer_settime(rt, TIMER_ABSTIME, &abs, NULL);
    while (!hits[SIGRTMIN + 1])
        pause();
    printf("TIMER_ABSTIME on CLOCK_REALTIME: ran out\n");
    timer_delete(rt);
    int del = timer_delete(t);
    int after = timer_gettime(t, &cur);
    printf("timer_delete: %s, then timer_gettime: %s\n", del ? errno_name(errno) : "ok",
           after ? "EINVAL" : "ok");
    ev.sigev_notify = SIGEV_NONE;
    timer_t quiet;
    timer_create(CLOCK_MONOTONIC, &ev, &quiet);
    its.it_value.tv_nsec = 1000000;
    timer_settime(quiet, 0, &its, NULL);
    nanosleep(&nap, NULL);
    timer_gettime(quiet, &cur);
    printf("SIGEV_NONE: ran out silently: %s\n", cur.it_value.tv_nsec == 0 && cur.it_value.tv_sec == 0 ? "yes" : "no");
    timer_delete(quiet);
    ev.sigev_notify = 77;
    printf("timer_create bad notify: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &quiet) ? errno_name(errno) : "ok");
    printf("timer_create bad clock: %s\n", timer_create(42, NULL, &quiet) ? errno_name(errno) : "ok");
}

static void waiting(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct timespec ts = {0, 30000000};
    siginfo_t si;
    printf("sigtimedwait with nothing pending: %s\n",
           sigtimedwait(&set, &si, &ts) < 0 ? errno_name(errno) : "a signal");
    kill(getpid(), SIGUSR1);
    int s = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait: %s, code %s, pid %s\n", s == SIGUSR1 ? "SIGUSR1" : "other",
           si.si_code == SI_USER ? "SI_USER" : "other", si.si_pid == getpid() ? "ours" : "another");
    union sigval v = {.sival_int = 77};
    sigqueue(getpid(), SIGRTMIN + 2, v);
    sigqueue(getpid(), SIGRTMIN + 2, (union sigval){.sival_int = 78});
    s = sigwaitinfo(&set, &si);
    int first = si.si_value.sival_int;
    sigwaitinfo(&set, &si);
    printf("two queued real-time signals, values %d %d, code %s\n", first, si.si_value.sival_int,
           si.si_code == SI_QUEUE ? "SI_QUEUE" : "other");
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigwaitinfo(&set, &si);
    printf("a second SIGUSR1 merged into the first: %s\n",
           sigtimedwait(&set, &si, &(struct timespec){0, 0}) < 0 ? "yes" : "no");
    pid_t c = fork();
    if (c == 0) {
        union sigval cv = {.sival_int = 99};
        sigqueue(getppid(), SIGRTMIN + 2, cv);
        _exit(5);
    }
    sigwaitinfo(&set, &si);
    printf("from a child: value %d, pid is the child's: %s\n", si.si_value.sival_int,
           si.si_pid == c ? "yes" : "no");
    waitpid(c, NULL, 0);
    siginfo_t fake;
    memset(&fake, 0, sizeof fake);
    fake.si_code = SI_USER;
    printf("rt_sigqueueinfo faking kill to another: %s\n",
           syscall(SYS_rt_sigqueueinfo, getppid(), SIGUSR2, &fake) < 0 ? errno_name(errno) : "sent");

    /* SIGCHLD says which child and how */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    c = fork();
    if (c == 0)
        _exit(7);
    sigwaitinfo(&chld, &si);
    printf("SIGCHLD: code %s, status %d, pid right: %s\n", si.si_code == CLD_EXITED ? "CLD_EXITED" : "other",
           si.si_status, si.si_pid == c ? "yes" : "no");
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    kill(c, SIGTERM);
    sigwaitinfo(&chld, &si);
    printf("SIGCHLD: code %s, status %d\n", si.si_code == CLD_KILLED ? "CLD_KILLED" : "other", si.si_status);
    waitpid(c, NULL, 0);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);

    /* signalfd */
    sigset_t fdset;
    sigemptyset(&fdset);
    sigaddset(&fdset, SIGUSR2);
    sigprocmask(SIG_BLOCK, &fdset, NULL);
    int sfd = signalfd(-1, &fdset, SFD_NONBLOCK | SFD_CLOEXEC);
    struct pollfd pf = {sfd, POLLIN, 0};
    printf("signalfd poll with nothing pending: %d\n", poll(&pf, 1, 0));
    struct signalfd_siginfo ssi;
    printf("signalfd read with nothing: %s\n", read(sfd, &ssi, sizeof ssi) < 0 ? errno_name(errno) : "data");
    sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 5});
    printf("signalfd poll once one is pending: %d\n", poll(&pf, 1, 1000));
    ssize_t n = read(sfd, &ssi, sizeof ssi);
    printf("signalfd read: %zd bytes, signo %s, int %d\n", n, ssi.ssi_signo == SIGUSR2 ? "SIGUSR2" : "other",
           ssi.ssi_int);
    printf("signalfd poll after the read: %d\n", poll(&pf, 1, 0));
    printf("signalfd read too small: %s\n", read(sfd, &ssi, 8) < 0 ? errno_name(errno) : "data");
    close(sfd);
}

static volatile uint32_t futex_word;
static volatile int woke_by_signal;

static void on_thread_signal(int sig)
{
    (void)sig;
    thread_hit = 1;
}

static void *waiter(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_thread_signal;
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t u;
    sigemptyset(&u);
    sigaddset(&u, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &u, NULL);
    /* a raw futex wait, which a handled signal ends with EINTR */
    long r = syscall(SYS_futex, &futex_word, 0 /* FUTEX_WAIT */, 0, NULL, NULL, 0);
    woke_by_signal = r < 0 && errno == EINTR && thread_hit;
    return NULL;
}

static void *spinner(void *arg)
{
    (void)arg;
    sigset_t u;
    sigemptyset(&u);
    sigaddset(&u, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &u, NULL);      /* main blocks it (for its signalfd) */
    volatile unsigned long x = 0;
    while (!thread_hit)
        x++;
    return NULL;
}

static void threads(void)
{
    pthread_t w;
    thread_hit = 0;
    pthread_create(&w, NULL, waiter, NULL);
    struct timespec nap = {0, 50000000};
    nanosleep(&nap, NULL);
    pthread_kill(w, SIGUSR2);
    pthread_join(w, NULL);
    printf("pthread_kill reached a thread waiting on a futex: %s\n", woke_by_signal ? "EINTR after its handler" : "no");
    thread_hit = 0;
    pthread_create(&w, NULL, spinner, NULL);
    nanosleep(&nap, NULL);
    pthread_kill(w, SIGUSR2);
    pthread_join(w, NULL);
    printf("pthread_kill reached a thread computing: yes\n");
    (void)main_tid;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void after(double s, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = flags;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, (long)(s * 1e6)}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void restarts(void)
{
    int fds[2];
    pipe(fds);
    pid_t c = fork();
    if (c == 0) {
        usleep(600000);
        write(fds[1], "x", 1);
        usleep(900000);
        write(fds[1], "y", 1);
        _exit(0);
    }
    close(fds[1]);
    char b;
    alarms = 0;
    after(0.1, SA_RESTART);
    ssize_t n = read(fds[0], &b, 1);
    printf("read with SA_RESTART: handler %s, read %s\n", alarms ? "ran" : "did not run",
           n == 1 ? "restarted, got its byte" : errno_name(errno));
    alarms = 0;
    after(0.1, 0);
    n = read(fds[0], &b, 1);
    printf("read without SA_RESTART: handler %s, read %s\n", alarms ? "ran" : "did not run",
           n < 0 ? errno_name(errno) : "completed");
    after(0.1, SA_RESTART);
    struct pollfd pf = {fds[0], POLLIN, 0};
    int r = poll(&pf, 1, 5000);
    printf("poll with SA_RESTART: %s\n", r < 0 ? errno_name(errno) : "returned");
    n = read(fds[0], &b, 1);
    printf("then the byte: %s\n", n == 1 && b == 'y' ? "y" : "missing");
    waitpid(c, NULL, 0);
    signal(SIGALRM, SIG_DFL);
}

/* ---- waits that take a signal mask: ppoll, pselect6, epoll_pwait(2) -------- */
static volatile sig_atomic_t usr1_runs;
static void on_usr1(int sig) { (void)sig; usr1_runs++; }

static void masked_waits(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, open_mask, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigprocmask(SIG_BLOCK, NULL, &open_mask);
    sigdelset(&open_mask, SIGUSR1);
    int p[2];
    if (pipe(p)) return;
    struct pollfd pfd = {p[0], POLLIN, 0};
    struct timespec ts = {2, 0};
    int epfd = (int)syscall(SYS_epoll_create1, 0);
    uint64_t ev[2] = {1, 0};                      /* struct epoll_event {EPOLLIN, data} (packed) */
    syscall(SYS_epoll_ctl, epfd, 1 /* EPOLL_CTL_ADD */, p[0], ev);
    unsigned char out[12 * 4];
    const char *names[] = {"ppoll", "pselect6", "epoll_pwait", "epoll_pwait2"};
    for (int i = 0; i < 4; i++) {
        usr1_runs = 0;
        raise(SIGUSR1);                          /* pending, blocked */
        long r;
        if (i == 0) {
            r = syscall(SYS_ppoll, &pfd, 1, &ts, &open_mask, 8);
        } else if (i == 1) {
            uint64_t rset[16] = {0};
            rset[0] = 1ULL << p[0];
            struct { const sigset_t *ss; size_t len; } sig = {&open_mask, 8};
            r = syscall(SYS_pselect6, p[0] + 1, rset, NULL, NULL, &ts, &sig);
        } else if (i == 2) {
            r = syscall(SYS_epoll_pwait, epfd, out, 4, 2000, &open_mask, 8);
        } else {
            r = syscall(441 /* epoll_pwait2 */, epfd, out, 4, &ts, &open_mask, 8);
        }
        int e = errno;
        sigprocmask(SIG_BLOCK, NULL, &now);
        printf("%s with a mask letting a pending signal in: %s, handler ran %d, blocked again: %s\n",
               names[i], r < 0 ? errno_name(e) : "returned", (int)usr1_runs,
               sigismember(&now, SIGUSR1) ? "yes" : "no");
    }
    struct timespec short_ts = {0, 50 * 1000000L}, t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long r = syscall(441, epfd, out, 4, &short_ts, NULL, 8);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("epoll_pwait2 50 ms on nothing: %ld, waited at least 50 ms: %s\n", r, ms >= 49.5 ? "yes" : "no");
    if (write(p[1], "x", 1) != 1) return;
    r = syscall(441, epfd, out, 4, NULL, NULL, 8);
    printf("epoll_pwait2 with no timeout, a byte ready: %ld\n", r);
    struct timespec bad = {0, 1000000000L};
    printf("epoll_pwait2 bad timespec: %s\n", syscall(441, epfd, out, 4, &bad, NULL, 8) < 0 ? errno_name(errno) : "ok");
    close(epfd);
    close(p[0]);
    close(p[1]);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    signal(SIGUSR1, SIG_DFL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    itimers();
    posix_timers();
    waiting();
    threads();
    restarts();
    masked_waits();
    printf("done\n");
    return 0;
}
