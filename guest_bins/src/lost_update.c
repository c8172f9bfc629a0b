/* lost_update [NTHREADS] [ITERS]: NTHREADS threads each increment one shared
 * counter ITERS times, three ways: a lock-prefixed atomic add, under a
 * pthread mutex, and under a hand-written xchg spinlock.  Every total must be
 * exactly NTHREADS*ITERS; only the totals are printed.  Exits 1 if any count
 * differs (an emulator that does not make the read-modify-write atomic, or
 * does not run the threads with a consistent view of memory, loses updates). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXT 64

static int nthreads = 4;
static long iters = 100000;

static long counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int spin;
static pthread_barrier_t go;

static void spin_lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
        int n = 0;
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
            if (++n >= 64) { /* the holder may be preempted: let it run */
                sched_yield();
                n = 0;
            }
        }
    }
}

static void spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

static void *atomic_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    for (long i = 0; i < iters; i++)
        __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST); /* lock add */
    return NULL;
}

static void *mutex_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    for (long i = 0; i < iters; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *spin_thread(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    for (long i = 0; i < iters; i++) {
        spin_lock(&spin);
        counter++;
        spin_unlock(&spin);
    }
    return NULL;
}

static long run(const char *name, void *(*fn)(void *))
{
    pthread_t t[MAXT];
    counter = 0;
    if (pthread_barrier_init(&go, NULL, nthreads)) {
        printf("lost_update: FAIL: pthread_barrier_init\n");
        exit(1);
    }
    for (int i = 0; i < nthreads; i++) {
        int r = pthread_create(&t[i], NULL, fn, NULL);
        if (r) {
            printf("lost_update: FAIL: pthread_create (%s): %s\n", name, strerror(r));
            exit(1);
        }
    }
    for (int i = 0; i < nthreads; i++) {
        /* Generous bound (60 s) so a hang under a slow emulator still ends. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        int r = pthread_timedjoin_np(t[i], NULL, &ts);
        if (r) {
            printf("lost_update: FAIL: join (%s): %s\n", name,
                   r == ETIMEDOUT ? "timed out" : strerror(r));
            fflush(stdout);
            exit(1);
        }
    }
    pthread_barrier_destroy(&go);
    long want = (long)nthreads * iters;
    printf("%s: %ld/%ld\n", name, counter, want);
    return counter == want;
}

static long arg(const char *s, long lo, long hi, const char *what)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) {
        fprintf(stderr, "usage: lost_update [NTHREADS 1..%d] [ITERS >= 1]\n", MAXT);
        fprintf(stderr, "lost_update: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nthreads = (int)arg(argv[1], 1, MAXT, "NTHREADS");
    if (argc > 2)
        iters = arg(argv[2], 1, 1000000000L, "ITERS");
    printf("threads: %d, iterations each: %ld\n", nthreads, iters);
    int ok = run("atomic", atomic_thread);
    ok &= run("mutex", mutex_thread);
    ok &= run("spinlock", spin_thread);
    printf("no lost update: %s\n", ok ? "yes" : "no");
    return ok ? 0 : 1;
}
