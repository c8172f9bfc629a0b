/* thread_exit: the ways a thread (and the main thread) can end.
 *
 * 1. A thread ends with pthread_exit(value) from a nested call: its cleanup
 *    handler and TLS key destructor run, and join returns the value.
 * 2. A thread returns a value from its start routine; join returns it.
 * 3. Main calls pthread_exit while a worker is still running.  The worker
 *    waits on a semaphore that main posts right before pthread_exit (so the
 *    order of the output is fixed), joins the main thread, prints the last
 *    line "last thread done" and returns; the C library then ends the
 *    process with exit(0) because the last thread has gone.
 * Joins rely on the kernel clearing the thread id at exit (CLONE_CHILD_CLEARTID
 * / set_tid_address) and waking the futex.  All waits are bounded (10 s). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIMIT_S 10

static void fail(const char *what)
{
    printf("thread_exit: FAIL: %s\n", what);
    fflush(stdout);
    exit(1);
}

static void limit(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += LIMIT_S;
}

static void *join(pthread_t t, const char *what)
{
    struct timespec ts;
    void *ret = NULL;
    limit(&ts);
    int r = pthread_timedjoin_np(t, &ret, &ts);
    if (r) {
        printf("thread_exit: FAIL: join (%s): %s\n", what,
               r == ETIMEDOUT ? "timed out" : strerror(r));
        fflush(stdout);
        exit(1);
    }
    return ret;
}

/* ---- 1. pthread_exit with a value ------------------------------------- */

static int cleanup_ran, destructor_ran, after_exit_ran;
static pthread_key_t key;
static int key_value = 5;

static void cleanup(void *arg) { cleanup_ran = *(int *)arg; }
static void destructor(void *p) { destructor_ran = *(int *)p; }

/* pthread_exit from a few frames down: unwinds through them to the handler.
 * Called through a pointer so gcc does not see a noreturn leaf and warn about
 * infinite recursion. */
static void (*volatile exit_fn)(void *) = pthread_exit;

static __attribute__((noinline)) void deep_exit(int depth)
{
    if (depth > 0)
        deep_exit(depth - 1);
    else
        exit_fn((void *)(intptr_t)0x5eed);
}

static void *exiting_thread(void *arg)
{
    static int cleanup_arg = 7;
    (void)arg;
    pthread_setspecific(key, &key_value);
    pthread_cleanup_push(cleanup, &cleanup_arg);
    deep_exit(3);
    after_exit_ran = 1;
    pthread_cleanup_pop(0);
    return NULL;
}

/* ---- 2. return from the start routine --------------------------------- */

static void *returning_thread(void *arg) { return (void *)((intptr_t)arg + 1); }

/* ---- 3. main exits first ---------------------------------------------- */

static sem_t main_leaving;
static pthread_t main_thread;

static void *last_thread(void *arg)
{
    struct timespec ts;
    int r;
    (void)arg;
    limit(&ts);
    while ((r = sem_timedwait(&main_leaving, &ts)) != 0 && errno == EINTR)
        ;
    if (r)
        fail("worker: sem_timedwait for main failed or timed out");
    /* Main is in (or past) pthread_exit: joining it waits for the kernel to
     * clear its thread id. */
    void *ret = join(main_thread, "main thread");
    if (ret != (void *)(intptr_t)0x3a1)
        fail("worker: main thread's pthread_exit value");
    printf("worker: main thread joined, value 0x%lx ok\n", (long)(intptr_t)ret);
    printf("worker: pid unchanged: %s\n", getpid() == (pid_t)(intptr_t)arg ? "yes" : "no");
    printf("last thread done\n");
    return NULL; /* last thread gone: the C library calls exit(0) */
}

int main(void)
{
    pthread_t t;
    if (pthread_key_create(&key, destructor))
        fail("pthread_key_create");
    if (pthread_create(&t, NULL, exiting_thread, NULL))
        fail("pthread_create (exiting)");
    void *ret = join(t, "pthread_exit thread");
    if (ret != (void *)(intptr_t)0x5eed)
        fail("pthread_exit value");
    printf("pthread_exit value: 0x%lx ok\n", (long)(intptr_t)ret);
    if (after_exit_ran)
        fail("code after pthread_exit ran");
    printf("cleanup handler ran: %s\n", cleanup_ran == 7 ? "yes" : "no");
    printf("key destructor ran: %s\n", destructor_ran == 5 ? "yes" : "no");
    if (cleanup_ran != 7 || destructor_ran != 5)
        fail("cleanup handler or key destructor");

    if (pthread_create(&t, NULL, returning_thread, (void *)(intptr_t)41))
        fail("pthread_create (returning)");
    ret = join(t, "returning thread");
    if (ret != (void *)(intptr_t)42)
        fail("start routine return value");
    printf("return value: %ld ok\n", (long)(intptr_t)ret);

    if (sem_init(&main_leaving, 0, 0))
        fail("sem_init");
    main_thread = pthread_self();
    if (pthread_create(&t, NULL, last_thread, (void *)(intptr_t)getpid()))
        fail("pthread_create (last)");
    printf("main: calling pthread_exit\n");
    fflush(stdout);
    sem_post(&main_leaving);
    pthread_exit((void *)(intptr_t)0x3a1);
}
