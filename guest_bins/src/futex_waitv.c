/* futex_waitv(2) (Linux 5.16): wait on several futex words at once; the
 * call returns the index of the one that was woken.  The guest program of
 * teaching lab 3 (docs/labs/lab3-add-a-syscall.md), which adds this call
 * to azemu: before it, every line but the first says ENOSYS.  Deterministic
 * output, compared with the same binary run natively. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAKE_PRIVATE (1 | 128)

struct futex_waitv {            /* <linux/futex.h>; musl has no kernel headers */
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t __reserved;
};

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128
#endif

static uint32_t words[3];

static long waitv(struct futex_waitv *w, unsigned n, unsigned flags,
                  struct timespec *timeout, clockid_t clock)
{
    return syscall(SYS_futex_waitv, w, n, flags, timeout, clock);
}

static const char *errname(int e)
{
    switch (e) {
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOSYS: return "ENOSYS";
    default: return strerror(e);
    }
}

static void report(const char *what, long r)
{
    if (r < 0)
        printf("%-34s -1 %s\n", what, errname(errno));
    else
        printf("%-34s %ld\n", what, r);
}

static void set(struct futex_waitv *w)
{
    memset(w, 0, 3 * sizeof *w);
    for (int i = 0; i < 3; i++) {
        w[i].uaddr = (uintptr_t)&words[i];
        w[i].val = words[i];
        w[i].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
    }
}

static void *waker(void *arg)
{
    int i = *(int *)arg;
    usleep(200 * 1000);         /* long enough for the waiter to be asleep */
    __atomic_store_n(&words[i], 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &words[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

static struct timespec in_ms(clockid_t clock, int ms)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_nsec += ms * 1000000L;
    t.tv_sec += t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

int main(void)
{
    struct futex_waitv w[3];
    struct timespec t;

    set(w);
    report("flags 1", waitv(w, 3, 1, NULL, 0));
    report("no waiters", waitv(w, 0, 0, NULL, 0));
    report("129 waiters", waitv(w, 129, 0, NULL, 0));
    report("NULL array", waitv(NULL, 3, 0, NULL, 0));
    report("bad array", waitv((void *)16, 3, 0, NULL, 0));
    set(w); w[1].flags = FUTEX2_PRIVATE;                 /* no size */
    report("a waiter without a size", waitv(w, 3, 0, NULL, 0));
    set(w); w[2].__reserved = 1;
    report("reserved not 0", waitv(w, 3, 0, NULL, 0));
    set(w); w[0].uaddr += 1;
    report("unaligned word", waitv(w, 3, 0, NULL, 0));
    set(w); w[2].val = 7;                                /* *word is 0 */
    report("a word changed: EAGAIN", waitv(w, 3, 0, NULL, 0));
    set(w); t = in_ms(CLOCK_MONOTONIC, 20);
    report("bad clock", waitv(w, 3, 0, &t, CLOCK_PROCESS_CPUTIME_ID));
    set(w); t = in_ms(CLOCK_MONOTONIC, 20);
    report("20 ms, CLOCK_MONOTONIC", waitv(w, 3, 0, &t, CLOCK_MONOTONIC));
    set(w); t = in_ms(CLOCK_REALTIME, 20);
    report("20 ms, CLOCK_REALTIME", waitv(w, 3, 0, &t, CLOCK_REALTIME));

    for (int i = 2; i >= 1; i--) {                        /* woken: the index */
        pthread_t th;
        char what[40];
        set(w);
        pthread_create(&th, NULL, waker, &i);
        snprintf(what, sizeof what, "word %d woken by a thread", i);
        report(what, waitv(w, 3, 0, NULL, 0));
        pthread_join(th, NULL);
    }
    return 0;
}
