/* mqueue: POSIX message queues, each check one line.  Creation and its
 * errors, attributes, priority order, message size checks, non-blocking
 * and timed calls, a receiver waiting for a child's send, select on a
 * queue descriptor, mq_notify's signal when a message reaches an empty
 * queue, mq_getsetattr, and unlink. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

static const char *res(long r) { return r < 0 ? errno_name(errno) : "ok"; }

static volatile sig_atomic_t notified, notified_code;

static void on_notify(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    notified++;
    notified_code = si->si_code;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char name[64];
    snprintf(name, sizeof name, "/azemu-mq-%d", (int)getpid());
    mq_unlink(name);
    printf("open missing: %s\n", res(mq_open(name, O_RDWR)));
    struct mq_attr attr, big, zero, nb, old;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = 4;
    attr.mq_msgsize = 64;
    big = zero = attr;
    big.mq_maxmsg = 100000;
    zero.mq_maxmsg = 0;
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    printf("create: %s\n", res(q));
    printf("create again with O_EXCL: %s\n", res(mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr)));
    char other[80];
    snprintf(other, sizeof other, "%s-x", name);
    printf("create with maxmsg 0: %s\n", res(mq_open(other, O_RDWR | O_CREAT, 0600, &zero)));
    printf("create with maxmsg 100000: %s\n", res(mq_open(other, O_RDWR | O_CREAT, 0600, &big)));
    struct mq_attr got;
    mq_getattr(q, &got);
    printf("attr: maxmsg %ld, msgsize %ld, curmsgs %ld\n", got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs);

    /* priorities: highest first, FIFO within one */
    mq_send(q, "low-1", 5, 1);
    mq_send(q, "high", 4, 9);
    mq_send(q, "low-2", 5, 1);
    mq_send(q, "mid", 3, 5);
    printf("send to a full queue, O_NONBLOCK: ");
    memset(&nb, 0, sizeof nb);
    nb.mq_flags = O_NONBLOCK;
    mq_setattr(q, &nb, &old);
    printf("%s\n", res(mq_send(q, "x", 1, 0)));
    char buf[128];
    unsigned prio;
    for (int i = 0; i < 4; i++) {
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("receive %d: %.*s (priority %u)\n", i, (int)n, buf, prio);
    }
    printf("receive from an empty queue, O_NONBLOCK: %s\n", res(mq_receive(q, buf, sizeof buf, NULL)));
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    printf("receive into a buffer under msgsize (EMSGSIZE 90): %s\n", res(mq_receive(q, buf, 16, NULL)));
    char large[100] = {0};
    printf("send over msgsize: %s\n", res(mq_send(q, large, 100, 0)));
    printf("send priority 40000: %s\n", res(mq_send(q, "p", 1, 40000)));

    struct timespec t0, limit, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    limit = t0;
    limit.tv_nsec += 100 * 1000000L;
    if (limit.tv_nsec >= 1000000000L) {
        limit.tv_sec++;
        limit.tv_nsec -= 1000000000L;
    }
    long r = mq_timedreceive(q, buf, sizeof buf, NULL, &limit);
    clock_gettime(CLOCK_REALTIME, &t1);
    double waited = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("timed receive, 100 ms: %s, waited at least 100 ms: %s\n", res(r), waited >= 99.5 ? "yes" : "no");
    struct timespec bad = {0, 2000000000L};
    printf("timed receive, bad timespec: %s\n", res(mq_timedreceive(q, buf, sizeof buf, NULL, &bad)));

    /* a receiver waits for a child's send; select sees the queue readable */
    pid_t kid = fork();
    if (kid == 0) {
        usleep(50000);
        mqd_t c = mq_open(name, O_WRONLY);
        mq_send(c, "from the child", 14, 3);
        _exit(0);
    }
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("blocking receive: %.*s (priority %u)\n", (int)n, buf, prio);
    waitpid(kid, NULL, 0);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(q, &rs);
    struct timeval tv = {0, 0};
    printf("select on an empty queue: %d\n", select(q + 1, &rs, NULL, NULL, &tv));
    mq_send(q, "ready", 5, 0);
    FD_ZERO(&rs);
    FD_SET(q, &rs);
    printf("select with a message: %d, readable: %s\n", select(q + 1, &rs, NULL, NULL, &tv),
           FD_ISSET(q, &rs) ? "yes" : "no");
    mq_receive(q, buf, sizeof buf, NULL);

    /* mq_notify: a signal when a message reaches the empty queue, once */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_notify;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    printf("mq_notify: %s\n", res(mq_notify(q, &ev)));
    printf("mq_notify again: %s\n", res(mq_notify(q, &ev)));
    mq_send(q, "one", 3, 0);
    mq_send(q, "two", 3, 0);
    printf("notified %d time(s), si_code SI_MESGQ: %s\n", (int)notified, notified_code == SI_MESGQ ? "yes" : "no");
    mq_receive(q, buf, sizeof buf, NULL);
    mq_receive(q, buf, sizeof buf, NULL);
    mq_send(q, "three", 5, 0);
    printf("after the notification, registration gone: %d\n", (int)notified);
    mq_getattr(q, &got);
    printf("curmsgs: %ld\n", got.mq_curmsgs);

    mqd_t ro = mq_open(name, O_RDONLY);
    printf("send on a read-only descriptor: %s\n", res(mq_send(ro, "x", 1, 0)));
    mq_close(ro);
    printf("unlink: %s\n", res(mq_unlink(name)));
    printf("unlink again: %s\n", res(mq_unlink(name)));
    printf("open after unlink: %s\n", res(mq_open(name, O_RDWR)));
    n = mq_receive(q, buf, sizeof buf, NULL);
    printf("the open descriptor still works: %.*s\n", (int)n, buf);
    mq_close(q);
    printf("done\n");
    return 0;
}
